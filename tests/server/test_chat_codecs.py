"""The edge codecs on their own, judged by the official SDKs.

Event sequences the end-to-end upstreams do not produce (redacted thinking,
a tool call whose arguments arrive whole, parallel calls, a block left open
at ``done``, a length stop) are encoded, served from a local HTTP server and
read back by the SDKs' own stream parsers and accumulators. The request
decoders are checked on the shapes clients send.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from tests.support.scripted_server import Reply, ScriptedServer

from pluma import llm
from pluma.server.chat.codecs.anthropic_request import decode_messages_request
from pluma.server.chat.codecs.anthropic_response import encode_message
from pluma.server.chat.codecs.anthropic_stream import AnthropicEventEncoder
from pluma.server.chat.codecs.openai_request import decode_chat_completions
from pluma.server.chat.codecs.openai_response import encode_completion
from pluma.server.chat.codecs.openai_stream import OpenAIChunkEncoder


def scripted_events(
    *, stop: llm.StopReason = "toolUse", close_last: bool = True
) -> list[llm.Event]:
    """A reply as an adapter would stream it: redacted thinking, signed
    thinking, text, a call with streamed arguments and one whose arguments
    arrive whole."""
    message = llm.AssistantMessage(protocol="test", provider="test", model="m")
    w = llm.StreamWriter(message)
    out: list[llm.Event | None] = [w.start()]
    message.content.append(llm.ThinkingContent("", signature="ENCRYPTED==", redacted=True))
    out += [w.thinking_start(0), w.thinking_end(0)]
    thinking = llm.ThinkingContent()
    message.content.append(thinking)
    out.append(w.thinking_start(1))
    for piece in ("Let me ", "think."):
        thinking.append(piece)
        out.append(w.thinking_delta(1, piece))
    thinking.signature = "SIG-1"
    out.append(w.thinking_end(1))
    text = llm.TextContent()
    message.content.append(text)
    out.append(w.text_start(2))
    for piece in ("Calling ", "tools."):
        text.append(piece)
        out.append(w.text_delta(2, piece))
    out.append(w.text_end(2))
    first = llm.ToolCall("call_a", "search", None)
    message.content.append(first)
    out.append(w.toolcall_start(3, first))
    second = llm.ToolCall("call_b", "lookup", {"id": 7, "tags": ["x"]})
    message.content.append(second)
    out.append(w.toolcall_start(4, second))
    for piece in ('{"q": ', '"pluma"}'):
        first.append_arguments(piece)
        out.append(w.toolcall_delta(3, first, piece))
    out.append(w.toolcall_end(3, first))
    if close_last:
        out.append(w.toolcall_end(4, second))
    message.usage = llm.Usage(input=10, output=20, cache_read=5)
    out.append(w.done(stop))
    return [e for e in out if e is not None]


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as s:
        yield s


def serve_frames(server: ScriptedServer, frames: list[str]) -> None:
    server.reply(Reply.sse(frames, headers={"content-type": "text/event-stream"}))


def test_openai_chunks_are_accumulated_by_the_sdk(server: ScriptedServer) -> None:
    encoder = OpenAIChunkEncoder("m", include_usage=True)
    serve_frames(server, [f for e in scripted_events() for f in encoder.encode(e)])
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
    chunks = list(client.chat.completions.create(model="m", messages=[], stream=True))
    for chunk in chunks:
        state.handle_chunk(chunk)
    final = state.get_final_completion()
    message = final.choices[0].message
    assert message.content == "Calling tools."
    assert final.choices[0].finish_reason == "tool_calls"
    calls = [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or []]
    assert calls == [
        ("call_a", "search", '{"q": "pluma"}'),
        ("call_b", "lookup", '{"id":7,"tags":["x"]}'),
    ]
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content", "")
        for c in chunks
        if c.choices
    )
    assert reasoning == "Let me think."
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (15, 20)
    assert final.usage.prompt_tokens_details is not None
    assert final.usage.prompt_tokens_details.cached_tokens == 5


def test_openai_length_stop_and_a_call_left_open(server: ScriptedServer) -> None:
    encoder = OpenAIChunkEncoder("m")
    events = scripted_events(stop="length", close_last=False)
    serve_frames(server, [f for e in events for f in encoder.encode(e)])
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
    chunks = list(client.chat.completions.create(model="m", messages=[], stream=True))
    assert [c.choices[0].finish_reason for c in chunks][-1] == "length"
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(chunk)
    calls = state.current_completion_snapshot.choices[0].message.tool_calls or []
    assert [c.function.arguments for c in calls] == ['{"q": "pluma"}', '{"id":7,"tags":["x"]}']


def test_anthropic_events_are_accumulated_by_the_sdk(server: ScriptedServer) -> None:
    encoder = AnthropicEventEncoder("m")
    # The second call is never ended by the adapter: done must close its block.
    serve_frames(server, [f for e in scripted_events(close_last=False) for f in encoder.encode(e)])
    client = anthropic.Anthropic(base_url=server.url, api_key="x", max_retries=0)
    with client.messages.stream(model="m", max_tokens=10, messages=[]) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == [
        "redacted_thinking",
        "thinking",
        "text",
        "tool_use",
        "tool_use",
    ]
    redacted, thinking, text, first, second = final.content
    assert redacted.data == "ENCRYPTED=="  # type: ignore[union-attr]
    assert (thinking.thinking, thinking.signature) == ("Let me think.", "SIG-1")  # type: ignore[union-attr]
    assert text.text == "Calling tools."  # type: ignore[union-attr]
    assert (first.id, first.name, first.input) == ("call_a", "search", {"q": "pluma"})  # type: ignore[union-attr]
    assert (second.id, second.input) == ("call_b", {"id": 7, "tags": ["x"]})  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use"
    assert (
        final.usage.input_tokens,
        final.usage.output_tokens,
        final.usage.cache_read_input_tokens,
    ) == (10, 20, 5)


def test_non_stream_bodies_parse_in_the_sdks(server: ScriptedServer) -> None:
    message = scripted_events()[-1].message
    assert message is not None
    server.reply(
        Reply.json(encode_completion(message, "m")), Reply.json(encode_message(message, "m"))
    )
    completion = openai.OpenAI(
        base_url=server.url + "/v1", api_key="x", max_retries=0
    ).chat.completions.create(model="m", messages=[])
    assert completion.choices[0].message.content == "Calling tools."
    assert [c.function.name for c in completion.choices[0].message.tool_calls or []] == [
        "search",
        "lookup",
    ]
    reply = anthropic.Anthropic(base_url=server.url, api_key="x", max_retries=0).messages.create(
        model="m", max_tokens=10, messages=[]
    )
    assert [b.type for b in reply.content] == [
        "redacted_thinking",
        "thinking",
        "text",
        "tool_use",
        "tool_use",
    ]
    assert reply.stop_reason == "tool_use"


def test_openai_request_decoding() -> None:
    body: dict[str, Any] = {
        "model": "oa/m",
        "messages": [
            {"role": "system", "content": "Sys one."},
            {"role": "developer", "content": [{"type": "text", "text": "Sys two."}]},
            {"role": "user", "content": [
                {"type": "text", "text": "Look:"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "result"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "max_completion_tokens": 99,
        "reasoning_effort": "none",
        "stream": True,
        "stream_options": {"include_usage": True},
    }  # fmt: skip
    decoded = decode_chat_completions(body)
    request = decoded.request
    assert (decoded.stream, decoded.include_usage) == (True, True)
    assert request.context.system_prompt == "Sys one.\n\nSys two."
    user, assistant, result = request.context.messages
    assert isinstance(user, llm.UserMessage) and isinstance(user.content, list)
    assert (
        isinstance(user.content[1], llm.ImageContent) and user.content[1].mime_type == "image/png"
    )
    assert isinstance(assistant, llm.AssistantMessage)
    assert assistant.tool_calls[0].arguments == {"a": 1}
    assert isinstance(result, llm.ToolResultMessage) and result.tool_name == "f"
    assert (request.tool_choice, request.max_tokens, request.reasoning) == (
        {"name": "f"},
        99,
        "off",
    )


def test_anthropic_request_decoding() -> None:
    decoded = decode_messages_request(
        {
            "model": "an/m",
            "max_tokens": 50,
            "system": [{"type": "text", "text": "Sys."}],
            "thinking": {"type": "enabled", "budget_tokens": 10000},
            "tool_choice": {"type": "any"},
            "tools": [{"name": "f", "input_schema": {"type": "object"}}],
            "messages": [
                {"role": "user", "content": "Hi"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hm", "signature": "S"},
                        {"type": "tool_use", "id": "t1", "name": "f", "input": {"x": 1}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [{"type": "text", "text": "42"}],
                        },
                        {"type": "text", "text": "thanks"},
                    ],
                },
            ],
        }
    )
    request = decoded.request
    assert (request.context.system_prompt, request.reasoning, request.tool_choice) == (
        "Sys.",
        "medium",
        "required",
    )
    kinds = [type(m).__name__ for m in request.context.messages]
    assert kinds == ["UserMessage", "AssistantMessage", "ToolResultMessage", "UserMessage"]
    assistant = request.context.messages[1]
    assert isinstance(assistant, llm.AssistantMessage)
    assert assistant.content[0] == llm.ThinkingContent("hm", signature="S")
    tool_result = request.context.messages[2]
    assert isinstance(tool_result, llm.ToolResultMessage) and tool_result.tool_name == "f"
