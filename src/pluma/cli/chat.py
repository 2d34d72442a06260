"""``pluma chat "prompt"``: one chat turn from the terminal, streamed as it
arrives, through the same providers and event model as the server (no server
needs to run).

| stream part   | where it goes                                              |
|---------------|------------------------------------------------------------|
| answer text   | stdout, as it streams (so ``pluma chat … > file`` keeps it) |
| reasoning     | stderr, dimmed (rich)                                      |
| tool calls    | stderr, one line each                                      |
| answer cut    | stderr ``pluma: the answer was cut …`` (max tokens), exit code 3 |
| failure       | stderr ``pluma: <what happened>``, exit code 1; a content  |
|               | filter or refusal that stopped the answer is a failure, and |
|               | when text was printed the note says it is incomplete       |
| Ctrl-C        | the upstream request is cancelled, exit code 130           |

Exit codes: 0 the whole answer, 1 failure, 2 a bad option, 3 the answer
stopped at the token limit (stdout holds the part that came: a script piping
``pluma chat`` into a file learns from the status that the file is cut).

The connection is the active one, ``--connection NAME``, or the prefix of
``--model <connection>/<model id>`` (as on the HTTP API).
"""

from __future__ import annotations

import asyncio
import json
import sys
import typing
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pluma.cli.common import DataDirOption, SecretsOption, fail, open_services, settings_for

if TYPE_CHECKING:
    from pluma.server.chat import ChatRequest
    from pluma.server.services import Services

EXIT_CUT = 3
"""``pluma chat``'s exit status when the answer stopped at the token limit."""


def register(app: typer.Typer) -> None:
    app.command()(chat)


def chat(
    prompt: str = typer.Argument(..., help="What to say to the model."),
    connection: str = typer.Option(None, "--connection", "-c", help="Connection name or id."),
    model: str = typer.Option(
        None,
        "--model",
        "-m",
        help="Model id, or <connection>/<model id> (default: the connection's).",
    ),
    system: str = typer.Option(None, "--system", "-s", help="System prompt."),
    reasoning: str = typer.Option(
        None, "--reasoning", help="Reasoning effort: off, minimal, low, medium, high, xhigh."
    ),
    max_tokens: int = typer.Option(None, "--max-tokens", help="Longest answer, in tokens."),
    data_dir: Path = DataDirOption,
    secrets: str = SecretsOption,
) -> None:
    """Send one prompt and stream the answer to the terminal."""
    from pluma import llm
    from pluma.server.chat import ChatRequest

    levels: tuple[str, ...] = typing.get_args(llm.ReasoningLevel)
    reasoning = "off" if reasoning == "none" else reasoning
    if reasoning is not None and reasoning not in levels:
        raise fail(f"--reasoning: expected one of {', '.join(levels)}, got {reasoning!r}", 2)
    level = typing.cast(llm.ReasoningLevel | None, reasoning)
    if max_tokens is not None and max_tokens <= 0:
        raise fail("--max-tokens must be a positive number", 2)
    services = open_services(settings_for(data_dir, secrets))
    request = ChatRequest(
        model=model or "",
        context=llm.Context(system_prompt=system or None, messages=[llm.UserMessage(prompt)]),
        max_tokens=max_tokens,
        reasoning=level,
    )
    try:
        code = asyncio.run(_stream(services, request, connection))
    except KeyboardInterrupt:
        typer.echo("", err=True)
        raise typer.Exit(130) from None
    raise typer.Exit(code)


async def _stream(services: Services, request: ChatRequest, connection: str | None) -> int:
    from rich.console import Console

    from pluma import llm
    from pluma.server.chat import open_chat
    from pluma.server.errors import as_error

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    out = sys.stdout
    async with services.http:  # this loop's client, closed with it
        try:
            stream = await open_chat(services.connections, services.http, request, connection)
        except Exception as exc:
            err.print(f"pluma: {as_error(exc)}", style="red", markup=False)
            return 1
        last = ""  # which stream part printed last, to break lines between them
        async with stream:
            async for event in stream:
                kind = event.type
                if kind == "thinking_delta":
                    err.print(event.delta, style="dim", end="", markup=False)
                    last = "thinking"
                elif kind == "text_delta":
                    if last == "thinking":
                        err.print()
                    out.write(event.delta)
                    out.flush()
                    last = "text"
                elif kind == "toolcall_end" and event.tool_call is not None:
                    if last:
                        err.print()
                    call = event.tool_call
                    err.print(
                        f"[tool call] {call.name}({json.dumps(call.arguments)})",
                        style="cyan",
                        markup=False,
                    )
                    last = ""
                elif kind == "done":
                    if last == "text":
                        out.write("\n")
                    elif last == "thinking":
                        err.print()
                    out.flush()
                    if event.message is not None and event.message.stop_reason == "length":
                        err.print(f"pluma: {_cut_note(request)}", style="yellow", markup=False)
                        return EXIT_CUT
                    return 0
                elif kind == "error":
                    if last == "text":
                        out.write("\n")
                        out.flush()
                    message = event.message.error_message if event.message else None
                    if isinstance(event.error, llm.ProviderError):
                        # The server's wording: a rejected key names `pluma keys set
                        # NAME`, a 404 the URL tried and the likely base-URL fix.
                        message = str(as_error(event.error))
                    note = message or "the stream failed"
                    if last == "text":
                        note = f"the answer above is incomplete: {note}"
                    err.print(f"pluma: {note}", style="red", markup=False)
                    return 1
    return 1


def _cut_note(request: ChatRequest) -> str:
    limit = request.max_tokens
    if limit:
        return (
            f"the answer was cut: it reached the limit of {limit} tokens (--max-tokens); "
            "ask again with a larger --max-tokens"
        )
    return (
        "the answer was cut: it reached the model's token limit; "
        "ask again with a larger --max-tokens or for a shorter answer"
    )
