"""HTTP for adapters: one pooled client per event loop, retries before the
first byte, timeouts that never cap a healthy stream, and upstream errors
turned into :class:`~pluma.llm.errors.ProviderError` with the upstream's own
message.

Retry policy (only while nothing has been read from the response body):

| failure                                   | retried | delay                                   |
|-------------------------------------------|---------|-----------------------------------------|
| connect error / connect timeout           | yes     | 0.5 s × 2^attempt (jittered), ≤ 8 s     |
| HTTP 408, 409, 429, 500-599 (incl. 529)   | yes     | ``Retry-After`` if given (≤ max delay), |
|                                           |         | else the backoff above                  |
| any other 4xx                             | no      |                                         |
| anything after the first body byte        | never   |                                         |

A ``Retry-After`` longer than ``StreamOptions.max_retry_delay`` is not waited
for: the error is reported at once so the caller can decide.

Every read of a response body — the stream, a whole JSON answer, an error
body — waits at most until the first-byte deadline for its first bytes and
``Timeouts.idle`` between later ones, so an upstream that sends headers and
then stalls can never hang a call.

Bodies are requested uncompressed (``accept-encoding: identity``): the SSE
reader then works on the raw bytes with no decompression layer. An upstream
that compresses anyway is still decoded (see :func:`read_sse`).
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson

from pluma.llm.errors import ProviderError, UpstreamTimeout
from pluma.llm.options import StreamOptions, Timeouts
from pluma.llm.redact import mask, secrets_of
from pluma.llm.transport.sse import ServerSentEvent, SSEDecoder

RETRY_STATUSES = frozenset({408, 409, 429, 529}) | frozenset(range(500, 600))

# The most of an error body kept for its message (the rest is not read).
MAX_ERROR_BODY = 64 * 1024

# When each response's first-byte allowance runs out (event-loop time): the
# wait for headers and the wait for the first body bytes share one deadline.
_first_byte_deadlines: weakref.WeakKeyDictionary[httpx.Response, float] = (
    weakref.WeakKeyDictionary()
)

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def shared_client() -> httpx.AsyncClient:
    """The pooled client of the running event loop.

    Connections belong to the loop that opened them, so each loop gets its own
    client; all streams in one loop share its pool.
    """
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(None),
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
            follow_redirects=False,
        )
        _clients[loop] = client
    return client


def _retry_after(response: httpx.Response) -> float | None:
    value: str | None = response.headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000
        except ValueError:
            pass
    value = response.headers.get("retry-after")
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
    return ProviderError(
        message,
        status=status,
        code=code,
        type=etype,
        retryable=status in RETRY_STATUSES,
    )


def redact(text: str, headers: dict[str, str]) -> str:
    """``text`` with any credential sent in ``headers`` masked (see
    :mod:`pluma.llm.redact`): some upstreams echo the key they rejected."""
    return mask(text, secrets_of(None, headers))


def _backoff(attempt: int) -> float:
    return min(8.0, 0.5 * 2.0**attempt) * (0.75 + random.random() * 0.5)


def _httpx_timeout(t: Timeouts) -> httpx.Timeout:
    # Reads are timed by read_sse (first byte, then idle) so a slow but live
    # stream is never cut by a total deadline.
    return httpx.Timeout(connect=t.connect, read=None, write=t.write, pool=t.connect)


@asynccontextmanager
async def open_stream(
    url: str,
    *,
    headers: dict[str, str],
    body: Any,
    options: StreamOptions,
    method: str = "POST",
) -> AsyncIterator[httpx.Response]:
    """POST ``body`` as JSON and yield the 2xx response, retrying per the
    module's policy. Non-2xx answers raise :class:`ProviderError`. Leaving the
    block closes the response (and its connection, if unread)."""
    client = options.http_client or shared_client()
    content = orjson.dumps(body)
    req_headers = {
        "content-type": "application/json",
        "accept": "text/event-stream",
        "accept-encoding": "identity",
        **headers,
    }
    timeout = _httpx_timeout(options.timeouts)
    first_byte = options.timeouts.first_byte
    attempt = 0
    while True:
        request = client.build_request(
            method, url, content=content, headers=req_headers, timeout=timeout
        )
        delay: float | None = None
        loop = asyncio.get_running_loop()
        deadline = None if first_byte is None else loop.time() + first_byte
        try:
            async with asyncio.timeout_at(deadline):
                response = await client.send(request, stream=True)
        except TimeoutError:
            raise UpstreamTimeout(
                f"no response from {_origin(url)} within {first_byte:g} s (first-byte "
                "timeout); raise Timeouts.first_byte for slow models",
                retryable=True,
            ) from None
        except httpx.TimeoutException as exc:
            error: ProviderError = UpstreamTimeout(
                f"timed out connecting to {_origin(url)}", retryable=True
            )
            error.__cause__ = exc
            delay = _backoff(attempt)
        except httpx.TransportError as exc:
            error = ProviderError(
                f"cannot reach {_origin(url)}: {_describe_transport(exc)} "
                "(is the server running, and is the base URL right?)",
                retryable=True,
            )
            error.__cause__ = exc
            delay = _backoff(attempt)
        else:
            if response.status_code < 300:
                if _is_html(response):
                    await response.aclose()
                    raise ProviderError(
                        f"{_origin(url)} answered with a web page (content-type "
                        f"{response.headers.get('content-type')}), not an API response; "
                        "check the base URL (API base URLs usually end in /v1)"
                    )
                if deadline is not None:
                    _first_byte_deadlines[response] = deadline
                try:
                    yield response
                finally:
                    await response.aclose()
                return
            try:
                raw = await read_body(
                    response, options.timeouts, deadline=deadline, limit=MAX_ERROR_BODY
                )
            except ProviderError:
                raw = b""  # a stalled or broken error body: the status still says enough
            finally:
                await response.aclose()
            error = error_from_body(response.status_code, raw, response.reason_phrase)
            location = response.headers.get("location")
            if 300 <= response.status_code < 400 and location:
                # Not followed: a redirected POST may lose its body or method.
                error.message += (
                    f" — the server redirects to {location}; use that address in the base URL"
                )
            if response.status_code == 404:
                # Most often a base URL missing its /v1 (or with one too many).
                error.message += (
                    f" — {method} {_origin(url)}{httpx.URL(url).path} was not found: "
                    "check the base URL and the model id"
                )
            error.message = redact(error.message, req_headers)
            error.args = (error.message,)
            error.retry_after = _retry_after(response)
            if error.retryable:
                delay = error.retry_after if error.retry_after is not None else _backoff(attempt)
        if delay is None or attempt >= options.max_retries or delay > options.max_retry_delay:
            raise error
        attempt += 1
        await asyncio.sleep(delay)


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
        self.task = asyncio.current_task()
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


async def read_sse(response: httpx.Response, timeouts: Timeouts) -> AsyncIterator[ServerSentEvent]:
    """The response body as SSE events, with first-byte and idle timeouts and
    transport failures reported as :class:`ProviderError`.

    The first read waits until the first-byte deadline set when the request
    was sent (so headers and first body bytes share one allowance); every
    later read may wait ``timeouts.idle``. There is no total cap.
    """
    decoder = SSEDecoder()
    # Raw bytes skip httpx's decoder layer; a compressed body needs it.
    raw = response.aiter_raw() if _uncompressed(response) else response.aiter_bytes()
    _body_readers[response] = raw
    loop = asyncio.get_running_loop()
    deadline = _first_byte_deadlines.pop(response, None)
    if deadline is None and timeouts.first_byte is not None:
        deadline = loop.time() + timeouts.first_byte
    first = True
    idle = timeouts.idle
    timer = _ReadTimer(loop, deadline)
    try:
        while True:
            timer.wait()
            try:
                chunk = await raw.__anext__()
            except StopAsyncIteration:
                break
            except asyncio.CancelledError:
                if not timer.timed_out():
                    raise
                raise _read_timeout(first, timeouts) from None
            except httpx.HTTPError as exc:
                raise _read_failure(exc) from exc
            first = False
            timer.done(None if idle is None else loop.time() + idle)
            for event in decoder.feed(chunk):
                yield event
    finally:
        timer.close()
    for event in decoder.flush():
        yield event


async def read_body(
    response: httpx.Response,
    timeouts: Timeouts,
    *,
    deadline: float | None = None,
    limit: int | None = None,
) -> bytes:
    """The whole (decoded) body, or its first ``limit`` bytes, for answers
    that are not a stream: a JSON completion, an error.

    The same clock as :func:`read_sse`: the first bytes must come by
    ``deadline`` (default: the first-byte deadline set when the request was
    sent), later ones within ``timeouts.idle`` of each other. Raises
    :class:`UpstreamTimeout` or :class:`ProviderError`.
    """
    loop = asyncio.get_running_loop()
    if deadline is None:
        deadline = _first_byte_deadlines.pop(response, None)
    if deadline is None and timeouts.first_byte is not None:
        deadline = loop.time() + timeouts.first_byte
    chunks = response.aiter_bytes()
    parts: list[bytes] = []
    size = 0
    first = True
    while limit is None or size < limit:
        try:
            async with asyncio.timeout_at(deadline):
                chunk = await chunks.__anext__()
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise _read_timeout(first, timeouts) from None
        except httpx.HTTPError as exc:
            raise _read_failure(exc) from exc
        first = False
        parts.append(chunk)
        size += len(chunk)
        deadline = None if timeouts.idle is None else loop.time() + timeouts.idle
    body = b"".join(parts)
    return body if limit is None else body[:limit]


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


def _read_failure(exc: httpx.HTTPError) -> ProviderError:
    return ProviderError(
        f"the connection to the upstream failed mid-stream: {_describe_transport(exc)}"
    )


def _uncompressed(response: httpx.Response) -> bool:
    encoding: str = response.headers.get("content-encoding", "")
    return not encoding or encoding.strip().lower() == "identity"


def _is_html(response: httpx.Response) -> bool:
    content_type: str = response.headers.get("content-type", "")
    return content_type.lower().startswith("text/html")


# The body iterator read_sse is reading, so finish_body can go on reading it
# (httpx lets a response body be iterated only once).
_body_readers: weakref.WeakKeyDictionary[httpx.Response, AsyncIterator[bytes]] = (
    weakref.WeakKeyDictionary()
)


async def finish_body(response: httpx.Response, grace: float = 0.25) -> None:
    """Read what is left of a body whose protocol has already ended.

    An SSE stream's end marker (``[DONE]``, ``message_stop``) arrives just
    before the end of the HTTP body (the last chunk of a chunked response).
    Closing the response before reading that last bit makes httpx drop the
    connection instead of returning it to the pool, so every stream would pay
    for a new TCP connection. Adapters call this after their end marker and
    before yielding the terminal event. A server that keeps the body open gets
    ``grace`` seconds; then the connection is simply closed.
    """
    raw = _body_readers.pop(response, None)
    if raw is None or response.is_closed:
        return
    try:
        async with asyncio.timeout(grace):
            async for _ in raw:
                pass
    except (TimeoutError, httpx.HTTPError):
        pass


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}" + (f":{parsed.port}" if parsed.port else "")


def _describe_transport(exc: httpx.HTTPError) -> str:
    text = str(exc)
    if isinstance(exc, httpx.ConnectError):
        return text or "connection refused"
    if isinstance(exc, httpx.RemoteProtocolError):
        return text or "the server closed the connection"
    return text or type(exc).__name__
