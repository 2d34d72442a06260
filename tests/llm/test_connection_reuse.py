"""Streams that reach their end marker give their connection back to the pool.

A connection is pooled again only once its body has been read to the end (the
last chunk of a chunked response comes just after the end marker), so without
``finish_body`` every stream would open a new TCP connection (a measurable
share of time-to-first-byte through the server).
"""

from __future__ import annotations

import asyncio

from tests.support import anthropic_streams as an
from tests.support import openai_streams as oa
from tests.support.scripted_server import Reply, ScriptedServer

from pluma import llm


async def test_openai_streams_share_one_connection() -> None:
    with ScriptedServer() as server:
        server.reply(Reply.sse(oa.sse(oa.text_stream(["Hel", "lo"]))))
        model = oa.model_for(server.url)
        for _ in range(5):
            message = await llm.complete(model, llm.Context(messages=[llm.UserMessage("hi")]))
            assert message.text == "Hello"
        assert len(server.requests) == 5
        assert server.connections == 1


async def test_anthropic_streams_share_one_connection() -> None:
    with ScriptedServer() as server:
        server.reply(Reply.sse(an.text_stream("Hel", "lo")))
        model = llm.Model(
            id="claude-test",
            provider="anthropic",
            protocol="anthropic-messages",
            base_url=server.url + "/v1",
        )
        options = llm.StreamOptions(api_key="test-key")
        for _ in range(5):
            message = await llm.complete(
                model, llm.Context(messages=[llm.UserMessage("hi")]), options
            )
            assert message.text == "Hello"
        assert len(server.requests) == 5
        assert server.connections == 1


async def test_aborted_stream_does_not_wait_for_the_body() -> None:
    """An abort mid-stream closes the connection at once (no draining)."""
    with ScriptedServer() as server:
        first = oa.sse([oa.chunk({"content": "partial"})], done=False)
        server.reply(Reply(body=[*(c.encode() for c in first), 30.0]))
        model = oa.model_for(server.url)
        stream = llm.stream(model, llm.Context(messages=[llm.UserMessage("hi")]))
        async for event in stream:
            if event.type == "text_delta":
                stream.abort()
        message = await stream.result()
        assert message.stop_reason == "aborted"
        assert message.text == "partial"
        assert await asyncio.to_thread(server.wait_disconnect, 1.0)
