"""The ``ollama`` adapter against a loopback upstream serving Ollama
``/api/chat`` NDJSON transcripts, with the official ``ollama`` Python client
reading the same bytes as the judge, in every split mode from the whole body
to one byte per read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.llm.test_openai_stream import check_lifecycle
from tests.support import ollama_streams as o
from tests.support.scripted_server import Reply, ScriptedServer
from tests.support.splits import SPLIT_MODES, assert_deltas_build_the_message, split

from pluma import llm
from pluma.llm.controls import UnsupportedControlError
from pluma.llm.protocols.ollama import OllamaOptions, OllamaParser, build_request
from pluma.llm.transport.ndjson import LineDecoder

NDJSON = {"content-type": "application/x-ndjson"}


def make_model(server: ScriptedServer, **kw: Any) -> llm.Model:
    values: dict[str, Any] = {
        "id": o.MODEL,
        "provider": "ollama",
        "protocol": "ollama",
        "base_url": server.url,
        "reasoning": True,
    }
    values.update(kw)
    return llm.Model(**values)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as s:
        yield s


CONTEXT = llm.Context(messages=[llm.UserMessage("hi")])
OPTIONS = llm.StreamOptions(max_retries=0)


async def run_pluma(
    server: ScriptedServer, options: llm.StreamOptions = OPTIONS, **kw: Any
) -> tuple[list[llm.Event], llm.AssistantMessage]:
    stream = llm.stream(make_model(server, **kw), CONTEXT, options)
    events = [e async for e in stream]
    return events, await stream.result()


def text_only() -> list[dict[str, Any]]:
    return [o.line("Hel"), o.line("lo, wörld"), o.line(" 🎉!"), o.final()]


def thinking_then_text() -> list[dict[str, Any]]:
    return [
        o.line(thinking="Okay, the user"),
        o.line(thinking=" says hi."),
        o.line("Hi"),
        o.line(" there!"),
        o.final(output=30),
    ]


def parallel_calls() -> list[dict[str, Any]]:
    return [
        o.line(thinking="Two lookups."),
        o.line(
            tool_calls=[
                {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
                {"function": {"index": 1, "name": "get_time", "arguments": {"tz": "CET"}}},
            ]
        ),
        o.final(),
    ]


COMPLETE = {"text": text_only, "thinking": thinking_then_text, "parallel-calls": parallel_calls}


@pytest.mark.parametrize("mode", SPLIT_MODES)
@pytest.mark.parametrize("name", sorted(COMPLETE))
async def test_agrees_with_the_ollama_client(server: ScriptedServer, name: str, mode: str) -> None:
    server.reply(Reply(headers=NDJSON, body=split(o.frames(COMPLETE[name]()), mode)))
    events, message = await run_pluma(server)
    assert message.stop_reason in ("stop", "toolUse"), message.error_message
    check_lifecycle(events)
    assert_deltas_build_the_message(events, message)
    sdk = await o.sdk_chat(server.url)
    assert sdk.error is None
    o.assert_agrees(message, sdk)
    assert message.stop_reason == ("toolUse" if message.tool_calls else "stop")
    assert server.requests[0].path == "/api/chat"
    assert "authorization" not in server.requests[0].headers


@pytest.mark.parametrize("mode", SPLIT_MODES)
async def test_length_and_usage(server: ScriptedServer, mode: str) -> None:
    frames = o.frames([o.line("cut"), o.final("length", 5, 1)])
    server.reply(Reply(headers=NDJSON, body=split(frames, mode)))
    _events, message = await run_pluma(server)
    assert message.stop_reason == "length"
    assert (message.usage.input, message.usage.output) == (5, 1)
    sdk = await o.sdk_chat(server.url)
    assert sdk.done_reason == "length"
    o.assert_agrees(message, sdk)


@pytest.mark.parametrize("mode", SPLIT_MODES)
async def test_error_line_mid_stream_keeps_partial(server: ScriptedServer, mode: str) -> None:
    frames = [
        *o.frames([o.line("partial")]),
        b'{"error":"model runner has unexpectedly stopped"}\n',
    ]
    server.reply(Reply(headers=NDJSON, body=split(frames, mode)))
    events, message = await run_pluma(server)
    check_lifecycle(events)
    assert message.stop_reason == "error" and message.text == "partial"
    assert "unexpectedly stopped" in (message.error_message or "")
    sdk = await o.sdk_chat(server.url)
    assert isinstance(sdk.error, Exception) and "unexpectedly stopped" in str(sdk.error)
    assert sdk.content == message.text


async def test_cut_stream_is_an_error(server: ScriptedServer) -> None:
    server.reply(Reply(headers=NDJSON, body=o.frames(text_only()[:2]), cut=True))
    events, message = await run_pluma(server)
    check_lifecycle(events)
    assert message.stop_reason == "error" and message.text == "Hello, wörld"


async def test_http_error_has_ollama_message(server: ScriptedServer) -> None:
    server.reply(Reply.json({"error": "model 'qwen3:8b' not found"}, status=404))
    _events, message = await run_pluma(server)
    assert "model 'qwen3:8b' not found" in (message.error_message or "")


async def test_request_body(server: ScriptedServer) -> None:
    server.reply(Reply(headers=NDJSON, body=o.frames(text_only())))
    first_call = llm.AssistantMessage(
        content=[
            llm.ThinkingContent("hmm"),
            llm.TextContent("Let me look."),
            llm.ToolCall("ollama_call_0_ab", "lookup", {"q": "x"}),
        ],
        protocol="ollama",
        provider="ollama",
        model=o.MODEL,  # the same model: its thinking goes back as thinking
        stop_reason="toolUse",
    )
    context = llm.Context(
        system_prompt="Be brief.",
        messages=[
            llm.UserMessage([llm.TextContent("What?"), llm.ImageContent("aGk=", "image/png")]),
            first_call,
            llm.ToolResultMessage("ollama_call_0_ab", "lookup", [llm.TextContent("found")]),
        ],
        tools=[llm.Tool(name="lookup", description="Look up", parameters={"type": "object"})],
    )
    options = llm.StreamOptions(
        temperature=0.3,
        top_p=0.9,
        top_k=20,
        seed=1,
        stop=["\n\n"],
        max_tokens=64,
        presence_penalty=0.5,
        frequency_penalty=0.25,
        reasoning="off",
        response_format=llm.ResponseFormat(type="json_object"),
        protocol_options=OllamaOptions(keep_alive="10m", options={"num_ctx": 8192}),
    )
    model = make_model(server, input=["text", "image"], base_url=server.url + "/v1")
    await llm.stream(model, context, options).result()
    assert server.requests[0].path == "/api/chat"
    assert server.requests[0].json() == {
        "model": o.MODEL,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What?", "images": ["aGk="]},
            {
                "role": "assistant",
                "content": "Let me look.",
                "thinking": "hmm",
                "tool_calls": [{"function": {"name": "lookup", "arguments": {"q": "x"}}}],
            },
            {
                "role": "tool",
                "content": "found",
                "tool_name": "lookup",
                "tool_call_id": "ollama_call_0_ab",
            },
        ],
        "stream": True,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "lookup",
                    "description": "Look up",
                    "parameters": {"type": "object"},
                },
            }
        ],
        "options": {
            "temperature": 0.3,
            "top_p": 0.9,
            "top_k": 20,
            "seed": 1,
            "stop": ["\n\n"],
            "presence_penalty": 0.5,
            "frequency_penalty": 0.25,
            "num_predict": 64,
            "num_ctx": 8192,
        },
        "format": "json",
        "think": False,
        "keep_alive": "10m",
    }


def test_gpt_oss_gets_a_think_level() -> None:
    model = llm.Model(id="gpt-oss:20b", provider="ollama", protocol="ollama", reasoning=True)
    assert build_request(model, CONTEXT, llm.StreamOptions(reasoning="high"))["think"] == "high"
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    body = build_request(
        model,
        CONTEXT,
        llm.StreamOptions(response_format=llm.ResponseFormat(type="json_schema", schema=schema)),
    )
    assert body["format"] == schema


@pytest.mark.parametrize("field", ["user", "metadata", "parallel_tool_calls"])
async def test_unsupported_controls_are_refused(server: ScriptedServer, field: str) -> None:
    value: Any = {"metadata": {"a": "b"}, "user": "u", "parallel_tool_calls": True}[field]
    events, message = await run_pluma(server, llm.StreamOptions(**{field: value}))
    assert isinstance(events[-1].error, UnsupportedControlError)
    assert events[-1].error.field == field
    assert (message.error_message or "").startswith(f"{field} is not supported by")
    assert server.requests == []


async def test_a_neutral_control_set_twice_is_refused(server: ScriptedServer) -> None:
    options = llm.StreamOptions(
        temperature=0.1, protocol_options=OllamaOptions(options={"temperature": 0.9})
    )
    _events, message = await run_pluma(server, options)
    assert "temperature" in (message.error_message or "") and server.requests == []


def test_options_validation() -> None:
    model = llm.Model(id="m", provider="ollama", protocol="ollama")
    for bad in (
        OllamaOptions(keep_alive="soon"),
        OllamaOptions(think="max"),  # type: ignore[arg-type]
        OllamaOptions(extra_body={"messages": []}),
    ):
        with pytest.raises(llm.ConfigurationError):
            llm.stream(model, CONTEXT, llm.StreamOptions(protocol_options=bad))


def test_line_decoder() -> None:
    decoder = LineDecoder()
    body = b'{"a": 1}\r\n\n  \n{"b": "\xc3\xa9"}\n{"c"'
    lines = [line for i in range(len(body)) for line in decoder.feed(body[i : i + 1])]
    assert lines == [b'{"a": 1}\r', b'{"b": "\xc3\xa9"}']
    assert decoder.flush() == [b'{"c"']


def test_parser_without_http() -> None:
    parser = OllamaParser(
        llm.StreamWriter(llm.AssistantMessage()), llm.Model("m", "ollama", "ollama")
    )
    out: list[llm.Event] = []
    for item in parallel_calls():
        out += parser.feed(item)
    assert out[-1].type == "done" and parser.message.stop_reason == "toolUse"
    assert [c.name for c in parser.message.tool_calls] == ["get_weather", "get_time"]
    assert len({c.id for c in parser.message.tool_calls}) == 2


def test_transcripts_are_valid_for_the_client_types() -> None:
    import ollama

    for build in COMPLETE.values():
        for item in build():
            ollama.ChatResponse.model_validate(item)


def test_line_decoder_whole_lines_per_read() -> None:
    decoder = LineDecoder()
    assert decoder.feed(b'{"a": 1}\n') == [b'{"a": 1}\n']
    assert decoder.feed(b" \r\n") == []
    assert decoder.feed(b'{"b": 2}\n{"c"') == [b'{"b": 2}']
    assert decoder.feed(b": 3}\n") == [b'{"c": 3}']
    assert decoder.feed(b"\n\n") == []
    assert decoder.flush() == []


def _line_bytes(item: dict[str, Any]) -> bytes:
    return o.frames([item])[0]


def test_feed_lines_takes_a_whole_read_and_agrees_with_line_by_line() -> None:
    """One read's lines at once (the hot path) give the same events and message
    as feeding them one by one: thinking, text, a tool call, text again."""
    items = [
        o.line(thinking="Let me "),
        o.line(thinking="think."),
        o.line("Hel"),
        o.line("lo"),
        o.line(tool_calls=[{"function": {"name": "f", "arguments": {"x": 1}}}]),
        o.line("after"),
        o.line(" call"),
        o.final(),
    ]
    lines = [_line_bytes(item) for item in items]

    def run(batched: bool) -> tuple[list[tuple[str, int, str]], llm.AssistantMessage]:
        message = llm.AssistantMessage()
        parser = OllamaParser(llm.StreamWriter(message), llm.Model("m", "ollama", "ollama"))
        if batched:
            events = parser.feed_lines(lines)
        else:
            events = [e for line in lines for e in parser.feed_data(line)]
        return [(e.type, e.content_index, e.delta) for e in events], message

    one_read, message = run(batched=True)
    assert one_read == run(batched=False)[0]
    assert [b.type for b in message.content] == ["thinking", "text", "toolCall", "text"]
    assert message.content[1].text == "Hello"  # type: ignore[union-attr]
    assert message.content[3].text == "after call"  # type: ignore[union-attr]
    assert message.stop_reason == "toolUse"


def test_feed_lines_stops_at_a_malformed_line_keeping_the_text() -> None:
    message = llm.AssistantMessage()
    parser = OllamaParser(llm.StreamWriter(message), llm.Model("m", "ollama", "ollama"))
    lines = [_line_bytes(o.line("Hel")), _line_bytes(o.line("lo")), b"{not json\n"]
    lines.append(_line_bytes(o.line("never")))
    events = parser.feed_lines(lines)
    assert [e.type for e in events] == ["text_start", "text_delta", "text_delta", "error"]
    assert message.text == "Hello" and "malformed line" in (message.error_message or "")
    assert parser.feed_lines([_line_bytes(o.final())]) == []  # ended: nothing more
