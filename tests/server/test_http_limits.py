"""The connection limits of a real ``pluma serve`` (pluma.server.http.protocol):
request heads are bounded in size (431) and time (closed), connections are
capped (503 and a log line), and none of it touches a running stream.

Every wait here is on an event (the server answering or closing the socket);
socket timeouts are only a safety net for a server that never does."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from tests.support.scripted_server import Gate, Reply, ScriptedServer
from tests.support.server_process import PlumaServer
from uvicorn.server import ServerState

from pluma.server.http.protocol import ConnectionLimits, protocol_class

SAFETY = 20.0  # seconds a socket may wait before the test gives up
HEAD = b"GET /api/health?upstream=false HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def _connect(server: PlumaServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=SAFETY)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def test_a_huge_header_is_answered_431_after_the_limit_not_after_the_header(
    tmp_path: Path,
) -> None:
    with PlumaServer(tmp_path) as server:
        sock = _connect(server)
        sock.sendall(HEAD + b"X-Flood: ")
        # The header never ends: a server that waits for its end (as uvicorn
        # alone does) never answers; this one answers once past the limit.
        # Sends are non-blocking, so the test never waits on the kernel's
        # buffers, only on the answer.
        sent = 0
        piece = b"a" * 16384
        sock.setblocking(False)
        answer = b""
        while not answer:
            try:
                answer = sock.recv(65536)
                break
            except BlockingIOError:
                pass
            if sent >= 8 * 2**20:
                sock.settimeout(SAFETY)
                answer = sock.recv(65536)
                break
            try:
                sent += sock.send(piece)
            except BlockingIOError:
                sock.settimeout(SAFETY)  # the server stopped reading: wait for its answer
                answer = sock.recv(65536)
        sock.settimeout(SAFETY)
        answer += _read_until_closed(sock)
        sock.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 431 "), answer[:200]
        assert b"connection: close" in head.lower()
        error = json.loads(body)["error"]
        assert error["code"] == "headers_too_large"
        assert "65536 bytes" in error["message"]
        assert "431" in server.wait_for_log(
            r"WARNING pluma\.server: refused a request .*431"
        ).group(0)
        # the server is fine afterwards, and headers just under the limit pass
        with server.client() as client:
            ok = client.get("/api/health?upstream=false", headers={"x-big": "b" * 60_000})
            assert ok.status_code == 200


def test_a_concurrent_request_is_served_while_a_header_flood_is_being_sent(
    tmp_path: Path,
) -> None:
    with PlumaServer(tmp_path) as server:
        flood = _connect(server)
        flood.sendall(HEAD + b"X-Flood: " + b"a" * 40_000)  # under the limit: still open
        with server.client() as client:
            assert client.get("/api/health?upstream=false").status_code == 200
        flood.sendall(b"a" * 200_000)  # now over it
        answer = _read_until_closed(flood)
        assert answer.startswith(b"HTTP/1.1 431 ")
        flood.close()


def test_a_connection_that_never_finishes_its_head_is_closed(tmp_path: Path) -> None:
    with PlumaServer(tmp_path, env={"PLUMA_HEADER_TIMEOUT": "0.5"}) as server:
        partial = _connect(server)
        partial.sendall(HEAD)  # no blank line: the head never ends
        silent = _connect(server)  # sends nothing at all
        assert _read_until_closed(partial) == b""
        assert _read_until_closed(silent) == b""
        partial.close()
        silent.close()
        with server.client() as client:
            assert client.get("/api/health?upstream=false").status_code == 200


def test_a_stream_outlives_the_header_timeout(tmp_path: Path) -> None:
    """The timeout covers the head only: a stream held open past it (the
    upstream waits at a gate) still finishes."""
    gate = Gate()
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}],
    }
    last = {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    reply = Reply.sse(
        [
            f"data: {json.dumps(chunk)}\n\n",
            gate,
            f"data: {json.dumps(last)}\n\n",
            "data: [DONE]\n\n",
        ]
    )
    with (
        ScriptedServer().reply(reply) as upstream,
        PlumaServer(
            tmp_path,
            args=["--base-url", upstream.url + "/v1", "--model", "m"],
            env={"PLUMA_HEADER_TIMEOUT": "0.5"},
        ) as server,
        httpx.Client(base_url=server.url, timeout=SAFETY) as client,
        client.stream(
            "POST",
            "/v1/chat/completions",
            json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        ) as response,
    ):
        lines = response.iter_lines()
        assert next(line for line in lines if line.startswith("data:"))
        # A connection opened now is closed by the header timeout: once that
        # has happened, the stream above has been open longer than it.
        probe = _connect(server)
        assert _read_until_closed(probe) == b""
        probe.close()
        gate.open()
        rest = [line for line in lines if line.startswith("data:")]
        assert rest[-1] == "data: [DONE]"


def test_connections_beyond_the_limit_get_503_and_a_log_line(tmp_path: Path) -> None:
    env = {"PLUMA_MAX_CONNECTIONS": "4", "PLUMA_HEADER_TIMEOUT": "60"}
    with PlumaServer(tmp_path, env=env) as server:
        held = [_connect(server) for _ in range(4)]
        for sock in held:
            sock.sendall(HEAD)  # half a head each: they stay open
        # the four are accepted once a request on them would be answered: make
        # sure the server has seen them all before the fifth
        extra = _connect(server)
        answer = _read_until_closed(extra)
        extra.close()
        assert answer.startswith(b"HTTP/1.1 503 "), answer[:100]
        assert b"too_many_connections" in answer
        server.wait_for_log(r"connection limit reached: 4 connections are open \(limit 4")
        for sock in held:
            sock.close()
        # once they are gone, requests are served again (the server sees the
        # closes on its own schedule: retry until it has)
        deadline = time.monotonic() + SAFETY
        with httpx.Client(timeout=SAFETY) as client:
            while True:
                r = client.get(server.url + "/api/health?upstream=false")
                if r.status_code == 200 or time.monotonic() > deadline:
                    break
        assert r.status_code == 200


class _Transport(asyncio.Transport):
    """What the protocol writes, for feeding it reads of an exact size."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1), "sockname": ("127.0.0.1", 2)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def test_one_read_holding_a_whole_large_request_is_not_a_large_head() -> None:
    """A request whose head and 200 KB body arrive in a single read (a loaded
    machine coalesces them) is a normal request, not a 431."""
    received: list[int] = []
    answered = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        received.append(size)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        answered.set()

    config = uvicorn.Config(app, log_config=None, lifespan="off")
    config.load()
    protocol = protocol_class(ConnectionLimits(max_head_bytes=64 * 1024))(
        config=config, server_state=ServerState(), app_state={}
    )
    transport = _Transport()
    protocol.connection_made(transport)
    body = b"x" * 200_000
    protocol.data_received(
        b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )
    await asyncio.wait_for(answered.wait(), SAFETY)
    assert received == [200_000]
    assert transport.written.startswith(b"HTTP/1.1 200 ")
    # and one read of a head that never ends is refused
    protocol.data_received(b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000)
    protocol.data_received(b"a" * 1000)
    assert b"HTTP/1.1 431 " in transport.written
    protocol.connection_lost(None)
