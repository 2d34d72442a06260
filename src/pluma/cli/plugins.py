"""``pluma plugins``: the subprocess plugins under ``<datadir>/plugins`` and
the Python packages that extend Pluma through entry points.

* ``pluma plugins list`` starts each plugin as a server would (handshake,
  health, ``Describe``), stops it again and prints name, axis, path,
  version and state (``running`` = came up, ``failed`` with the reason); with
  ``--url`` it asks a running server instead (its live states, including
  ``restarting``). Entry-point problems are listed below.
* ``pluma plugins check PATH`` runs one executable's handshake and
  ``Describe`` and says exactly what is wrong.

``pluma providers`` lists the plugins beside the built-in compats through
:func:`describe_plugins` (the same start-describe-stop as ``list``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

import typer

from pluma.cli.common import DataDirOption, fail, settings_for

plugins_app = typer.Typer(help="Provider plugins: list them, check one.", no_args_is_help=True)


def _rows_offline(data_dir: Path) -> list[dict[str, Any]]:
    from pluma.server.plugins import PluginHost

    async def run() -> list[dict[str, Any]]:
        host = PluginHost(data_dir)
        await host.start()
        rows = host.listing()
        await host.stop()
        return rows

    return asyncio.run(run())


def describe_plugins(data_dir: Path) -> tuple[list[str], list[str]]:
    """One line per subprocess plugin for ``pluma providers``, chat then
    image: each is started as a server would (handshake, health,
    ``Describe``) and stopped again, so the line says what it registers,
    its display name and version, or why it could not be described."""
    from pluma.server.plugins.discovery import scan

    if not scan(data_dir):
        return [], []  # nothing to start: no certificate, no processes
    # Each line says why a plugin failed, quoting its stderr: the host's own
    # log lines would only repeat it.
    log = logging.getLogger("pluma.plugins")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        rows = _rows_offline(data_dir)
    finally:
        log.setLevel(level)
    lines: dict[str, list[str]] = {"chat": [], "image": []}
    for row in rows:
        if row.get("key") and row["state"] == "running":
            what = f"{row['axis']} plugin {row['display_name']!r} v{row['version'] or '?'}"
            lines[row["axis"]].append(f"{row['key']:<20} ({what}, works: {row['path']})")
        else:
            why = row.get("reason") or row["state"]
            lines[row["axis"]].append(
                f"{row['name']:<20} ({row['axis']} plugin, failed, not described: {why}; "
                f"{row['path']})"
            )
    return lines["chat"], lines["image"]


def _rows_online(url: str) -> list[dict[str, Any]]:
    import httpx

    token = os.environ.get("PLUMA_TOKEN")
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(url.rstrip("/") + "/api/plugins", headers=headers, timeout=10)
    except httpx.TransportError as exc:
        raise fail(f"no Pluma server answers at {url}: {exc}") from None
    if response.status_code != 200:
        raise fail(f"{url} answered {response.status_code}: {response.text[:200]}")
    rows: list[dict[str, Any]] = response.json()["plugins"]
    return rows


@plugins_app.command("list")
def list_plugins(
    data_dir: Path | None = DataDirOption,
    url: str | None = typer.Option(None, "--url", help="Ask the server at this URL instead."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Plugins with their axis, path, version and state."""
    from pluma.extensions import load_all

    settings = settings_for(data_dir, None)
    rows = _rows_online(url) if url else _rows_offline(settings.data_dir)
    problems = load_all()
    if as_json:
        typer.echo(json.dumps({"plugins": rows, "entry_point_problems": problems}, indent=2))
        return
    if not rows:
        typer.echo(f"no plugins in {settings.data_dir / 'plugins'}/{{chat,image}}/")
    for row in rows:
        head = f"{row['name']:<20} {row['axis']:<6} {row['state']:<10}"
        what = f"{row['key']} v{row['version'] or '?'}" if row.get("key") else "-"
        typer.echo(f"{head} {what:<24} {row['path']}")
        if row.get("reason"):
            typer.echo(f"    {row['reason']}")
    for problem in problems:
        typer.echo(f"entry point: {problem}")


@plugins_app.command("check")
def check_plugin(
    path: Path = typer.Argument(..., help="The plugin executable."),
    axis: str | None = typer.Option(None, "--axis", help="chat or image (default: guessed)."),
) -> None:
    """Run a plugin's handshake and Describe; say exactly what is wrong."""
    from pluma.server.plugins.check import check, guess_axis

    if axis not in (None, "chat", "image"):
        raise fail("--axis must be chat or image", 2)
    verdict = asyncio.run(check(path.resolve(), axis or guess_axis(path.resolve())))  # type: ignore[arg-type]
    for step in verdict.steps:
        typer.echo(f"{'ok ' if step.ok else 'FAIL'} {step.name:<12} {step.detail}")
    if not verdict.ok:
        raise typer.Exit(1)
    typer.echo(f"{path} is a working Pluma {verdict.axis} plugin")


def register(app: typer.Typer) -> None:
    app.add_typer(plugins_app, name="plugins")
