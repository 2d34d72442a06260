"""Anthropic stream parsing through the real adapter, against a local upstream
serving the API's bytes, with the official ``anthropic`` SDK reading the same
bytes as the judge of the final message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from tests.support import anthropic_streams as a
from tests.support.openai_streams import SSL_CONTEXT
from tests.support.scripted_server import Reply, ScriptedServer

from pluma import llm

COST = llm.ModelCost(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75)


def make_model(server: ScriptedServer, **kw: Any) -> llm.Model:
    return llm.Model(
        id=a.MODEL,
        provider="anthropic",
        protocol="anthropic-messages",
        base_url=server.url + "/v1",
        reasoning=True,
        max_tokens=8192,
        cost=COST,
        **kw,
    )


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as s:
        yield s


CONTEXT = llm.Context(system_prompt="Be brief.", messages=[llm.UserMessage("Hello")])


async def run_pluma(server: ScriptedServer) -> tuple[list[llm.Event], llm.AssistantMessage]:
    stream = llm.stream(make_model(server), CONTEXT, llm.StreamOptions())
    events = [e async for e in stream]
    return events, await stream.result()


async def run_sdk(server: ScriptedServer) -> Any:
    client = anthropic.AsyncAnthropic(
        base_url=server.url,
        api_key="x",
        max_retries=0,
        http_client=anthropic.DefaultAsyncHttpxClient(verify=SSL_CONTEXT),
    )
    try:
        async with client.messages.stream(
            model=a.MODEL, max_tokens=1024, messages=[{"role": "user", "content": "Hello"}]
        ) as s:
            return await s.get_final_message()
    finally:
        await client.close()


def summary_of_pluma(message: llm.AssistantMessage) -> dict[str, Any]:
    return {
        "text": [b.text for b in message.content if isinstance(b, llm.TextContent)],
        "thinking": [
            (b.thinking, b.signature)
            for b in message.content
            if isinstance(b, llm.ThinkingContent) and not b.redacted
        ],
        "redacted": [
            b.signature
            for b in message.content
            if isinstance(b, llm.ThinkingContent) and b.redacted
        ],
        "tools": [(c.id, c.name, c.arguments) for c in message.tool_calls],
        "usage": (
            message.usage.input,
            message.usage.output,
            message.usage.cache_read,
            message.usage.cache_write,
        ),
        "id": message.response_id,
    }


def summary_of_sdk(final: Any) -> dict[str, Any]:
    u = final.usage
    return {
        "text": [b.text for b in final.content if b.type == "text"],
        "thinking": [(b.thinking, b.signature) for b in final.content if b.type == "thinking"],
        "redacted": [b.data for b in final.content if b.type == "redacted_thinking"],
        "tools": [(b.id, b.name, b.input) for b in final.content if b.type == "tool_use"],
        "usage": (
            u.input_tokens,
            u.output_tokens,
            u.cache_read_input_tokens or 0,
            u.cache_creation_input_tokens or 0,
        ),
        "id": final.id,
    }


async def agree(server: ScriptedServer) -> tuple[list[llm.Event], llm.AssistantMessage]:
    """Run Pluma and the SDK on the scripted reply and assert the same final message."""
    events, message = await run_pluma(server)
    final = await run_sdk(server)
    assert summary_of_pluma(message) == summary_of_sdk(final)
    return events, message


def types_of(events: list[llm.Event]) -> list[str]:
    return [e.type for e in events]


# -- streams ------------------------------------------------------------------


THINKING_TOOL_STREAM = [
    a.message_start(input_tokens=30, cache_read=100, cache_write=7),
    a.thinking_start(0),
    a.thinking_delta(0, "Let me check "),
    a.thinking_delta(0, "the weather."),
    a.signature_delta(0, "EqQBCkYIARgCKkBsig=="),
    a.block_stop(0),
    a.text_start(1),
    a.text_delta(1, "Checking."),
    a.block_stop(1),
    a.tool_start(2, "toolu_01A", "get_weather"),
    a.input_json_delta(2, ""),
    a.input_json_delta(2, '{"city": "Pa'),
    a.input_json_delta(2, 'ris", "unit"'),
    a.input_json_delta(2, ': "c"}'),
    a.block_stop(2),
    a.message_delta("tool_use", 57),
    a.message_stop(),
]


async def test_thinking_signature_and_tool_use(server: ScriptedServer) -> None:
    server.reply(Reply.sse(THINKING_TOOL_STREAM))
    events, message = await agree(server)
    assert types_of(events) == [
        "start",
        "thinking_start",
        "thinking_delta",
        "thinking_delta",
        "thinking_end",
        "text_start",
        "text_delta",
        "text_end",
        "toolcall_start",
        "toolcall_delta",
        "toolcall_delta",
        "toolcall_delta",
        "toolcall_end",
        "done",
    ]
    assert message.stop_reason == "toolUse"
    thinking = message.content[0]
    assert isinstance(thinking, llm.ThinkingContent)
    assert thinking.thinking == "Let me check the weather."
    assert thinking.signature == "EqQBCkYIARgCKkBsig=="
    assert events[4].content == "Let me check the weather."
    assert message.tool_calls == [
        llm.ToolCall("toolu_01A", "get_weather", {"city": "Paris", "unit": "c"})
    ]
    end = events[12]
    assert end.tool_call is not None and end.tool_call.arguments == {"city": "Paris", "unit": "c"}
    assert not message.diagnostics
    assert message.response_id == "msg_01TestStream"
    assert message.model == a.MODEL
    assert message.protocol == "anthropic-messages" and message.provider == "anthropic"
    # live partial arguments while the call streams
    assert events[10].tool_call is not None


async def test_live_partial_arguments_on_each_toolcall_delta(server: ScriptedServer) -> None:
    """On every ``toolcall_delta`` the live call's arguments are the JSON
    received so far, parsed best-effort (what a UI shows filling in)."""
    server.reply(Reply.sse(THINKING_TOOL_STREAM))
    live: list[dict[str, Any]] = []
    async for event in llm.stream(make_model(server), CONTEXT, llm.StreamOptions()):
        if event.type == "toolcall_delta":
            assert event.tool_call is not None
            live.append(dict(event.tool_call.arguments))
    assert live == [{"city": "Pa"}, {"city": "Paris"}, {"city": "Paris", "unit": "c"}]


async def test_a_whole_json_message_is_read_as_if_streamed(server: ScriptedServer) -> None:
    """An Anthropic-compatible upstream that ignores ``stream: true`` and sends
    one Message object: the same events and the same message the SDK's
    ``Message`` model reads from it."""
    payload = {
        "id": "msg_whole",
        "type": "message",
        "role": "assistant",
        "model": a.MODEL,
        "content": [
            {"type": "thinking", "thinking": "Think.", "signature": "sig-w"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "Calling."},
            {"type": "tool_use", "id": "toolu_w", "name": "get_weather", "input": {"city": "Oslo"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 9, "output_tokens": 21, "cache_read_input_tokens": 4},
    }
    server.reply(Reply.json(payload))
    events, message = await run_pluma(server)
    assert types_of(events) == [
        "start",
        "thinking_start",
        "thinking_delta",
        "thinking_end",
        "thinking_start",
        "thinking_end",
        "text_start",
        "text_delta",
        "text_end",
        "toolcall_start",
        "toolcall_end",
        "done",
    ]
    assert message.stop_reason == "toolUse"
    assert summary_of_pluma(message) == summary_of_sdk(
        anthropic.types.Message.model_validate(payload)
    )


async def test_a_whole_json_error_or_garbage_is_an_error(server: ScriptedServer) -> None:
    server.reply(
        Reply.json(a.error_body("overloaded_error", "Overloaded")),
        Reply(headers={"content-type": "application/json"}, body=[b"{not json"]),
    )
    events, message = await run_pluma(server)
    assert types_of(events) == ["start", "error"]
    assert message.error_message == "the upstream reported an error mid-stream: Overloaded"
    events, message = await run_pluma(server)
    assert types_of(events) == ["start", "error"]
    assert "malformed JSON: '{not json'" in (message.error_message or "")


async def test_usage_merges_start_and_delta_with_cache_fields(server: ScriptedServer) -> None:
    server.reply(Reply.sse(THINKING_TOOL_STREAM))
    _, message = await agree(server)
    usage = message.usage
    # input excludes cache (Anthropic's input_tokens already does), output from message_delta
    assert (usage.input, usage.output, usage.cache_read, usage.cache_write) == (30, 57, 100, 7)
    assert usage.total == 30 + 57 + 100 + 7
    expected = (30 * 3.0 + 57 * 15.0 + 100 * 0.3 + 7 * 3.75) / 1_000_000
    assert usage.cost.total == pytest.approx(expected)


async def test_message_delta_updates_input_and_cache_when_present(server: ScriptedServer) -> None:
    server.reply(
        Reply.sse(
            [
                a.message_start(input_tokens=0, cache_read=0, cache_write=0),
                a.text_start(0),
                a.text_delta(0, "ok"),
                a.block_stop(0),
                a.message_delta(
                    "end_turn",
                    9,
                    input_tokens=40,
                    cache_read_input_tokens=1000,
                    cache_creation_input_tokens=12,
                ),
                a.message_stop(),
            ]
        )
    )
    _, message = await agree(server)
    u = message.usage
    assert (u.input, u.output, u.cache_read, u.cache_write) == (40, 9, 1000, 12)


async def test_redacted_thinking_kept_for_replay(server: ScriptedServer) -> None:
    server.reply(
        Reply.sse(
            [
                a.message_start(),
                a.redacted_thinking(0, "EmwKAhgBEgy3va3pzix/LafPsn4a"),
                a.block_stop(0),
                a.thinking_start(1),
                a.thinking_delta(1, "visible part"),
                a.signature_delta(1, "sig-2"),
                a.block_stop(1),
                a.text_start(2),
                a.text_delta(2, "Answer."),
                a.block_stop(2),
                a.message_delta("end_turn", 33),
                a.message_stop(),
            ]
        )
    )
    events, message = await agree(server)
    redacted = message.content[0]
    assert isinstance(redacted, llm.ThinkingContent)
    assert redacted.redacted and redacted.signature == "EmwKAhgBEgy3va3pzix/LafPsn4a"
    assert redacted.thinking == ""
    assert message.thinking == "visible part"
    assert types_of(events)[1:3] == ["thinking_start", "thinking_end"]
    assert message.text == "Answer."


async def test_ping_and_unknown_events_are_ignored(server: ScriptedServer) -> None:
    body = a.text_stream("Hel", "lo", "!")
    body.insert(1, a.ping())
    body.insert(4, a.ping())
    body.insert(5, ": keep-alive comment\n\n")
    body.insert(6, a.event("future_event", {"type": "future_event", "x": 1}))
    server.reply(Reply.sse(body))
    events, message = await agree(server)
    assert message.text == "Hello!"
    assert types_of(events) == [
        "start",
        "text_start",
        "text_delta",
        "text_delta",
        "text_delta",
        "text_end",
        "done",
    ]
    assert message.stop_reason == "stop"


async def test_tool_input_given_whole_at_block_start_is_kept(server: ScriptedServer) -> None:
    server.reply(
        Reply.sse(
            [
                a.message_start(),
                a.tool_start(0, "toolu_whole", "lookup", {"q": "pluma", "n": 3}),
                a.block_stop(0),
                a.tool_start(1, "toolu_empty", "now"),
                a.block_stop(1),
                a.message_delta("tool_use", 15),
                a.message_stop(),
            ]
        )
    )
    events, message = await agree(server)
    assert [(c.id, c.arguments) for c in message.tool_calls] == [
        ("toolu_whole", {"q": "pluma", "n": 3}),
        ("toolu_empty", {}),
    ]
    start = events[1]
    assert start.type == "toolcall_start" and start.tool_call is not None
    assert start.tool_call.arguments == {"q": "pluma", "n": 3}


async def test_server_tool_blocks_are_skipped_without_shifting_indexes(
    server: ScriptedServer,
) -> None:
    server.reply(
        Reply.sse(
            [
                a.message_start(),
                a.block_start(
                    0,
                    {
                        "type": "server_tool_use",
                        "id": "srvtoolu_1",
                        "name": "web_search",
                        "input": {},
                    },
                ),
                a.input_json_delta(0, '{"query": "x"}'),
                a.block_stop(0),
                a.text_start(1),
                a.text_delta(1, "Found it."),
                a.delta(1, {"type": "citations_delta", "citation": {"type": "char_location"}}),
                a.block_stop(1),
                a.message_delta("end_turn", 5),
                a.message_stop(),
            ]
        )
    )
    events, message = await run_pluma(server)
    assert message.stop_reason == "stop"
    assert len(message.content) == 1 and message.text == "Found it."
    assert [e.content_index for e in events if e.type.startswith("text")] == [0, 0, 0]


async def test_crlf_and_bytes_split_anywhere(server: ScriptedServer) -> None:
    raw = "".join(a.text_stream("Grüße ", "🌍")).replace("\n", "\r\n").encode()
    server.reply(Reply(body=[raw[i : i + 7] for i in range(0, len(raw), 7)]))
    _, message = await agree(server)
    assert message.text == "Grüße 🌍"


@pytest.mark.parametrize(
    ("reason", "mapped"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "toolUse"),
    ],
)
async def test_stop_reason_mapping(server: ScriptedServer, reason: str, mapped: str) -> None:
    server.reply(Reply.sse(a.text_stream("x", stop_reason=reason)))
    events, message = await run_pluma(server)
    assert events[-1].type == "done"
    assert message.stop_reason == mapped


async def test_refusal_is_an_error_keeping_text(server: ScriptedServer) -> None:
    server.reply(Reply.sse(a.text_stream("I can't", stop_reason="refusal")))
    events, message = await run_pluma(server)
    assert events[-1].type == "error"
    assert message.stop_reason == "error"
    assert message.error_message is not None and "refused" in message.error_message
    assert message.text == "I can't"


async def test_unknown_stop_reason_is_an_error_naming_it(server: ScriptedServer) -> None:
    server.reply(Reply.sse(a.text_stream("x", stop_reason="brand_new_reason")))
    events, message = await run_pluma(server)
    assert events[-1].type == "error"
    assert message.error_message is not None and "brand_new_reason" in message.error_message


async def test_events_carry_the_live_partial_message(server: ScriptedServer) -> None:
    server.reply(Reply.sse(a.text_stream("a", "b")))
    stream = llm.stream(make_model(server), CONTEXT, llm.StreamOptions())
    seen: list[str] = []
    async for event in stream:
        if event.type == "text_delta":
            assert event.partial is not None
            seen.append(event.partial.text)
    assert seen == ["a", "ab"]


def test_stream_helpers_frame_like_the_api() -> None:
    text = a.text_delta(3, "hi")
    name, data, blank = text.split("\n", 2)
    assert name == "event: content_block_delta"
    assert json.loads(data.removeprefix("data: ")) == {
        "type": "content_block_delta",
        "index": 3,
        "delta": {"type": "text_delta", "text": "hi"},
    }
    assert blank == "\n"


async def test_parallel_tool_calls_with_streamed_arguments(server: ScriptedServer) -> None:
    server.reply(
        Reply.sse(
            [
                a.message_start(),
                a.text_start(0),
                a.text_delta(0, "Two lookups."),
                a.block_stop(0),
                a.tool_start(1, "toolu_A", "get_weather"),
                a.input_json_delta(1, '{"city":'),
                a.input_json_delta(1, ' "Oslo"}'),
                a.block_stop(1),
                a.tool_start(2, "toolu_B", "get_weather"),
                a.input_json_delta(2, '{"city": "Lima", "days": [1, 2]}'),
                a.block_stop(2),
                a.message_delta("tool_use", 80),
                a.message_stop(),
            ]
        )
    )
    events, message = await agree(server)
    assert [(c.id, c.arguments) for c in message.tool_calls] == [
        ("toolu_A", {"city": "Oslo"}),
        ("toolu_B", {"city": "Lima", "days": [1, 2]}),
    ]
    assert [e.content_index for e in events if e.type == "toolcall_end"] == [1, 2]
