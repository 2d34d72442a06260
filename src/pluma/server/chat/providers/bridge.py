"""The bridge between the two provider contracts, both directions in one place.

``events_for`` is the one way the server gets neutral events from any provider;
``lines_for`` is its inverse, the seed contract's lines made from events (what
an event-speaking provider's ``stream_chat`` returns), so no provider imports
an edge encoder itself.

| provider kind                   | how events are made                                   |
|---------------------------------|-------------------------------------------------------|
| :class:`EventProvider`          | its own ``stream_events`` (nothing lost: signatures, cache usage) |
| plain seed-contract ``Provider``| its ``stream_chat`` lines, parsed by the openai-completions |
|                                 | :class:`ChunkParser` (the same parser the adapter uses) |

So every edge codec sees one event model whatever the provider, and no path
translates one vendor's wire format straight into another's.

Lines from a plain provider are read leniently, like an SSE stream: each item
may hold several lines (``"data: {…}\\n\\n"``); ``data:`` payloads are parsed,
blank lines, comments and ``event:``/``id:`` fields are skipped, and a line
without a field name is taken as a bare payload. The provider raising becomes
the terminal error event, keeping what was already assembled; leaving the
stream early closes the provider's generator (which cancels its upstream call).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import TypeGuard

from pluma import llm
from pluma.server.chat.providers.base import ChatRequest, EventProvider, Provider, refuse_extra

LINE_PROTOCOL = "openai-completions"


_EVENT_CLASSES: set[type] = set()
"""Provider classes known to implement :class:`EventProvider`. A
``runtime_checkable`` isinstance walks every protocol member on each call
(tens of microseconds per request); a class that has every member itself
keeps that answer, so it is asked once. Anything else (members set on the
instance, plain providers) is checked in full every time."""


def _speaks_events(provider: Provider) -> TypeGuard[EventProvider]:
    cls = type(provider)
    if cls in _EVENT_CLASSES:
        return True
    if not isinstance(provider, EventProvider):
        return False
    if all(
        hasattr(cls, name)
        for name in ("id", "upstream", "list_models", "stream_chat", "stream_events")
    ):
        _EVENT_CLASSES.add(cls)
    return True


def events_for(
    provider: Provider, request: ChatRequest, secrets: tuple[str, ...] = ()
) -> llm.EventStream:
    """Neutral events from ``provider``. ``secrets`` (the connection's key and
    credential header values, :func:`pluma.llm.redact.secrets_of`) are masked out
    of the error that ends a plain provider's stream, as the adapters do for
    their own: a provider may quote what its upstream said about the key.
    An event-speaking provider masks its own."""
    if _speaks_events(provider):
        return provider.stream_events(request)
    # A plain provider takes the neutral request only: unmodelled client
    # fields could not reach its upstream, so they are refused, not dropped.
    refuse_extra(
        request, f"whatever provider {provider.id!r} speaks (it takes the neutral request)"
    )
    model = llm.Model(
        id=request.model, provider=provider.id, protocol=LINE_PROTOCOL, base_url=provider.upstream
    )
    return llm.EventStream(_from_lines(provider, request, model, secrets), model)


async def lines_for(stream: llm.EventStream, model: str) -> AsyncGenerator[str, None]:
    """The seed contract's lines for ``stream``: ``data: {chunk}`` lines in the
    OpenAI chunk format, then ``data: [DONE]``, encoded by the same codec the
    ``/v1/chat/completions`` route uses, so the two paths can never disagree.
    A failure raises :class:`llm.ProviderError` (or the stream's own
    ``LLMError``) after the lines already produced."""
    from pluma.server.chat.codecs.openai_stream import OpenAIChunkEncoder

    encoder = OpenAIChunkEncoder(model)
    async with contextlib.aclosing(stream):
        async for event in stream:
            if event.type == "error":
                error = event.error
                if isinstance(error, llm.LLMError):
                    raise error
                text = event.message.error_message if event.message else None
                raise llm.ProviderError(text or "the upstream stream failed")
            for frame in encoder.encode(event):
                yield frame.rstrip("\n")


def payloads(item: str) -> Iterator[str]:
    """The ``data:`` payloads in one item of a provider's line stream."""
    for line in item.splitlines():
        if not line or line.startswith(":"):
            continue
        name, sep, value = line.partition(":")
        if not sep:
            # A bare line without a field: treat as a payload if it looks like one.
            if line.strip() in ("[DONE]",) or line.lstrip().startswith("{"):
                yield line
            continue
        if name == "data":
            yield value[1:] if value.startswith(" ") else value
        elif name.lstrip().startswith("{"):
            yield line  # a JSON object given without "data: "


async def _from_lines(
    provider: Provider, request: ChatRequest, model: llm.Model, secrets: tuple[str, ...]
) -> AsyncIterator[llm.Event | None]:
    from pluma.llm.protocols.openai_completions.stream import ChunkParser

    message = llm.AssistantMessage(protocol=LINE_PROTOCOL, provider=provider.id, model=model.id)
    writer = llm.StreamWriter(message, secrets=secrets)
    parser = ChunkParser(writer, model)
    yield writer.start()
    lines = provider.stream_chat(request)
    try:
        async for item in lines:
            for data in payloads(item):
                for event in parser.feed_data(data):
                    yield event
                if parser.finished:
                    return
        for event in parser.finish():
            yield event
    except Exception as exc:
        for event in parser.fail(exc):
            yield event
    finally:
        aclose = getattr(lines, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
