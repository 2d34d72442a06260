"""Pluma's adapters and the official SDKs' own accumulators agree on random
streams, not only on the hand-written ones of the other test files.

Each seed builds a valid stream of the published wire format — text,
reasoning, parallel tool calls with interleaved argument fragments (OpenAI),
thinking with signatures, redacted thinking, tool use with streamed or whole
input (Anthropic), usage with cache counts — and both sides read it:

* over HTTP, from one local server, the body split into random reads
  (a dozen seeds per protocol: framing and assembly together);
* in bulk, chunk by chunk, Pluma's parsers against the SDKs' accumulators
  (``ChatCompletionStreamState``, ``accumulate_event``) with no network, for
  hundreds of seeds.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import RawMessageStreamEvent
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk
from pydantic import TypeAdapter
from tests.llm.test_anthropic_stream import agree, summary_of_pluma, summary_of_sdk
from tests.support import anthropic_streams as a
from tests.support.openai_streams import (
    assert_agrees,
    chunk,
    model_for,
    sdk_accumulate,
    sse,
    tool_fragment,
    usage,
)
from tests.support.scripted_server import Reply, ScriptedServer

from pluma import llm
from pluma.llm.protocols.anthropic_messages import EventParser
from pluma.llm.protocols.openai_completions import ChunkParser

PIECES = ["a", "b ", "é", "🎉", "\n", "日本", '"q"', "\\"]


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as s:
        yield s


def _pieces(r: random.Random, text: str, longest: int) -> list[str]:
    out, at = [], 0
    while at < len(text):
        size = r.randint(1, longest)
        out.append(text[at : at + size])
        at += size
    return out


def _arguments(r: random.Random) -> str:
    values: list[Any] = ["Paris", 3, 1.5, True, None, [1, "x"], {"deep": {"é": 1}}]
    return json.dumps({f"k{i}": r.choice(values) for i in range(r.randint(0, 3))})


def openai_chunks(seed: int) -> list[dict[str, Any]]:
    """Reasoning, text, then tool calls started in index order whose
    argument fragments interleave; maybe more text; finish; usage."""
    r = random.Random(seed)
    chunks = [chunk({"role": "assistant", "content": ""})]
    reasoning = "".join(r.choice(PIECES) for _ in range(r.randint(0, 12)))
    chunks += [chunk({"reasoning_content": p}) for p in _pieces(r, reasoning, 4)]
    text = "".join(r.choice(PIECES) for _ in range(r.randint(0, 20)))
    chunks += [chunk({"content": p}) for p in _pieces(r, text, 5)]
    calls = [
        [i, f"call_{seed}_{i}", f"tool_{i}", _pieces(r, _arguments(r), 6), False]
        for i in range(r.randint(0, 3))
    ]
    while calls:
        started = [c for c in calls if c[4]]
        waiting = next((c for c in calls if not c[4]), None)
        call = r.choice(started + ([waiting] if waiting else []))
        index, call_id, name, fragments, opened = call
        if not opened:
            call[4] = True
            chunks.append(chunk({"tool_calls": [tool_fragment(index, id=call_id, name=name)]}))
        elif fragments:
            piece = fragments.pop(0)
            chunks.append(chunk({"tool_calls": [tool_fragment(index, arguments=piece)]}))
        else:
            calls.remove(call)
    if r.random() < 0.3:
        chunks.append(chunk({"content": " and more"}))
    has_calls = any("tool_calls" in (c["choices"] or [{}])[0].get("delta", {}) for c in chunks)
    chunks.append(chunk({}, finish_reason="tool_calls" if has_calls else "stop"))
    prompt = r.randint(5, 500)
    chunks.append(
        chunk(no_choices=True, usage=usage(prompt, r.randint(1, 99), cached=r.randint(0, prompt)))
    )
    return chunks


def anthropic_events(seed: int) -> list[str]:
    """Blocks of every kind in random order, then message_delta and stop."""
    r = random.Random(seed)
    events = [
        a.message_start(
            f"msg_{seed}",
            input_tokens=r.randint(0, 99),
            cache_read=r.choice([None, 0, 120]),
            cache_write=r.choice([None, 0, 30]),
        )
    ]
    for index in range(r.randint(0, 4)):
        kind = r.choice(["text", "thinking", "redacted", "tool"])
        if kind == "text":
            events.append(a.text_start(index))
            events += [a.text_delta(index, r.choice(PIECES)) for _ in range(r.randint(1, 6))]
        elif kind == "thinking":
            events.append(a.thinking_start(index))
            events += [a.thinking_delta(index, r.choice(PIECES)) for _ in range(r.randint(1, 6))]
            events.append(a.signature_delta(index, f"sig-{seed}-{index}"))
        elif kind == "redacted":
            events.append(a.redacted_thinking(index, f"opaque-{seed}-{index}"))
        elif r.random() < 0.25:  # input given whole at block start
            events.append(
                a.tool_start(index, f"toolu_{index}", "lookup", json.loads(_arguments(r)))
            )
        else:
            events.append(a.tool_start(index, f"toolu_{index}", "lookup"))
            events += [a.input_json_delta(index, p) for p in _pieces(r, _arguments(r), 7)]
        events.append(a.block_stop(index))
    events.append(
        a.message_delta(r.choice(["end_turn", "tool_use", "max_tokens"]), r.randint(1, 99))
    )
    events.append(a.message_stop())
    return events


def _random_reads(seed: int, body: bytes) -> list[bytes | float]:
    r = random.Random(seed)
    cuts = sorted(r.sample(range(1, len(body)), min(len(body) - 1, r.randint(1, 12))))
    return [body[i:j] for i, j in zip([0, *cuts], [*cuts, len(body)], strict=True)]


# -- over HTTP -------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
async def test_openai_random_streams_over_http(server: ScriptedServer, seed: int) -> None:
    body = "".join(sse(openai_chunks(seed))).encode()
    server.reply(Reply(body=_random_reads(seed, body)))
    message = await llm.stream(
        model_for(server.url), llm.Context(messages=[llm.UserMessage("hi")])
    ).result()
    assert message.stop_reason in ("stop", "toolUse"), message.error_message
    assert not message.diagnostics
    assert_agrees(message, await sdk_accumulate(server.url))


@pytest.mark.parametrize("seed", range(12))
async def test_anthropic_random_streams_over_http(server: ScriptedServer, seed: int) -> None:
    body = "".join(anthropic_events(seed)).encode()
    server.reply(Reply(body=_random_reads(seed, body)))
    _, message = await agree(server)
    assert message.stop_reason in ("stop", "toolUse", "length"), message.error_message


# -- in bulk, without the network ---------------------------------------------------


def test_openai_chunk_parser_agrees_with_the_sdk_accumulator() -> None:
    model = model_for("http://127.0.0.1:1")
    for seed in range(100, 400):
        chunks = openai_chunks(seed)
        state = ChatCompletionStreamState()
        for item in chunks:
            state.handle_chunk(ChatCompletionChunk.model_validate(item))
        snapshot = state.current_completion_snapshot
        parser = ChunkParser(llm.StreamWriter(llm.AssistantMessage()), model)
        for item in chunks:
            parser.feed(item)
        events = parser.feed_data("[DONE]")
        message = parser.message
        assert events[-1].type == "done", seed
        sdk = snapshot.choices[0].message
        assert message.text == (sdk.content or ""), seed
        assert message.thinking == (sdk.model_extra or {}).get("reasoning_content", ""), seed
        assert [(c.id, c.name, c.arguments) for c in message.tool_calls] == [
            (c.id, c.function.name, json.loads(c.function.arguments or "{}"))
            for c in sdk.tool_calls or []
        ], seed
        assert snapshot.usage is not None
        cached = snapshot.usage.prompt_tokens_details
        assert message.usage.cache_read == ((cached.cached_tokens or 0) if cached else 0), seed
        assert message.usage.total == snapshot.usage.total_tokens, seed


def test_anthropic_event_parser_agrees_with_the_sdk_accumulator() -> None:
    events_type: TypeAdapter[RawMessageStreamEvent] = TypeAdapter(RawMessageStreamEvent)
    model = llm.Model(id="m", provider="anthropic", protocol="anthropic-messages")
    for seed in range(100, 400):
        snapshot: Any = None
        buffers: dict[int, bytes] = {}
        writer = llm.StreamWriter(llm.AssistantMessage())
        parser = EventParser(writer, model)
        out: list[llm.Event] = []
        for framed in anthropic_events(seed):
            name_line, data_line = framed.split("\n")[:2]
            data = json.loads(data_line.removeprefix("data: "))
            snapshot = accumulate_event(
                event=events_type.validate_python(data),
                current_snapshot=snapshot,
                json_bufs=buffers,
            )
            out += parser.feed(name_line.removeprefix("event: "), data)
        assert out[-1].type == "done", seed
        assert summary_of_pluma(writer.message) == summary_of_sdk(snapshot), seed
