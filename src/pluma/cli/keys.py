"""``pluma keys set|clear <profile>``: API keys in the secret store.

``set`` prompts without echo on a terminal and reads one line from stdin
otherwise (``echo "$KEY" | pluma keys set work``), so a key never has to be
typed on a command line (where shell history and ``ps`` would see it).
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import typer

from pluma.cli.common import DataDirOption, SecretsOption, fail, open_manager, run, settings_for

keys_app = typer.Typer(help="Manage API keys of connection profiles.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")


@keys_app.command("set")
def set_(
    profile: str = typer.Argument(..., help="Connection name or id."),
    data_dir: Path = DataDirOption,
    secrets: str = SecretsOption,
) -> None:
    """Set the API key of a connection (prompted, not echoed)."""
    cm = open_manager(settings_for(data_dir, secrets))
    target = run(lambda: cm.lookup(profile))
    if sys.stdin.isatty():
        key = getpass.getpass(f"API key for {target.name!r} (not echoed): ")
    else:
        key = sys.stdin.readline()
    key = key.strip()
    if not key:
        raise fail("no key given; nothing changed", 2)
    run(lambda: cm.set_key(target.id, key))
    typer.echo(f"key for {target.name!r} saved in {cm.secrets.backend}")


@keys_app.command()
def clear(
    profile: str = typer.Argument(..., help="Connection name or id."),
    data_dir: Path = DataDirOption,
    secrets: str = SecretsOption,
) -> None:
    """Remove the API key of a connection."""
    cm = open_manager(settings_for(data_dir, secrets))
    target = run(lambda: cm.lookup(profile))
    run(lambda: cm.set_key(target.id, None))
    typer.echo(f"key for {target.name!r} removed")
