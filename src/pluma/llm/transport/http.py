"""HTTP for adapters: retries before the first byte, timeouts that never
cap a healthy stream, and upstream errors turned into
:class:`~pluma.llm.errors.ProviderError` with the upstream's own message.

This is policy only. Bytes are sent by a :class:`~pluma.llm.transport.base.Transport`
(``StreamOptions.transport``, else the default aiohttp one, imported on first
use so ``import pluma.llm`` stays light).

Retry policy (only while nothing has been read from the response body):

| failure                                   | retried | delay                                   |
|-------------------------------------------|---------|-----------------------------------------|
| connect error / connect timeout           | yes     | 0.5 s × 2^attempt (jittered), ≤ 8 s     |
| connection closed before an answer        | yes     | the backoff above                       |
| HTTP 408, 409, 429, 500-599 (incl. 529;   | yes     | ``Retry-After`` if given (≤ max delay), |
| not 508 Loop Detected)                    |         | else the backoff above                  |
| any other 4xx                             | no      |                                         |
| invalid URL, untrusted TLS certificate,   | no      |                                         |
| an answer that is not HTTP                |         |                                         |
| anything after the first body byte        | never   |                                         |

A ``Retry-After`` longer than ``StreamOptions.max_retry_delay`` is not waited
for: the error is reported at once so the caller can decide.

Every read of a response body — the stream, a whole JSON answer, an error
body — waits at most until the first-byte deadline for its first bytes and
``Timeouts.idle`` between later ones, so an upstream that sends headers and
then stalls can never hang a call.

Bodies are requested uncompressed (``accept-encoding: identity``); an
upstream that compresses anyway is still decoded by the default transport.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import orjson

from pluma.llm.errors import ProviderError, UpstreamTimeout
from pluma.llm.options import StreamOptions, Timeouts
from pluma.llm.overflow import classify as classify_overflow
from pluma.llm.redact import mask, secrets_of
from pluma.llm.transport.base import (
    ConnectTimeout,
    InvalidURL,
    NotHTTP,
    Request,
    Response,
    Transport,
    TransportError,
    UntrustedCertificate,
)
from pluma.llm.transport.ndjson import LineDecoder
from pluma.llm.transport.sse import ServerSentEvent, SSEDecoder

# 508 Loop Detected: a proxy (a Pluma server) found a request loop; retrying repeats it.
RETRY_STATUSES = (frozenset({408, 409, 429, 529}) | frozenset(range(500, 600))) - {508}

# The most of an error body kept for its message (the rest is not read).
MAX_ERROR_BODY = 64 * 1024

# The most the first read of a stream takes (a few events' worth): a fast
# upstream's whole reply may already be buffered, and taking all of it (one
# step per HTTP chunk) and decoding it would delay the first event.
FIRST_READ = 2048


class UpstreamResponse:
    """An upstream's 2xx answer, open for reading with :func:`read_sse` or
    :func:`read_body` inside :func:`open_stream`'s block.

    ``headers`` is case-insensitive. The body is read only through this
    module's readers, which apply the first-byte and idle timeouts.
    """

    __slots__ = ("_first_byte_deadline", "_raw", "headers", "reason", "status")

    def __init__(self, raw: Response, first_byte_deadline: float | None) -> None:
        self._raw = raw
        self._first_byte_deadline = first_byte_deadline
        self.status: int = raw.status
        self.reason: str = raw.reason
        self.headers: Mapping[str, str] = raw.headers

    def __repr__(self) -> str:
        return f"<UpstreamResponse {self.status} {self.reason}>"

    def _take_deadline(self, timeouts: Timeouts, loop: asyncio.AbstractEventLoop) -> float | None:
        """The deadline for the first body bytes: the one set when the request
        was sent (headers and first bytes share one allowance), once."""
        deadline = self._first_byte_deadline
        self._first_byte_deadline = None
        if deadline is None and timeouts.first_byte is not None:
            deadline = loop.time() + timeouts.first_byte
        return deadline


_default_transport: Transport | None = None


def default_transport() -> Transport:
    """The transport used when ``StreamOptions.transport`` is None: aiohttp,
    one pooled session per event loop (imported here, on first use)."""
    global _default_transport
    if _default_transport is None:
        from pluma.llm.transport.default import AiohttpTransport

        _default_transport = AiohttpTransport()
    return _default_transport


async def close_shared_session() -> None:
    """Close the running loop's shared aiohttp session and its connections,
    if one was opened (the next call opens a new one)."""
    default = sys.modules.get("pluma.llm.transport.default")
    if default is not None:  # no shared session exists before it is imported
        await default.close_shared_session()


# -- sending -------------------------------------------------------------------


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # the HTTP-date form
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # unreadable: fall back to our own backoff
    return max(0.0, parsed.timestamp() - time.time())


def error_from_body(status: int, body: bytes, reason: str = "") -> ProviderError:
    """A ProviderError carrying the upstream's own message.

    Understands OpenAI's ``{"error": {"message", "type", "code"}}``,
    Anthropic's ``{"type": "error", "error": {"type", "message"}}``, a plain
    ``{"message"}`` or ``{"detail"}``, and falls back to the body text.
    """
    message = ""
    code: str | None = None
    etype: str | None = None
    try:
        payload: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict):
        err = payload.get("error", payload)
        if isinstance(err, dict):
            message = str(err.get("message") or err.get("detail") or "")
            code = None if err.get("code") is None else str(err.get("code"))
            etype = None if err.get("type") is None else str(err.get("type"))
        elif isinstance(err, str):
            message = err
    if not message:
        text = body.decode("utf-8", "replace").strip()
        message = text[:500] if text else (reason or "upstream error")
    return classify_overflow(
        ProviderError(
            message,
            status=status,
            code=code,
            type=etype,
            retryable=status in RETRY_STATUSES,
        )
    )


def redact(text: str, headers: dict[str, str]) -> str:
    """``text`` with any credential sent in ``headers`` masked (see
    :mod:`pluma.llm.redact`): some upstreams echo the key they rejected."""
    return mask(text, secrets_of(None, headers))


def _backoff(attempt: int) -> float:
    return min(8.0, 0.5 * 2.0**attempt) * (0.75 + random.random() * 0.5)


@asynccontextmanager
async def open_stream(
    url: str,
    *,
    headers: dict[str, str],
    body: Any,
    options: StreamOptions,
    method: str = "POST",
) -> AsyncIterator[UpstreamResponse]:
    """Send ``body`` as JSON and yield the 2xx response, retrying per the
    module's policy. Non-2xx answers raise :class:`ProviderError`.

    Leaving the block hands a fully read connection back to the pool and
    closes any other at once, so an aborted stream's upstream sees its
    connection close immediately.
    """
    loop = asyncio.get_running_loop()
    transport = options.transport or default_transport()
    req_headers = {
        "content-type": "application/json",
        "accept": "text/event-stream",
        "accept-encoding": "identity",
        **headers,
    }
    request = Request(
        method, url, req_headers, orjson.dumps(body), connect_timeout=options.timeouts.connect
    )
    first_byte = options.timeouts.first_byte
    attempt = 0
    while True:
        delay: float | None = None
        deadline = None if first_byte is None else loop.time() + first_byte
        try:
            async with asyncio.timeout_at(deadline):
                raw = await transport.send(request)
        except ConnectTimeout as exc:
            error: ProviderError = UpstreamTimeout(
                f"timed out connecting to {_origin(url)}", retryable=True
            )
            error.__cause__ = exc
            delay = _backoff(attempt)
        except InvalidURL:
            raise ProviderError(
                f"{_without_credentials(url)!r} is not a usable http:// or https:// URL; "
                "check the base URL"
            ) from None
        except UntrustedCertificate as exc:
            raise ProviderError(
                f"the TLS certificate of {_origin(url)} is not trusted: {exc}"
                " (for a private CA, point SSL_CERT_FILE at its certificate)"
            ) from None
        except NotHTTP as exc:
            raise ProviderError(
                f"{_origin(url)} did not answer with valid HTTP ({exc}); check the base "
                "URL's scheme (http or https) and port"
            ) from None
        except TransportError as exc:
            error = ProviderError(
                f"cannot reach {_origin(url)}: {exc} "
                "(is the server running, and is the base URL right?)",
                retryable=True,
            )
            error.__cause__ = exc
            delay = _backoff(attempt)
        except TimeoutError:
            raise UpstreamTimeout(
                f"no response from {_origin(url)} within {first_byte:g} s (first-byte "
                "timeout); raise Timeouts.first_byte for slow models",
                retryable=True,
            ) from None
        else:
            response = UpstreamResponse(raw, deadline)
            if raw.status < 300:
                try:
                    if _is_html(response):
                        raise ProviderError(
                            f"{_origin(url)} answered with a web page (content-type "
                            f"{response.headers.get('content-type')}), not an API response; "
                            "check the base URL (API base URLs usually end in /v1)"
                        )
                    yield response
                finally:
                    _done_with(raw)
                return
            try:
                body_bytes = await read_body(response, options.timeouts, limit=MAX_ERROR_BODY)
            except ProviderError:
                body_bytes = b""  # a stalled or broken error body: the status still says enough
            finally:
                _done_with(raw)
            error = error_from_body(raw.status, body_bytes, response.reason)
            location = response.headers.get("location")
            if 300 <= raw.status < 400 and location:
                # Not followed: a redirected POST may lose its body or method.
                error.message += (
                    f" — the server redirects to {location}; use that address in the base URL"
                )
            if raw.status == 404:
                # Most often a base URL missing its /v1 (or with one too many).
                error.message += (
                    f" — {method} {_origin(url)}{urlsplit(url).path} was not found: "
                    "check the base URL and the model id"
                )
            error.message = redact(error.message, req_headers)
            error.args = (error.message,)
            error.retry_after = _retry_after(response.headers)
            if error.retryable:
                delay = error.retry_after if error.retry_after is not None else _backoff(attempt)
        if delay is None or attempt >= options.max_retries or delay > options.max_retry_delay:
            raise error
        attempt += 1
        await asyncio.sleep(delay)


def _done_with(raw: Response) -> None:
    """Pool the connection of a body read to its end; close any other now."""
    if raw.at_eof():
        raw.release()
    else:
        raw.close()


# -- reading -------------------------------------------------------------------


class _ReadTimer:
    """The first-byte and idle deadlines of one stream, on a single timer.

    ``asyncio.timeout`` per read would create, schedule and cancel a timer
    handle for every network chunk, which was about a fifth of the per-event
    cost of a stream sent one chunk per token (bench/bench_llm.py). Here each
    read only moves ``deadline``; the one timer handle re-arms itself lazily
    when it fires early and cancels the reading task only if that task is
    waiting on the network past the deadline, as ``asyncio.timeout`` would.
    A deadline earlier than the armed one (first byte → idle) re-arms at once.
    """

    __slots__ = ("armed_at", "deadline", "expired", "handle", "loop", "task", "waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop, deadline: float | None) -> None:
        self.loop = loop
        self.deadline = deadline
        self.handle: asyncio.TimerHandle | None = None
        self.armed_at = 0.0
        self.task: asyncio.Task[Any] | None = None
        self.waiting = False
        self.expired = False

    def _fire(self) -> None:
        self.handle = None
        deadline = self.deadline
        if deadline is None or not self.waiting or self.task is None:
            return  # re-armed by the next wait()
        if self.loop.time() < deadline:
            self._arm(deadline)
            return
        self.expired = True
        self.task.cancel()

    def wait(self) -> None:
        """A read starts: the deadline now applies."""
        self.waiting = True
        self.task = asyncio.current_task(self.loop)
        deadline = self.deadline
        if deadline is not None and (self.handle is None or deadline < self.armed_at):
            if self.handle is not None:
                self.handle.cancel()
            self._arm(deadline)

    def _arm(self, deadline: float) -> None:
        self.armed_at = deadline
        self.handle = self.loop.call_at(deadline, self._fire)

    def done(self, deadline: float | None) -> None:
        """A read ended; ``deadline`` applies to the next one."""
        self.waiting = False
        self.deadline = deadline

    def timed_out(self) -> bool:
        """Whether a CancelledError came from this timer (and not from anyone else)."""
        return self.expired and self.task is not None and self.task.uncancel() == 0

    def close(self) -> None:
        self.waiting = False
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


_T_co = TypeVar("_T_co", covariant=True)


class _Decoder(Protocol[_T_co]):
    """Bytes in, whole items out: :class:`SSEDecoder`, :class:`LineDecoder`."""

    def feed(self, chunk: bytes) -> Sequence[_T_co]: ...

    def flush(self) -> Sequence[_T_co]: ...


def read_sse(response: UpstreamResponse, timeouts: Timeouts) -> AsyncIterator[ServerSentEvent]:
    """The response body as SSE events, with first-byte and idle timeouts and
    transport failures reported as :class:`ProviderError`.

    The first read waits until the first-byte deadline set when the request
    was sent (so headers and first body bytes share one allowance); every
    later read may wait ``timeouts.idle``. There is no total cap.
    """
    return _decoded(response, timeouts, SSEDecoder())


def read_ndjson(response: UpstreamResponse, timeouts: Timeouts) -> AsyncIterator[bytes]:
    """The response body as newline-delimited JSON lines (raw bytes, for
    ``orjson.loads``), with the same timeouts and failure reporting as
    :func:`read_sse`. Blank lines are skipped; a last line without its
    newline is still handed over."""
    return _decoded(response, timeouts, LineDecoder())


def read_sse_batches(
    response: UpstreamResponse, timeouts: Timeouts
) -> AsyncIterator[list[ServerSentEvent]]:
    """:func:`read_sse`, one list per network read: every event that read
    completed. A reader that handles a whole list before awaiting again pays
    the async hop once per read instead of once per event, which is most of
    the difference when an upstream's tokens arrive faster than they are read."""
    return _decoded(response, timeouts, SSEDecoder(), batched=True)


def read_ndjson_batches(
    response: UpstreamResponse, timeouts: Timeouts
) -> AsyncIterator[list[bytes]]:
    """:func:`read_ndjson`, one list per network read (see :func:`read_sse_batches`)."""
    return _decoded(response, timeouts, LineDecoder(), batched=True)


async def _decoded(
    response: UpstreamResponse,
    timeouts: Timeouts,
    decoder: _Decoder[_T_co],
    *,
    batched: bool = False,
) -> AsyncIterator[Any]:
    """The body read under the first-byte and idle deadlines, through
    ``decoder``: item by item, or (``batched``) a non-empty list per read."""
    raw = response._raw
    read = raw.readany
    loop = asyncio.get_running_loop()
    first = True
    idle = timeouts.idle
    timer = _ReadTimer(loop, response._take_deadline(timeouts, loop))
    try:
        while True:
            timer.wait()
            try:
                chunk = await (raw.read(FIRST_READ) if first else read())
            except asyncio.CancelledError:
                if not timer.timed_out():
                    raise
                raise _read_timeout(first, timeouts) from None
            except Exception as exc:
                if (failure := _read_failure(raw, exc)) is None:
                    raise
                raise failure from exc
            if not chunk:
                break
            first = False
            timer.done(None if idle is None else loop.time() + idle)
            items = decoder.feed(chunk)
            if batched:
                if items:
                    yield items
                continue
            for item in items:
                yield item
    finally:
        timer.close()
    items = decoder.flush()
    if batched:
        if items:
            yield items
        return
    for item in items:
        yield item


async def read_body(
    response: UpstreamResponse, timeouts: Timeouts, *, limit: int | None = None
) -> bytes:
    """The whole (decoded) body, or its first ``limit`` bytes, for answers
    that are not a stream: a JSON completion, an error.

    The same clock as :func:`read_sse`: the first bytes must come by the
    first-byte deadline set when the request was sent, later ones within
    ``timeouts.idle`` of each other. Raises :class:`UpstreamTimeout` or
    :class:`ProviderError`.
    """
    loop = asyncio.get_running_loop()
    deadline = response._take_deadline(timeouts, loop)
    raw = response._raw
    read = raw.readany
    parts: list[bytes] = []
    size = 0
    first = True
    while limit is None or size < limit:
        try:
            async with asyncio.timeout_at(deadline):
                chunk = await read()
        except TimeoutError:
            raise _read_timeout(first, timeouts) from None
        except Exception as exc:
            if (failure := _read_failure(raw, exc)) is None:
                raise
            raise failure from exc
        if not chunk:
            break
        first = False
        parts.append(chunk)
        size += len(chunk)
        deadline = None if timeouts.idle is None else loop.time() + timeouts.idle
    body = b"".join(parts)
    return body if limit is None else body[:limit]


async def finish_body(response: UpstreamResponse, grace: float = 0.25) -> None:
    """Read what is left of a body whose protocol has already ended.

    An SSE stream's end marker (``[DONE]``, ``message_stop``) arrives just
    before the end of the HTTP body (the last chunk of a chunked response).
    A connection is only pooled again once its body has been read to the end,
    so without this every stream would pay for a new TCP connection. Adapters
    call this after their end marker and before yielding the terminal event.
    A server that keeps the body open gets ``grace`` seconds; then the
    connection is simply closed.
    """
    raw = response._raw
    if raw.at_eof():
        return
    try:
        async with asyncio.timeout(grace):
            while await raw.readany():
                pass
    except TimeoutError:
        pass
    except Exception as exc:
        if raw.describe_error(exc) is None:
            raise


def _read_timeout(first: bool, timeouts: Timeouts) -> UpstreamTimeout:
    if first:
        return UpstreamTimeout(
            f"the upstream sent no data within {timeouts.first_byte:g} s of the "
            "request (first-byte timeout); raise Timeouts.first_byte for slow models"
        )
    return UpstreamTimeout(
        f"the upstream went silent for {timeouts.idle:g} s mid-stream (idle timeout); "
        "the stream was cut"
    )


def _read_failure(raw: Response, exc: Exception) -> ProviderError | None:
    """A transport's read failure as a ProviderError; None for anything else."""
    words = raw.describe_error(exc)
    if words is None:
        return None
    return ProviderError(f"the connection to the upstream failed mid-stream: {words}")


def _is_html(response: UpstreamResponse) -> bool:
    return response.headers.get("content-type", "").lower().startswith("text/html")


def _without_credentials(url: str) -> str:
    """``url`` as it may be shown: no ``user:password@``, no query string
    (either may hold a key), even when the URL does not parse."""
    return re.sub(r"//[^/?#]*@", "//", url.split("?", 1)[0].split("#", 1)[0])


def _origin(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")
