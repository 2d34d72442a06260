"""``pluma models``: the models the active (or a named) connection offers."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import typer

from pluma.cli.common import DataDirOption, SecretsOption, fail, open_manager, run, settings_for


def register(app: typer.Typer) -> None:
    app.command()(models)


def models(
    connection: str = typer.Option(None, "--connection", "-c", help="Connection name or id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    data_dir: Path = DataDirOption,
    secrets: str = SecretsOption,
) -> None:
    """List the models of the active connection (or --connection)."""
    import httpx

    from pluma.server.upstream import check_upstream

    cm = open_manager(settings_for(data_dir, secrets))

    async def go() -> Any:
        async with httpx.AsyncClient(timeout=httpx.Timeout(None)) as http:
            provider = cm.provider_for(connection, http)
            profile = cm.lookup(connection) if connection else cm.active()
            key = cm.resolve(profile).api_key
            return await check_upstream(provider, key=key, timeout=30.0)

    verdict = run(lambda: asyncio.run(go()))
    if not verdict.ok:
        raise fail(verdict.message)
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(m) for m in verdict.models], indent=2))
        return
    for m in verdict.models:
        typer.echo(m.id if not m.display or m.display == m.id else f"{m.id}  ({m.display})")
