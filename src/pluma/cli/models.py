"""``pluma models``: the models the active (or a named) connection offers."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import typer

from pluma.cli.common import (
    DataDirOption,
    SecretsOption,
    check_connection,
    fail,
    open_manager,
    settings_for,
)


def register(app: typer.Typer) -> None:
    app.command()(models)


def models(
    connection: str = typer.Option(None, "--connection", "-c", help="Connection name or id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    data_dir: Path = DataDirOption,
    secrets: str = SecretsOption,
) -> None:
    """List the models of the active connection (or --connection)."""
    cm = open_manager(settings_for(data_dir, secrets))
    _, verdict = check_connection(cm, connection, timeout=30.0)
    if not verdict.ok:
        raise fail(verdict.message)
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(m) for m in verdict.models], indent=2))
        return
    for m in verdict.models:
        typer.echo(m.id if not m.display or m.display == m.id else f"{m.id}  ({m.display})")
