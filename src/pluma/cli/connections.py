"""``pluma connections list|add|remove|activate|test``.

These work on the data directory directly (no server needed). A running
server sees the changes: the store is locked across processes and the
server re-reads ``connections.json`` when it changes on disk. Keys set here
go to the same secret store the server uses (see ``pluma keys``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from pluma.cli.common import (
    DataDirOption,
    SecretsOption,
    check_connection,
    fail,
    open_manager,
    run,
    settings_for,
)

connections_app = typer.Typer(help="Manage chat connection profiles.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(connections_app, name="connections")


def _row(cm: Any, profile: Any, active_id: str | None) -> dict[str, Any]:
    row: dict[str, Any] = cm.describe(profile, active_id)
    return row


@connections_app.command("list")
def list_(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    data_dir: Path = DataDirOption,
    secrets: str = SecretsOption,
) -> None:
    """List the connection profiles (* marks the active one)."""
    cm = open_manager(settings_for(data_dir, secrets))

    def rows() -> list[dict[str, Any]]:
        active = cm.active()
        profiles = cm.list() or ([active] if active is not None else [])
        return [_row(cm, p, active.id if active else None) for p in profiles]

    found = run(rows)
    for problem in cm.problems:
        typer.echo(f"warning: {problem}", err=True)
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    if not found:
        typer.echo("no connections; add one with `pluma connections add NAME --base-url URL`")
        return
    for r in found:
        mark = "*" if r["active"] else " "
        key = "key set" if r["has_key"] else "no key"
        model = f"  model {r['default_model']}" if r["default_model"] else ""
        extra = "  (fallback from --base-url)" if r["fallback"] else ""
        typer.echo(
            f"{mark} {r['name']}  [{r['compat']}]  {r['base_url']}  {key}{model}  id {r['id']}{extra}"
        )


@connections_app.command()
def add(
    name: str = typer.Argument(..., help="Unique name; clients address models as NAME/MODEL."),
    base_url: str = typer.Option(
        ..., "--base-url", help="Upstream API root, e.g. http://127.0.0.1:11434/v1."
    ),
    compat: str = typer.Option(
        "openai", "--compat", help="Provider kind (see GET /api/providers)."
    ),
    model: str = typer.Option("", "--model", help="Default model."),
    header: list[str] = typer.Option(
        None, "--header", help="Extra header 'Name: value' (repeatable)."
    ),
    api_key_stdin: bool = typer.Option(
        False, "--api-key-stdin", help="Read the API key from stdin."
    ),
    activate: bool = typer.Option(False, "--activate", help="Make it the active connection."),
    data_dir: Path = DataDirOption,
    secrets: str = SecretsOption,
) -> None:
    """Add a connection profile."""
    headers: dict[str, str] = {}
    for item in header or []:
        key, sep, value = item.partition(":")
        if not sep or not key.strip():
            raise fail(f"--header {item!r} is not 'Name: value'", 2)
        headers[key.strip()] = value.strip()
    api_key = _read_key_stdin() if api_key_stdin else None
    cm = open_manager(settings_for(data_dir, secrets))
    profile = run(
        lambda: cm.create(
            name=name,
            base_url=base_url,
            compat=compat,
            default_model=model,
            headers=headers,
            api_key=api_key,
            activate=activate,
        )
    )
    active = cm.active_id == profile.id
    typer.echo(f"added {profile.name!r} (id {profile.id}){' — active' if active else ''}")


@connections_app.command()
def remove(
    ref: str = typer.Argument(..., help="Name or id."),
    data_dir: Path = DataDirOption,
    secrets: str = SecretsOption,
) -> None:
    """Remove a connection profile and its key."""
    cm = open_manager(settings_for(data_dir, secrets))
    profile = run(lambda: cm.lookup(ref))
    run(lambda: cm.delete(profile.id))
    typer.echo(f"removed {profile.name!r} and its key")


@connections_app.command()
def activate(
    ref: str = typer.Argument(..., help="Name or id."),
    data_dir: Path = DataDirOption,
    secrets: str = SecretsOption,
) -> None:
    """Make a connection the active one."""
    cm = open_manager(settings_for(data_dir, secrets))
    profile = run(lambda: cm.activate(cm.lookup(ref).id))
    typer.echo(f"{profile.name!r} is now the active connection")


@connections_app.command()
def test(
    ref: str = typer.Argument(None, help="Name or id (default: the active one)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    data_dir: Path = DataDirOption,
    secrets: str = SecretsOption,
) -> None:
    """Check that a connection answers and accepts its key (exit 1 if not)."""
    cm = open_manager(settings_for(data_dir, secrets))
    profile, verdict = check_connection(cm, ref)
    if as_json:
        typer.echo(json.dumps({"connection": profile.name, **verdict.as_json()}, indent=2))
    else:
        typer.echo(f"{profile.name}: {verdict.verdict} — {verdict.message}")
    if not verdict.ok:
        raise typer.Exit(1)


def _read_key_stdin() -> str:
    key = sys.stdin.readline().strip()
    if not key:
        raise fail("no API key on stdin", 2)
    return key
