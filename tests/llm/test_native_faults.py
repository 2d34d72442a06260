"""Faults and connection handling, the same for the three native adapters
(``openai-responses``, ``google-generative-ai``, ``ollama``): abort,
stalls, retries before the first byte, pooled connections, answers that are
not streams, and API keys."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tests.llm.test_openai_stream import check_lifecycle
from tests.support import gemini_streams as g
from tests.support import ollama_streams as o
from tests.support import responses_streams as r
from tests.support.scripted_server import Chunk, Reply, ScriptedServer

from pluma import llm


@dataclass
class Protocol:
    name: str
    headers: dict[str, str]
    head: list[bytes]  # the start of a reply: "Before " and "abort" streamed
    whole: list[bytes]  # a complete reply with the text "Before abort"

    def model(self, url: str) -> llm.Model:
        if self.name == "openai-responses":
            return llm.Model(r.MODEL, "openai", self.name, base_url=url + "/v1")
        if self.name == "google-generative-ai":
            return llm.Model(g.MODEL, "google", self.name, base_url=url + "/v1beta")
        return llm.Model(o.MODEL, "ollama", self.name, base_url=url)

    def reply(self, body: list[Chunk], **kw: Any) -> Reply:
        return Reply(headers=dict(self.headers), body=body, **kw)


def _responses() -> Protocol:
    t = r.Transcript()
    t.message(["Before ", "abort"])
    t.completed(r.usage(5, 2))
    frames = t.frames()
    return Protocol("openai-responses", {"content-type": "text/event-stream"}, frames[:6], frames)


def _gemini() -> Protocol:
    chunks = [g.chunk([{"text": "Before "}]), g.chunk([{"text": "abort"}])]
    whole = g.frames([*chunks, g.chunk([], finish="STOP", usage=g.usage(5, 2))])
    return Protocol("google-generative-ai", {"content-type": "text/event-stream"}, whole[:2], whole)


def _ollama() -> Protocol:
    frames = o.frames([o.line("Before "), o.line("abort"), o.final()])
    return Protocol("ollama", {"content-type": "application/x-ndjson"}, frames[:2], frames)


PROTOCOLS = [_responses(), _gemini(), _ollama()]
IDS = [p.name for p in PROTOCOLS]
CONTEXT = llm.Context(messages=[llm.UserMessage("hi")])


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as s:
        yield s


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=IDS)
async def test_abort_mid_stream_releases_the_upstream(
    server: ScriptedServer, protocol: Protocol
) -> None:
    server.reply(protocol.reply([*protocol.head, 30.0, *protocol.whole[len(protocol.head) :]]))
    stream = llm.stream(protocol.model(server.url), CONTEXT, llm.StreamOptions(api_key="k"))
    seen: list[llm.Event] = []
    got_text = asyncio.Event()

    async def consume() -> None:
        async for event in stream:
            seen.append(event)
            if event.type == "text_delta" and event.delta == "abort":
                got_text.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_text.wait(), 5)
    stream.abort()
    await asyncio.wait_for(task, 5)
    check_lifecycle(seen)
    last = seen[-1].message
    assert last is not None and last.stop_reason == "aborted"
    assert last.text == "Before abort"
    assert await asyncio.to_thread(server.wait_disconnect, 1.0)


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=IDS)
async def test_a_stall_hits_the_idle_timeout(server: ScriptedServer, protocol: Protocol) -> None:
    server.reply(protocol.reply([*protocol.head, 30.0]))
    options = llm.StreamOptions(api_key="k", max_retries=0, timeouts=llm.Timeouts(idle=0.3))
    stream = llm.stream(protocol.model(server.url), CONTEXT, options)
    events = await asyncio.wait_for(_drain(stream), 5)
    check_lifecycle(events)
    assert isinstance(events[-1].error, llm.UpstreamTimeout)
    message = events[-1].message
    assert message is not None and message.text == "Before abort"
    assert await asyncio.to_thread(server.wait_disconnect, 1.0)


async def _drain(stream: llm.EventStream) -> list[llm.Event]:
    return [event async for event in stream]


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=IDS)
async def test_overloaded_is_retried_then_streams(
    server: ScriptedServer, protocol: Protocol
) -> None:
    server.reply(
        Reply.json({"error": {"message": "overloaded"}}, status=503, headers={"retry-after": "0"}),
        protocol.reply(protocol.whole),
    )
    message = await llm.stream(
        protocol.model(server.url), CONTEXT, llm.StreamOptions(api_key="k")
    ).result()
    assert message.stop_reason == "stop", message.error_message
    assert message.text == "Before abort"
    assert len(server.requests) == 2


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=IDS)
async def test_sequential_calls_reuse_one_connection(
    server: ScriptedServer, protocol: Protocol
) -> None:
    server.reply(protocol.reply(protocol.whole))
    for _ in range(3):
        message = await llm.stream(
            protocol.model(server.url), CONTEXT, llm.StreamOptions(api_key="k")
        ).result()
        assert message.stop_reason == "stop", message.error_message
    assert server.connections == 1


async def test_gemini_json_array_answer(server: ScriptedServer) -> None:
    """Without ``alt=sse`` streamGenerateContent answers one JSON array."""
    chunks = [g.chunk([{"text": "Hel"}]), g.chunk([{"text": "lo"}], finish="STOP")]
    server.reply(Reply.json(chunks))
    message = await llm.stream(_gemini().model(server.url), CONTEXT, llm.StreamOptions()).result()
    assert (message.text, message.stop_reason) == ("Hello", "stop")


async def test_responses_json_answer(server: ScriptedServer) -> None:
    """A server that ignores ``stream: true`` answers one Response object."""
    t = r.Transcript()
    t.reasoning([["plan"]], encrypted="enc")
    t.function_calls([("call_1", "lookup", ['{"q": 1}'])])
    t.completed(r.usage(3, 4))
    server.reply(Reply.json(t.events[-1]["response"]))
    message = await llm.stream(
        _responses().model(server.url), CONTEXT, llm.StreamOptions()
    ).result()
    assert message.stop_reason == "toolUse"
    assert message.thinking == "plan"
    assert [(c.id, c.arguments) for c in message.tool_calls] == [("call_1", {"q": 1})]


async def test_gemini_key_from_the_environment_only_to_google(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-env-key-123456")
    remote = llm.Model(g.MODEL, "google", "google-generative-ai")
    monkeypatch.delenv("GEMINI_API_KEY")
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with pytest.raises(llm.MissingAPIKeyError, match="GEMINI_API_KEY, GOOGLE_API_KEY"):
        llm.stream(remote, CONTEXT)
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-env-key-123456")
    # A loopback server is not Google's: the environment's key is not sent there.
    server.reply(Reply(body=_gemini().whole))
    await llm.stream(_gemini().model(server.url), CONTEXT).result()
    assert "x-goog-api-key" not in server.requests[0].headers
    assert os.environ["GEMINI_API_KEY"] not in server.requests[0].path


async def test_ollama_without_a_base_url_uses_the_local_default() -> None:
    from pluma.llm.protocols.ollama import OLLAMA_BASE, chat_url

    model = llm.Model(o.MODEL, "ollama", "ollama")
    assert chat_url(model, llm.StreamOptions()) == OLLAMA_BASE + "/api/chat"
    api = llm.Model(o.MODEL, "ollama", "ollama", base_url="http://10.0.0.2:11434/api/")
    assert chat_url(api, llm.StreamOptions()) == "http://10.0.0.2:11434/api/chat"


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=IDS)
async def test_a_malformed_payload_ends_the_stream_quoting_it(
    server: ScriptedServer, protocol: Protocol
) -> None:
    bad = b"{not json\n" if protocol.name == "ollama" else b"data: {not json\n\n"
    server.reply(protocol.reply([*protocol.head, bad, *protocol.whole[len(protocol.head) :]]))
    stream = llm.stream(protocol.model(server.url), CONTEXT, llm.StreamOptions(api_key="k"))
    events = await asyncio.wait_for(_drain(stream), 5)
    check_lifecycle(events)
    message = events[-1].message
    assert message is not None and message.stop_reason == "error"
    assert message.text == "Before abort"
    assert "malformed" in (message.error_message or "")
    assert "{not json" in (message.error_message or "")
