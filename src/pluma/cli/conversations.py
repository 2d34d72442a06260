"""``pluma conversations search|export|import``: the page's history from the
shell, on the data dir (or ``PLUMA_DATABASE_URL``) the server uses; safe
while it runs.

``export`` writes the same files as the page's Export (JSON: lossless and
read back by ``import``; Markdown: for reading), to a file or standard
output. ``import`` reads an export's JSON under new ids (importing twice
makes copies) with the checks the server applies, but without the HTTP body
limits, so it is also the way in for files too big to upload.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
import typer

from pluma.cli.common import DataDirOption, SecretsOption, fail, open_services, settings_for

conversations_app = typer.Typer(
    help="Search, export and import the chat history.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(conversations_app, name="conversations")


def _store(data_dir: Path | None, secrets: str | None) -> Any:
    services = open_services(settings_for(data_dir, secrets))
    store = services.conversations
    if store is None:
        raise fail("; ".join(services.problems) or "the conversation store did not open")
    return store


@conversations_app.command("search")
def search_(
    query: str = typer.Argument(..., help="Words to find in titles and messages."),
    data_dir: Path = DataDirOption,
    secrets: str = SecretsOption,
) -> None:
    """List the conversations matching the words (id, title, snippet)."""
    from pluma.server.errors import PlumaError

    store = _store(data_dir, secrets)
    try:
        hits = store.search(query)
    except PlumaError as exc:
        raise fail(str(exc)) from None
    for hit in hits:
        snippet = "".join(f"[{t}]" if matched else t for t, matched in hit.snippet)
        typer.echo(f"{hit.summary.id}  {hit.summary.title or '(untitled)'}\n    {snippet}")
    if not hits:
        typer.echo("no conversation matches", err=True)


@conversations_app.command("export")
def export(
    ids: list[str] = typer.Argument(None, help="Conversation ids (default: all of them)."),
    fmt: str = typer.Option("json", "--format", "-f", help="json (lossless) or markdown."),
    output: Path = typer.Option(None, "--output", "-o", help="File to write (default: stdout)."),
    data_dir: Path = DataDirOption,
    secrets: str = SecretsOption,
) -> None:
    """Write conversations as JSON (what import reads) or Markdown."""
    from pluma.server.storage import transfer
    from pluma.server.storage.conversations import ConversationNotFound

    if fmt not in ("json", "markdown"):
        raise fail(f"--format must be json or markdown, not {fmt!r}", 2)
    store = _store(data_dir, secrets)
    wanted = ids or [s.id for s in store.list()]
    try:
        items = [transfer.Portable(store.get(i), store.title_is_auto(i)) for i in wanted]
    except ConversationNotFound as exc:
        raise fail(str(exc)) from None
    if fmt == "json":
        data = transfer.to_json_bytes(items)
    else:
        data = transfer.to_markdown([item.conversation for item in items]).encode()
    if output is None:
        sys.stdout.buffer.write(data)
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror or exc}") from None
    typer.echo(f"exported {len(items)} conversation(s) to {output}", err=True)


@conversations_app.command("import")
def import_(
    source: Path = typer.Argument(..., help="A JSON file made by export ('-': stdin)."),
    data_dir: Path = DataDirOption,
    secrets: str = SecretsOption,
) -> None:
    """Add the conversations of an export's JSON, each under a new id."""
    from pluma.server.errors import InvalidRequest
    from pluma.server.storage import transfer

    try:
        raw = sys.stdin.buffer.read() if str(source) == "-" else source.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {source}: {exc.strerror or exc}") from None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise fail(f"{source} is not JSON ({exc}); import takes a file made by export") from None
    try:
        items = transfer.parse(doc, max_messages=sys.maxsize)
    except InvalidRequest as exc:
        raise fail(f"{source}: {exc}") from None
    store = _store(data_dir, secrets)
    for item in items:
        item.conversation.summary.id = store.new_id()
        summary = store.insert(item.conversation, title_is_auto=item.title_is_auto)
        typer.echo(f"{summary.id}  {summary.title or '(untitled)'}")
    typer.echo(f"imported {len(items)} conversation(s) from {source}", err=True)
