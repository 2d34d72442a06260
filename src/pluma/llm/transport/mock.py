"""An in-memory transport: requests go to a function of yours, not a socket.

For testing code built on ``pluma.llm`` without a server::

    def handler(request: Request) -> MockResponse:
        return MockResponse(200, {"content-type": "text/event-stream"}, [b"data: ...\\n\\n"])

    options = llm.StreamOptions(transport=MockTransport(handler))

The body may be bytes, an iterable of byte chunks (each read returns at most
one chunk, so a test controls how the bytes are split), or an async iterable
(which may wait, or raise :class:`~pluma.llm.transport.base.ReadError` to cut
the connection mid-body). The handler may be a coroutine function, and may
raise a :class:`~pluma.llm.transport.base.TransportError` to fail the send.
Pluma's own tests use real loopback servers instead; this transport is for
users' tests and for code that must run with no network at all.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping

from pluma.llm.transport.base import Request, TransportError

Body = bytes | Iterable[bytes] | AsyncIterable[bytes]


class _Headers(dict[str, str]):
    """Case-insensitive for reads, like a real response's headers."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__((name.lower(), value) for name, value in headers.items())

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


class MockResponse:
    """A response served from memory (see the module docstring for ``body``)."""

    def __init__(
        self,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        body: Body = b"",
        *,
        reason: str = "",
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers: Mapping[str, str] = _Headers(headers or {})
        self._chunks = _chunks(body)
        self._pending = b""
        self._eof = False
        self.released = False
        self.closed = False
        self.request: Request | None = None

    async def _next(self) -> bytes:
        if self._pending:
            chunk, self._pending = self._pending, b""
            return chunk
        if self._eof:
            return b""
        try:
            while not (chunk := await anext(self._chunks)):
                pass
        except StopAsyncIteration:
            self._eof = True
            return b""
        return chunk

    def readany(self) -> Awaitable[bytes]:
        return self._next()

    async def _read(self, n: int) -> bytes:
        chunk = await self._next()
        if len(chunk) > n:
            chunk, self._pending = chunk[:n], chunk[n:]
        return chunk

    def read(self, n: int) -> Awaitable[bytes]:
        return self._read(n)

    def at_eof(self) -> bool:
        return self._eof and not self._pending

    def release(self) -> None:
        self.released = True

    def close(self) -> None:
        self.closed = True

    def describe_error(self, exc: BaseException) -> str | None:
        if not isinstance(exc, TransportError):
            return None
        return str(exc) or type(exc).__name__


Handler = Callable[[Request], MockResponse | Awaitable[MockResponse]]


class MockTransport:
    """Answers every request with ``handler(request)``; keeps the requests
    it was sent in ``requests``, oldest first."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[Request] = []

    async def send(self, request: Request) -> MockResponse:
        self.requests.append(request)
        response = self._handler(request)
        if inspect.isawaitable(response):
            response = await response
        response.request = request
        return response

    async def aclose(self) -> None:
        return None


async def _chunks(body: Body) -> AsyncIterator[bytes]:
    if isinstance(body, bytes | bytearray):
        yield bytes(body)
    elif isinstance(body, AsyncIterable):
        async for chunk in body:
            yield chunk
    else:
        for chunk in body:
            yield chunk
