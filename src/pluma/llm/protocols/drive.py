"""Driving a stream parser over HTTP: what the native adapters' glue shares.

Every adapter does the same around its own parser: send the body with
:func:`~pluma.llm.transport.http.open_stream` (retries, timeouts, upstream
errors), emit ``start`` once the upstream answered, feed the parser each
SSE ``data:`` payload or NDJSON line, hand the connection back to the pool
once the parser has ended the message (:func:`finish_body`), read a whole
JSON answer from an upstream that ignored ``stream: true``, turn a transport
failure into the parser's terminal error (saying when a refused call carried
no key), and let the parser judge the end of input.

:func:`relay` is that loop; an adapter builds the request, the writer and
the parser, and yields what ``relay`` yields.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Literal, Protocol

import orjson

from pluma.llm.errors import ProviderError
from pluma.llm.events import Event
from pluma.llm.keys import explain_refused_without_key
from pluma.llm.options import StreamOptions
from pluma.llm.redact import carries_credentials
from pluma.llm.transport.http import (
    finish_body,
    open_stream,
    read_body,
    read_ndjson_batches,
    read_sse_batches,
)
from pluma.llm.writer import StreamWriter


class StreamParser(Protocol):
    """What :func:`relay` needs of a parser (all return the events produced)."""

    def feed_data(self, data: str | bytes) -> list[Event]: ...

    def fail(self, error: BaseException | str) -> list[Event]: ...

    def finish(self) -> list[Event]: ...


async def relay(
    parser: StreamParser,
    writer: StreamWriter,
    *,
    url: str,
    headers: dict[str, str],
    body: Any,
    options: StreamOptions,
    provider: str,
    base_url: str,
    framing: Literal["sse", "ndjson"] = "sse",
    whole: Callable[[Any], list[Event]] | None = None,
    feed_lines: Callable[[list[bytes]], list[Event]] | None = None,
) -> AsyncIterator[Event | list[Event] | None]:
    """Send ``body`` to ``url`` and yield the events ``parser`` makes of the
    answer, ending with exactly one terminal event.

    ``whole`` reads a JSON (``application/json``) answer, decoded (None when
    it is not JSON); without it such an answer goes through the framing's
    reader like any other body. ``provider`` and ``base_url`` word the hint
    added to a 401/403 of a call that carried no credentials.

    The events of one network read are yielded as one list (the stream
    wrapper hands them out one by one), so the generators between the
    transport and the caller are resumed once per read, not once per event.
    ``feed_lines`` takes every NDJSON line of a read at once (the parser's
    own loop); without it each line goes to ``parser.feed_data``.
    """
    try:
        async with open_stream(url, headers=headers, body=body, options=options) as response:
            yield writer.start()
            if whole is not None and response.headers.get("content-type", "").startswith(
                "application/json"
            ):
                raw = await read_body(response, options.timeouts)
                try:
                    payload = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    payload = None
                for event in whole(payload):
                    yield event
            elif framing == "ndjson":
                feed = feed_lines or _one_by_one(parser)
                async for lines in read_ndjson_batches(response, options.timeouts):
                    events = feed(lines)
                    # Only the parser ends the writer, so one read serves both checks.
                    if writer.finished:
                        await finish_body(response)
                        yield events
                        return
                    yield events
            else:
                feed_data = parser.feed_data
                async for batch in read_sse_batches(response, options.timeouts):
                    if len(batch) == 1:
                        events = feed_data(batch[0].data)
                    else:
                        events = []
                        for sse in batch:
                            events += feed_data(sse.data)
                    if writer.finished:
                        await finish_body(response)
                        yield events
                        return
                    yield events
    except ProviderError as exc:
        if not carries_credentials(options.api_key, headers):
            explain_refused_without_key(exc, provider, base_url)
        yield parser.fail(exc)
        return
    yield parser.finish()


def _one_by_one(parser: StreamParser) -> Callable[[list[bytes]], list[Event]]:
    def feed(lines: list[bytes]) -> list[Event]:
        events: list[Event] = []
        for line in lines:
            events += parser.feed_data(line)
        return events

    return feed


def merged_headers(
    own: dict[str, str], model_headers: dict[str, str], call_headers: dict[str, str]
) -> dict[str, str]:
    """The adapter's own headers, then the model's, then the call's, all
    lower-cased so a later one replaces an earlier one instead of doubling it
    (a proxy's own key header, for example)."""
    headers = dict(own)
    headers.update((name.lower(), value) for name, value in model_headers.items())
    headers.update((name.lower(), value) for name, value in call_headers.items())
    return headers
