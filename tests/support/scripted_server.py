"""A real HTTP/1.1 server on 127.0.0.1 that answers with scripted bytes.

Tests use it as the upstream: it writes exactly the bytes a scenario gives
(so SSE framing, CRLF, split reads, cut streams and stalls are all real
network behaviour), records every request, and notices when the client
closes its connection.

It runs in its own thread with its own event loop, so the code under test
can be async or sync (the official SDKs' sync clients) and a test's own loop
being busy never delays the upstream.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


class Gate:
    """A point in a reply body where writing waits until the test calls
    :meth:`open` (or the client leaves). Lets a test look at a stream's
    intermediate state for as long as it needs, with no timing guess."""

    def __init__(self) -> None:
        self._opened = threading.Event()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        with self._lock:
            self._opened.set()
            waiters = list(self._waiters)
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    async def wait(self) -> None:
        event = asyncio.Event()
        with self._lock:
            if self._opened.is_set():
                return
            self._waiters.append((asyncio.get_running_loop(), event))
        await event.wait()


Chunk = bytes | float | Gate  # bytes to write, seconds to pause, or a Gate to wait at


@dataclass
class Reply:
    """A scripted response.

    ``body`` is a list of byte chunks written one at a time (each flushed on
    its own, so the client sees separate reads); a float in the list pauses for
    that many seconds. ``cut=True`` closes the connection after the body
    without finishing the HTTP message (a stream cut mid-way). ``hang=True``
    keeps the connection open after the body until the client leaves.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "text/event-stream"})
    body: list[Chunk] = field(default_factory=list)
    cut: bool = False
    hang: bool = False

    @staticmethod
    def json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        return Reply(
            status=status,
            headers={"content-type": "application/json", **(headers or {})},
            body=[json.dumps(payload).encode()],
        )

    @staticmethod
    def sse(events: Iterable[str | bytes], **kwargs: Any) -> Reply:
        """One chunk per item; str items are encoded as UTF-8 as given."""
        return Reply(body=[e.encode() if isinstance(e, str) else e for e in events], **kwargs)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Handler = Callable[[Request], Reply]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    529: "Overloaded",
}


class ScriptedServer:
    """Use as a context manager: ``with ScriptedServer() as server: ...``.

    Give replies with :meth:`reply` (a queue, consumed in order; the last one
    repeats) or set :attr:`handler` for request-dependent answers.
    """

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler
        self._queue: list[Reply] = []
        self.requests: list[Request] = []
        self.disconnects = 0
        self.connections = 0
        """TCP connections accepted (to check that clients reuse pooled ones)."""
        self._disconnected = threading.Event()
        self._arrived = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- scripting ---------------------------------------------------------

    def reply(self, *replies: Reply) -> ScriptedServer:
        self._queue.extend(replies)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_requests(self, count: int, timeout: float) -> bool:
        """True once ``count`` requests have arrived within ``timeout`` seconds."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.requests) >= count, timeout)

    def wait_disconnect(self, timeout: float) -> bool:
        """True when a client closed its connection mid-response within
        ``timeout`` seconds (counted from the start of the wait)."""
        return self._disconnected.wait(timeout)

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> ScriptedServer:
        started = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(
                asyncio.start_server(self._serve, "127.0.0.1", 0)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            started.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        started.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        loop = self._loop
        if loop is not None and self._server is not None:
            server = self._server

            async def shutdown() -> None:
                server.close()
                for task in asyncio.all_tasks():
                    if task is not asyncio.current_task():
                        task.cancel()

            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(5)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    # -- serving -----------------------------------------------------------

    def _next_reply(self, request: Request) -> Reply:
        if self.handler is not None:
            return self.handler(request)
        if not self._queue:
            return Reply.json({"error": {"message": "no reply scripted"}}, status=500)
        return self._queue.pop(0) if len(self._queue) > 1 else self._queue[0]

    async def _read_request(self, reader: asyncio.StreamReader) -> Request | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = b""
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        return Request(method, path, headers, body)

    async def _watch_close(self, reader: asyncio.StreamReader) -> None:
        # Any read returning EOF means the client closed its side.
        while await reader.read(1024):
            pass

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    return
                with self._arrived:
                    self.requests.append(request)
                    self._arrived.notify_all()
                reply = self._next_reply(request)
                finished = await self._write_reply(reply, reader, writer)
                if not finished:
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            writer.close()

    async def _write_reply(
        self, reply: Reply, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        reason = _REASONS.get(reply.status, "Status")
        head = [f"HTTP/1.1 {reply.status} {reason}"]
        streaming = reply.cut or reply.hang or len(reply.body) != 1
        for name, value in reply.headers.items():
            head.append(f"{name}: {value}")
        if streaming:
            head.append("transfer-encoding: chunked")
        else:
            head.append(f"content-length: {len(reply.body[0])}")  # type: ignore[arg-type]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        if not streaming:
            body = reply.body[0]
            assert isinstance(body, bytes)
            writer.write(body)
            await writer.drain()
            return True
        await writer.drain()
        # While the response streams, a read on the socket only ever returns
        # EOF (HTTP/1.1 clients send nothing mid-response), so watching it
        # tells us when the client leaves. The watch stops before the final
        # chunk so it never eats the next request on a kept-alive connection.
        closed = asyncio.ensure_future(self._watch_close(reader))
        try:
            for chunk in reply.body:
                if isinstance(chunk, Gate):
                    opened = asyncio.ensure_future(chunk.wait())
                    done, _ = await asyncio.wait(
                        {closed, opened}, return_when=asyncio.FIRST_COMPLETED
                    )
                    opened.cancel()
                    if closed in done:
                        self._note_disconnect()
                        return False
                    continue
                if isinstance(chunk, float | int):
                    done, _ = await asyncio.wait({closed}, timeout=float(chunk))
                    if done:
                        self._note_disconnect()
                        return False
                    continue
                if closed.done():
                    self._note_disconnect()
                    return False
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
            if reply.cut:
                return False
            if reply.hang:
                await closed
                self._note_disconnect()
                return False
            closed.cancel()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return True
        except ConnectionError:
            self._note_disconnect()
            return False
        finally:
            closed.cancel()
            # Let the watcher finish before the caller reads the next request
            # on a kept-alive connection (two readers on one stream raise).
            await asyncio.wait({closed})

    def _note_disconnect(self) -> None:
        self.disconnects += 1
        self._disconnected.set()


async def drain(stream: AsyncIterator[Any]) -> list[Any]:
    """Collect every item of an async iterator."""
    return [item async for item in stream]
