"""The transport seam: an adapter streams through ``MockTransport`` exactly as
through a socket, with the same retry policy and failure reports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from pluma import llm
from pluma.llm.transport import (
    ConnectError,
    MockResponse,
    MockTransport,
    ReadError,
    Request,
    Transport,
)

MODEL = llm.Model(
    id="m", provider="local", protocol="openai-completions", base_url="http://127.0.0.1:9/v1"
)
CTX = llm.Context(messages=[llm.UserMessage("Hello")])
SSE = {"content-type": "text/event-stream"}


def chunk(text: str, finish: str | None = None) -> bytes:
    delta = f'{{"content":"{text}"}}' if text else "{}"
    reason = "null" if finish is None else f'"{finish}"'
    return (
        f'data: {{"id":"c1","object":"chat.completion.chunk","model":"m",'
        f'"choices":[{{"index":0,"delta":{delta},"finish_reason":{reason}}}]}}\n\n'
    ).encode()


def options(transport: Transport, **kw: object) -> llm.StreamOptions:
    return llm.StreamOptions(transport=transport, max_retry_delay=0.01, **kw)  # type: ignore[arg-type]


def test_mock_transport_is_a_transport() -> None:
    assert isinstance(MockTransport(lambda _r: MockResponse()), Transport)


async def test_a_stream_split_one_byte_at_a_time_assembles_the_same_message() -> None:
    body = chunk("Hel") + chunk("lo") + chunk("", "stop") + b"data: [DONE]\n\n"
    transport = MockTransport(
        lambda _r: MockResponse(200, SSE, [body[i : i + 1] for i in range(len(body))])
    )
    message = await llm.complete(MODEL, CTX, options(transport))
    assert message.text == "Hello"
    assert message.stop_reason == "stop"
    sent = transport.requests[0]
    assert sent.method == "POST"
    assert sent.url == "http://127.0.0.1:9/v1/chat/completions"
    assert b'"stream":true' in sent.content


async def test_an_async_handler_and_an_async_body_are_awaited() -> None:
    release = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield chunk("a")
        await release.wait()
        yield chunk("b", "stop")

    async def handler(_request: Request) -> MockResponse:
        return MockResponse(200, SSE, body())

    stream = llm.stream(MODEL, CTX, options(MockTransport(handler)))
    seen = []
    async for event in stream:
        seen.append(event.type)
        if event.type == "text_delta" and event.delta == "a":
            release.set()
    assert seen[-1] == "done"
    assert (await stream.result()).text == "ab"


async def test_a_read_error_mid_body_ends_in_one_error_keeping_the_partial_text() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield chunk("partial")
        raise ReadError("connection reset by peer")

    transport = MockTransport(lambda _r: MockResponse(200, SSE, body()))
    events = [event async for event in llm.stream(MODEL, CTX, options(transport))]
    assert [e.type for e in events].count("error") == 1
    final = events[-1]
    assert final.type == "error" and final.message is not None
    assert final.message.text == "partial"
    assert "connection reset by peer" in (final.message.error_message or "")


async def test_a_failed_send_is_retried_per_the_policy_then_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("pluma.llm.transport.http._backoff", lambda _attempt: 0.0)

    def refuse(_request: Request) -> MockResponse:
        raise ConnectError("connection refused")

    transport = MockTransport(refuse)
    events = [e async for e in llm.stream(MODEL, CTX, options(transport, max_retries=2))]
    assert len(transport.requests) == 3
    assert events[-1].type == "error"
    assert "connection refused" in (events[-1].message.error_message or "")  # type: ignore[union-attr]


async def test_an_error_status_carries_the_upstreams_message_and_no_retry_for_a_4xx() -> None:
    transport = MockTransport(
        lambda _r: MockResponse(
            400,
            {"content-type": "application/json"},
            b'{"error":{"message":"bad thing","type":"invalid_request_error"}}',
        )
    )
    with pytest.raises(llm.StreamError) as caught:
        await llm.complete(MODEL, CTX, options(transport))
    assert "bad thing" in str(caught.value)
    assert len(transport.requests) == 1
