"""The streaming response every chat endpoint uses, and the relay loop that
feeds it.

Why not Starlette's ``StreamingResponse``: it only starts watching for the
client's ``http.disconnect`` once the response has started, and the
``/v1`` endpoints hold their headers back until the upstream has answered
(so an upstream 429 or a refused connection becomes a real HTTP status the
SDKs understand). :class:`RelayResponse` watches for the disconnect from the
first moment; a disconnect cancels the body, which cancels the upstream read
and closes its connection at once, also while waiting for the first token.
Cleanup (closing the event stream, saving the partial reply) runs shielded so
the cancellation cannot cut it short.

| body does                           | client gets                                |
|-------------------------------------|--------------------------------------------|
| raises before its first frame       | the error's status, its JSON body in ``shape`` |
| yields frames                       | 200 ``text/event-stream`` with them        |
| the client disconnects at any point | nothing more; upstream closed within ms    |

Frames produced back to back (one upstream read holding many events) go out
in one write; see :func:`_coalesce`. That halves the gateway's added time on
a fast 200-chunk stream, since each write is a syscall.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import anyio
import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from pluma import llm
from pluma.server.errors import ClientClosed, UpstreamError, as_error, error_for_event
from pluma.server.http.errors import Shape, error_body

SSE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class RelayResponse(Response):
    """An ASGI response streaming ``body``'s frames (see the module table).

    An error raised before the first frame is answered in ``shape`` (see
    :mod:`pluma.server.http.errors`).
    """

    def __init__(self, body: AsyncIterator[str], shape: Shape) -> None:
        super().__init__(status_code=200, media_type="text/event-stream")
        self.frames = body
        self.shape: Shape = shape

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Plain asyncio, not an anyio task group: one watcher task, and the
        # disconnect cancels this task directly. The group's cancel scopes cost
        # more than the relay of a short stream does.
        task = asyncio.current_task()
        assert task is not None
        cancelling = task.cancelling()
        sending = True
        left = False

        async def watch() -> None:
            nonlocal left
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    if sending:  # single-threaded: the cancel lands inside _send_all
                        left = True
                        task.cancel()
                    return

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            await self._send_all(send)
            sending = False
        except asyncio.CancelledError:
            sending = False
            if not left or task.uncancel() > cancelling:
                raise  # cancelled from elsewhere (shutdown): not ours to swallow
        finally:
            sending = False
            watcher.cancel()
            with anyio.CancelScope(shield=True):
                await _aclose(self.frames)

    async def _send_all(self, send: Send) -> None:
        body = self.frames
        try:
            first = await body.__anext__()
        except StopAsyncIteration:
            first = ""
        except Exception as exc:  # an error, or a server fault before anything was sent
            failure = as_error(exc)
            payload = orjson.dumps(error_body(failure, self.shape))
            await send(
                {
                    "type": "http.response.start",
                    "status": failure.status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(payload)).encode()),
                        *((k.encode(), v.encode()) for k, v in failure.headers().items()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": payload, "more_body": False})
            return
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        if first:
            await send({"type": "http.response.body", "body": first.encode(), "more_body": True})
        await _coalesce(body, send)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


MAX_PENDING = 256
"""Frames the reader may get ahead of a slow client before it waits."""


async def _coalesce(body: AsyncIterator[str], send: Send) -> None:
    """Send ``body``'s frames, several per write when they come faster than
    the socket takes them.

    A reader task pulls frames; the writer sends everything gathered since
    its last write as one chunk. A frame that arrives alone goes out alone
    and at once (no timer, no added latency); frames produced back to back
    (one upstream read holding many events) share one write, which is what
    per-write costs (a syscall each) are saved on.
    """
    pending: list[str] = []
    ready = asyncio.Event()
    room = asyncio.Event()
    finished = False

    async def read() -> None:
        nonlocal finished
        try:
            async for frame in body:
                pending.append(frame)
                ready.set()
                if len(pending) >= MAX_PENDING:
                    room.clear()
                    await room.wait()
        finally:
            finished = True
            ready.set()

    reader = asyncio.get_running_loop().create_task(read())
    try:
        while True:
            if not pending:
                if finished:
                    break
                ready.clear()
                await ready.wait()
                continue
            data = "".join(pending).encode()
            pending.clear()
            room.set()
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await reader  # the reader's own failure, if any, is ours
    finally:
        if not reader.done():  # we failed or were cancelled: stop reading, wait for its cleanup
            reader.cancel()
            await asyncio.wait([reader])


async def _aclose(body: AsyncIterator[str]) -> None:
    aclose = getattr(body, "aclose", None)
    if aclose is not None:
        await aclose()


async def relay(
    stream: llm.EventStream,
    encode: Callable[[llm.Event], list[str]],
    *,
    defer: bool,
    on_end: Callable[[llm.AssistantMessage], None] | None = None,
) -> AsyncIterator[str]:
    """Encode ``stream``'s events into frames, one string per event.

    ``defer``: wait for the upstream's first real event before producing
    anything, and raise its error if the stream fails before it (the
    response then answers with an HTTP error). ``on_end`` gets the final
    message however the stream ends — done, error, or aborted because the
    client left (then with ``stop_reason`` ``aborted``).
    """
    try:
        held: list[llm.Event] = []
        if defer:
            async for event in stream:
                if event.type == "error":
                    raise error_for_event(event)
                held.append(event)
                if event.type != "start":
                    break
        for event in held:
            frames = encode(event)
            if frames:
                yield "".join(frames)
        async for event in stream:
            frames = encode(event)
            if frames:
                yield "".join(frames)
    finally:
        with anyio.CancelScope(shield=True):
            await stream.aclose()
            if on_end is not None:
                terminal = stream.terminal
                if terminal is not None and terminal.message is not None:
                    # a store write (disk, database): off the loop every stream shares
                    await anyio.to_thread.run_sync(on_end, terminal.message)


async def drain(stream: llm.EventStream, receive: Receive | None = None) -> llm.AssistantMessage:
    """The final message of a non-streaming call; raises the stream's error.

    With ``receive`` (the request's ASGI receive, its body already read), a
    client that disconnects while the reply is made cancels the upstream call
    at once, as on the streaming paths; this then raises a 499
    :class:`ClientClosed` that nobody reads.
    """
    if receive is None:
        return await _drain(stream)
    outcome: llm.AssistantMessage | Exception | None = None
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()

        group.start_soon(watch)
        try:
            outcome = await _drain(stream)
        except Exception as exc:  # re-raised below, not wrapped in an ExceptionGroup
            outcome = exc
        finally:
            group.cancel_scope.cancel()
    if isinstance(outcome, Exception):
        raise outcome
    if outcome is None:
        raise ClientClosed("the client closed the connection")
    return outcome


async def _drain(stream: llm.EventStream) -> llm.AssistantMessage:
    async with stream:
        async for event in stream:
            if event.type == "error":
                raise error_for_event(event)
            if event.type == "done" and event.message is not None:
                return event.message
    raise UpstreamError("upstream: the stream ended without a reply")
