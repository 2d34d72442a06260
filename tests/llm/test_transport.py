"""HTTP transport: retries before the first byte only, Retry-After, the
upstream's own error messages, and timeouts that never cap a live stream."""

from __future__ import annotations

import asyncio
import gc
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from tests.support.scripted_server import Reply, ScriptedServer

from pluma import llm
from pluma.llm.options import StreamOptions, Timeouts
from pluma.llm.transport.default import AiohttpTransport, shared_session
from pluma.llm.transport.http import close_shared_session, open_stream, read_sse


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as s:
        yield s


OK = Reply.sse(["data: one\n\n", "data: two\n\n"])


async def fetch(url: str, options: StreamOptions) -> list[str]:
    async with open_stream(url, headers={}, body={"q": 1}, options=options) as response:
        return [e.data async for e in read_sse(response, options.timeouts)]


def err(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply.json({"error": {"message": message, "type": "t", "code": "c"}}, status, headers)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 529])
async def test_retryable_statuses_are_retried(server: ScriptedServer, status: int) -> None:
    server.reply(err(status, "busy", {"retry-after-ms": "10"}), OK)
    assert await fetch(server.url, StreamOptions(max_retries=2)) == ["one", "two"]
    assert len(server.requests) == 2
    assert server.requests[1].json() == {"q": 1}


async def test_retry_after_is_honoured(server: ScriptedServer) -> None:
    server.reply(err(429, "slow down", {"retry-after": "1"}), OK)
    started = time.monotonic()
    assert await fetch(server.url, StreamOptions()) == ["one", "two"]
    assert time.monotonic() - started >= 0.95
    assert len(server.requests) == 2


async def test_retry_after_beyond_the_bound_is_reported_at_once(server: ScriptedServer) -> None:
    server.reply(err(429, "come back tomorrow", {"retry-after": "3600"}), OK)
    started = time.monotonic()
    with pytest.raises(llm.ProviderError) as info:
        await fetch(server.url, StreamOptions(max_retry_delay=5))
    assert time.monotonic() - started < 1
    assert len(server.requests) == 1
    assert info.value.status == 429 and info.value.retry_after == 3600
    assert info.value.message == "come back tomorrow" and info.value.retryable


async def test_backoff_without_retry_after(server: ScriptedServer) -> None:
    server.reply(err(503, "down"), OK)
    started = time.monotonic()
    assert await fetch(server.url, StreamOptions()) == ["one", "two"]
    assert time.monotonic() - started >= 0.3  # 0.5 s ± 25 % jitter for the first retry


async def test_retries_stop_after_max_retries(server: ScriptedServer) -> None:
    server.reply(err(500, "still broken", {"retry-after-ms": "1"}))
    with pytest.raises(llm.ProviderError) as info:
        await fetch(server.url, StreamOptions(max_retries=2))
    assert len(server.requests) == 3
    assert info.value.status == 500 and "still broken" in str(info.value)


async def test_400_is_not_retried_and_keeps_the_upstream_message(server: ScriptedServer) -> None:
    server.reply(
        Reply.json(
            {
                "type": "error",
                "error": {"type": "invalid_request_error", "message": "max_tokens: too big"},
            },
            400,
        ),
        OK,
    )
    with pytest.raises(llm.ProviderError) as info:
        await fetch(server.url, StreamOptions(max_retries=3))
    assert len(server.requests) == 1
    error = info.value
    assert (error.status, error.type, error.message) == (
        400,
        "invalid_request_error",
        "max_tokens: too big",
    )
    assert not error.retryable
    assert str(error) == "max_tokens: too big (HTTP 400)"


async def test_plain_text_error_body_is_kept(server: ScriptedServer) -> None:
    server.reply(Reply(status=404, headers={"content-type": "text/plain"}, body=[b"no such route"]))
    with pytest.raises(llm.ProviderError, match="no such route"):
        await fetch(server.url, StreamOptions())


async def test_never_retried_after_bytes_were_read(server: ScriptedServer) -> None:
    server.reply(Reply.sse(["data: one\n\n"], cut=True), OK)
    with pytest.raises(llm.ProviderError, match="mid-stream"):
        await fetch(server.url, StreamOptions(max_retries=3))
    assert len(server.requests) == 1


class RawServer:
    """A TCP server on 127.0.0.1 whose connection handler the test writes:
    for faults the scripted HTTP server cannot produce (closing before any
    response, never answering)."""

    def __init__(self, handler: object) -> None:
        self.handler = handler
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.handler(self.connections, reader, writer)  # type: ignore[operator]
            finally:
                writer.close()

        self.server = await asyncio.start_server(serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"


async def _read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    await reader.readexactly(length)


async def test_connection_closed_before_response_is_retried() -> None:
    async def handler(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        if n == 1:
            return  # close without a byte of response
        body = b"data: ok\n\n"
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n")
        writer.write(b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body))
        await writer.drain()

    async with RawServer(handler) as raw:
        assert await fetch(raw.url, StreamOptions(max_retries=1)) == ["ok"]
        assert raw.connections == 2


async def test_refused_connection_is_retried_then_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        started = time.monotonic()
        with pytest.raises(llm.ProviderError) as info:
            await fetch(f"http://127.0.0.1:{port}/v1", StreamOptions(max_retries=1))
        # one backoff (0.5 s ± 25 %) happened between the two attempts
        assert time.monotonic() - started >= 0.3
    assert f"cannot reach http://127.0.0.1:{port}" in str(info.value)
    assert info.value.retryable


async def test_connect_timeout() -> None:
    # A listener with a full accept queue: the kernel drops further SYNs, so
    # connecting hangs until the connect timeout.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        filler = socket.create_connection(("127.0.0.1", port))
        try:
            options = StreamOptions(max_retries=0, timeouts=Timeouts(connect=0.3))
            started = time.monotonic()
            with pytest.raises(llm.UpstreamTimeout, match="timed out connecting"):
                await fetch(f"http://127.0.0.1:{port}", options)
            assert time.monotonic() - started < 2
        finally:
            filler.close()


async def test_an_answer_that_is_not_http_is_reported_without_retrying() -> None:
    """Another protocol on the port (here an SSH banner): the message says so."""

    async def handler(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await writer.drain()

    async with RawServer(handler) as raw:
        with pytest.raises(llm.ProviderError) as info:
            await fetch(raw.url, StreamOptions(max_retries=2))
        assert raw.connections == 1
        url = raw.url
    message = str(info.value)
    assert message.startswith(f"{url} did not answer with valid HTTP (Bad status line)")
    assert "scheme (http or https) and port" in message
    assert not info.value.retryable


@pytest.mark.parametrize(
    "url",
    [
        "http://user:sk-in-the-url-123@127.0.0.1:99999999/v1?key=sk-in-the-query-456",
        "ftp://user:sk-in-the-url-123@example.test/v1",
    ],
)
async def test_an_unusable_url_is_reported_without_its_credentials(url: str) -> None:
    with pytest.raises(llm.ProviderError) as info:
        await fetch(url, StreamOptions(max_retries=2))
    message = str(info.value)
    assert "is not a usable http:// or https:// URL; check the base URL" in message
    assert "sk-in-the" not in message and "user" not in message
    assert not info.value.retryable


async def test_first_byte_timeout_while_waiting_for_headers() -> None:
    async def handler(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(30)

    async with RawServer(handler) as raw:
        options = StreamOptions(max_retries=2, timeouts=Timeouts(first_byte=0.3))
        started = time.monotonic()
        with pytest.raises(llm.UpstreamTimeout, match="first-byte"):
            await fetch(raw.url, options)
        assert time.monotonic() - started < 1.5
        assert raw.connections == 1  # a first-byte timeout is not retried


async def test_first_byte_timeout_covers_headers_and_first_body_bytes(
    server: ScriptedServer,
) -> None:
    server.reply(Reply(body=[30.0, b"data: late\n\n"]))
    options = StreamOptions(timeouts=Timeouts(first_byte=0.3, idle=10))
    started = time.monotonic()
    with pytest.raises(llm.UpstreamTimeout, match="first-byte"):
        await fetch(server.url, options)
    assert time.monotonic() - started < 1.5


async def test_idle_timeout_cuts_a_silent_stream(server: ScriptedServer) -> None:
    server.reply(Reply(body=[b"data: one\n\n", 30.0, b"data: two\n\n"]))
    options = StreamOptions(timeouts=Timeouts(first_byte=5, idle=0.3))
    seen: list[str] = []
    started = time.monotonic()
    with pytest.raises(llm.UpstreamTimeout, match="idle"):
        async with open_stream(server.url, headers={}, body={}, options=options) as response:
            async for event in read_sse(response, options.timeouts):
                seen.append(event.data)
    assert seen == ["one"]
    assert time.monotonic() - started < 1.5
    assert await asyncio.to_thread(server.wait_disconnect, 1.0)


async def test_slow_but_live_stream_is_never_cut(server: ScriptedServer) -> None:
    # 15 events 0.1 s apart: 1.5 s in total, far beyond both timeouts, but
    # never silent for longer than the idle timeout.
    body: list[bytes | float] = []
    for i in range(15):
        body += [0.1, b"data: %d\n\n" % i]
    server.reply(Reply(body=body))
    options = StreamOptions(timeouts=Timeouts(first_byte=0.6, idle=0.6))
    started = time.monotonic()
    assert await fetch(server.url, options) == [str(i) for i in range(15)]
    assert time.monotonic() - started > 1.2


async def test_keep_alive_comments_count_as_activity(server: ScriptedServer) -> None:
    body: list[bytes | float] = [b"data: start\n\n"]
    for _ in range(8):
        body += [0.15, b": keep-alive\n\n"]
    body.append(b"data: end\n\n")
    server.reply(Reply(body=body))
    # 1.2 s without data between "start" and "end", only comments
    options = StreamOptions(timeouts=Timeouts(first_byte=1, idle=0.6))
    assert await fetch(server.url, options) == ["start", "end"]


async def test_leaving_the_block_closes_the_connection(server: ScriptedServer) -> None:
    server.reply(Reply(body=[b"data: one\n\n", 30.0, b"data: two\n\n"]))

    async def first_only() -> AsyncIterator[str]:
        async with open_stream(server.url, headers={}, body={}, options=StreamOptions()) as resp:
            async for event in read_sse(resp, Timeouts()):
                yield event.data
                return

    assert [d async for d in first_only()] == ["one"]
    assert await asyncio.to_thread(server.wait_disconnect, 1.0)


async def test_request_carries_json_and_headers(server: ScriptedServer) -> None:
    server.reply(OK)
    options = StreamOptions()
    async with open_stream(
        server.url + "/v1/x", headers={"x-api-key": "k"}, body={"a": [1, "é"]}, options=options
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
    request = server.requests[0]
    assert (request.method, request.path) == ("POST", "/v1/x")
    assert request.json() == {"a": [1, "é"]}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "text/event-stream"
    assert request.headers["x-api-key"] == "k"


async def test_a_key_echoed_by_the_upstream_is_masked(server: ScriptedServer) -> None:
    key = "sk-live-1234567890abcdef"
    server.reply(err(401, f"Incorrect API key provided: {key}. Check it."))
    with pytest.raises(llm.ProviderError) as info:
        async with open_stream(
            server.url, headers={"Authorization": f"Bearer {key}"}, body={}, options=StreamOptions()
        ):
            pass
    assert key not in str(info.value) and key not in repr(info.value)
    assert "Incorrect API key provided: sk-…***. Check it." in str(info.value)
    assert info.value.status == 401


@pytest.mark.parametrize(
    "shown",
    [
        lambda k: k[:-4],  # the key minus its last 4 characters
        lambda k: k[5:],  # minus its first 5
        lambda k: "..." + k[-10:],  # its last 10 only
        lambda k: k[4:16],  # a piece from the middle
    ],
)
async def test_a_key_echoed_in_part_is_masked(server: ScriptedServer, shown: Any) -> None:
    key = "sk-live-1234567890abcdef"
    server.reply(err(401, f"Incorrect API key provided: {shown(key)}. Check it."))
    with pytest.raises(llm.ProviderError) as info:
        async with open_stream(
            server.url, headers={"Authorization": f"Bearer {key}"}, body={}, options=StreamOptions()
        ):
            pass
    message = str(info.value)
    assert shown(key) not in message, message
    for start in range(len(key) - 8):
        assert key[start : start + 8] not in message, message
    assert message.startswith("Incorrect API key provided: ") and "***" in message


@pytest.mark.parametrize(
    ("body", "message", "code", "type_"),
    [
        (b'{"error": {"message": "bad model", "type": "invalid_request_error", "code": "model_not_found"}}',
         "bad model", "model_not_found", "invalid_request_error"),
        (b'{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}',
         "Overloaded", None, "overloaded_error"),
        (b'{"detail": "Not Found"}', "Not Found", None, None),
        (b'{"message": "quota exceeded", "code": 42}', "quota exceeded", "42", None),
        (b'{"error": "model is loading"}', "model is loading", None, None),
        (b"<html>502 Bad Gateway</html>", "<html>502 Bad Gateway</html>", None, None),
        (b"", "Bad Gateway", None, None),
    ],
)  # fmt: skip
def test_error_from_body_keeps_the_upstream_words(
    body: bytes, message: str, code: str | None, type_: str | None
) -> None:
    from pluma.llm.transport.http import error_from_body

    error = error_from_body(502, body, "Bad Gateway")
    assert (error.message, error.code, error.type, error.status) == (message, code, type_, 502)
    assert error.retryable


def test_retry_after_forms() -> None:
    import email.utils

    from pluma.llm.transport.http import _retry_after

    def with_headers(**headers: str) -> dict[str, str]:
        return {k.replace("_", "-"): v for k, v in headers.items()}

    assert _retry_after(with_headers(retry_after="2")) == 2.0
    assert _retry_after(with_headers(retry_after_ms="150", retry_after="9")) == 0.15
    assert _retry_after(with_headers()) is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    delay = _retry_after(with_headers(retry_after=later))
    assert delay is not None and 25 < delay <= 31
    assert _retry_after(with_headers(retry_after="soon")) is None


async def test_a_caller_supplied_aiohttp_session_is_used(server: ScriptedServer) -> None:
    server.reply(OK)
    async with aiohttp.ClientSession(headers={"x-from-session": "yes"}) as session:
        options = StreamOptions(transport=AiohttpTransport(session))
        assert await fetch(server.url, options) == ["one", "two"]
        assert not session.closed
    assert server.requests[0].headers["x-from-session"] == "yes"


async def test_shared_session_is_per_event_loop() -> None:
    here = shared_session()
    assert shared_session() is here

    async def other() -> int:
        return id(shared_session())

    assert await asyncio.to_thread(asyncio.run, other()) != id(here)


def test_shared_session_is_closed_when_its_loop_shuts_down(server: ScriptedServer) -> None:
    """asyncio.run closes the session (and its pooled connection) on the way
    out, with no "Unclosed client session" report."""
    server.reply(OK)
    reports: list[dict[str, object]] = []

    async def use() -> aiohttp.ClientSession:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: reports.append(ctx))
        assert await fetch(server.url, StreamOptions()) == ["one", "two"]
        return shared_session()

    session = asyncio.run(use())
    assert session.closed
    del session
    gc.collect()
    assert reports == []


async def test_close_shared_session_closes_the_pool(server: ScriptedServer) -> None:
    server.reply(OK)
    assert await fetch(server.url, StreamOptions()) == ["one", "two"]
    session = shared_session()
    await close_shared_session()
    assert session.closed
    assert shared_session() is not session
    assert await fetch(server.url, StreamOptions()) == ["one", "two"]
    assert server.connections == 2


async def test_proxy_from_the_environment_is_used(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY is honoured (read when the loop's session opens): the proxy
    gets the request in absolute form."""
    server.reply(OK)
    await close_shared_session()
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.setenv("NO_PROXY", "")
    try:
        target = "http://upstream.invalid:9/v1/chat"
        assert await fetch(target, StreamOptions(max_retries=0)) == ["one", "two"]
    finally:
        await close_shared_session()
    assert server.requests[0].path == target
    assert server.requests[0].headers["host"] == "upstream.invalid:9"


async def test_no_proxy_exempts_a_host(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.reply(OK)
    await close_shared_session()
    with socket.socket() as dead:
        dead.bind(("127.0.0.1", 0))  # bound, not listening: a proxy that refuses
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead.getsockname()[1]}")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        try:
            assert await fetch(server.url, StreamOptions(max_retries=0)) == ["one", "two"]
        finally:
            await close_shared_session()


async def test_bodies_are_asked_uncompressed(server: ScriptedServer) -> None:
    server.reply(OK)
    assert await fetch(server.url, StreamOptions()) == ["one", "two"]
    assert server.requests[0].headers["accept-encoding"] == "identity"


async def test_a_compressed_stream_is_still_decoded(server: ScriptedServer) -> None:
    """An upstream (or a proxy in front of it) that gzips the event stream anyway."""
    import gzip

    packed = gzip.compress(b"data: one\n\ndata: tw\xc3\xa9\n\n")
    server.reply(
        Reply(
            headers={"content-type": "text/event-stream", "content-encoding": "gzip"},
            body=[packed[:9], packed[9:]],
        )
    )
    assert await fetch(server.url, StreamOptions()) == ["one", "twé"]


async def test_an_error_body_that_stalls_still_ends_with_the_status(
    server: ScriptedServer,
) -> None:
    """Headers of a 500, a few body bytes, then silence: reported within the
    read timeouts instead of hanging, and retried like any 500."""
    stalled = Reply(status=500, headers={"content-type": "application/json"}, body=[b'{"err', 30.0])
    timeouts = Timeouts(first_byte=5, idle=0.3)
    server.reply(stalled)
    started = time.monotonic()
    with pytest.raises(llm.ProviderError) as info:
        await fetch(server.url, StreamOptions(max_retries=0, timeouts=timeouts))
    assert time.monotonic() - started < 2
    assert info.value.status == 500 and info.value.retryable
    assert "Internal Server Error" in str(info.value)

    server.reply(OK)  # queued after the stalled one, which repeats until then
    assert await fetch(server.url, StreamOptions(max_retries=1, timeouts=timeouts)) == [
        "one",
        "two",
    ]


async def test_a_web_page_instead_of_an_api_is_a_clear_error(server: ScriptedServer) -> None:
    """A base URL pointing at a server's web UI rather than its API."""
    server.reply(
        Reply(headers={"content-type": "text/html; charset=utf-8"}, body=[b"<html>UI</html>"])
    )
    with pytest.raises(llm.ProviderError, match="answered with a web page") as info:
        await fetch(server.url, StreamOptions(max_retries=2))
    assert "check the base URL" in str(info.value)
    assert len(server.requests) == 1  # not retried


async def test_a_404_says_which_url_was_missing(server: ScriptedServer) -> None:
    """Ollama without /v1 in the base URL answers a bare ``404 page not found``."""
    server.reply(
        Reply(status=404, headers={"content-type": "text/plain"}, body=[b"404 page not found"])
    )
    with pytest.raises(llm.ProviderError) as info:
        await fetch(server.url + "/chat/completions?api-version=1", StreamOptions())
    assert str(info.value) == (
        f"404 page not found — POST {server.url}/chat/completions was not found: "
        "check the base URL and the model id (HTTP 404)"
    )
    assert info.value.status == 404 and not info.value.retryable
    assert len(server.requests) == 1


async def test_a_redirect_is_not_followed_but_named(server: ScriptedServer) -> None:
    """http:// where the upstream wants https://, or a moved path: the POST is
    not replayed elsewhere; the error says where the server points."""
    server.reply(
        Reply(status=308, headers={"location": "https://api.example.test/v1/x"}, body=[b""])
    )
    with pytest.raises(llm.ProviderError) as info:
        await fetch(server.url + "/v1/x", StreamOptions())
    assert "the server redirects to https://api.example.test/v1/x" in str(info.value)
    assert info.value.status == 308 and len(server.requests) == 1
