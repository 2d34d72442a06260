"""The ``openai-responses`` adapter against a loopback upstream serving
Responses API transcripts, with the official ``openai`` SDK's stream
accumulator reading the same bytes as the judge of the final message, in
every split mode from the whole body to one byte per read."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.llm.test_openai_stream import check_lifecycle
from tests.support import responses_streams as r
from tests.support.scripted_server import Reply, ScriptedServer
from tests.support.splits import SPLIT_MODES, assert_deltas_build_the_message, split

from pluma import llm
from pluma.llm.controls import UnsupportedControlError
from pluma.llm.protocols.openai_responses import (
    OpenAIResponsesOptions,
    ResponsesParser,
    build_request,
)

COST = llm.ModelCost(input=1.25, output=10.0, cache_read=0.125)


def make_model(server: ScriptedServer, **kw: Any) -> llm.Model:
    values: dict[str, Any] = {
        "id": r.MODEL,
        "provider": "openai",
        "protocol": "openai-responses",
        "base_url": server.url + "/v1",
        "reasoning": True,
        "cost": COST,
    }
    values.update(kw)
    return llm.Model(**values)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as s:
        yield s


CONTEXT = llm.Context(messages=[llm.UserMessage("hi")])
OPTIONS = llm.StreamOptions(api_key="sk-test-key-123456", max_retries=0)


async def run_pluma(
    server: ScriptedServer, options: llm.StreamOptions = OPTIONS
) -> tuple[list[llm.Event], llm.AssistantMessage]:
    stream = llm.stream(make_model(server), CONTEXT, options)
    events = [e async for e in stream]
    return events, await stream.result()


# -- transcripts ----------------------------------------------------------------


def text_only() -> r.Transcript:
    t = r.Transcript()
    t.message(["Hel", "lo, ", "wörld", " 🎉", "!"])
    t.completed(r.usage(120, 9, cached=100, written=12))
    return t


def reasoning_then_text() -> r.Transcript:
    t = r.Transcript()
    t.reasoning([["**Plan**", " think"], ["then ", "answer"]], encrypted="gAAAAB-opaque==")
    t.message(["The answer", " is 4."])
    t.completed(r.usage(50, 300, cached=0, reasoning=280))
    return t


def parallel_calls() -> r.Transcript:
    t = r.Transcript()
    t.reasoning([["Two lookups."]], encrypted="enc-2")
    t.function_calls(
        [
            ("call_a1", "get_weather", ['{"ci', 'ty": "Pa', 'ris"}']),
            ("call_b2", "get_time", ['{"tz": ', '"Europe/Paris"}']),
        ]
    )
    t.completed(r.usage(80, 40, cached=64, reasoning=10))
    return t


def refusal() -> r.Transcript:
    t = r.Transcript()
    t.message(["I can't ", "help with that."], refusal=True)
    t.completed(r.usage(10, 5))
    return t


def truncated() -> r.Transcript:
    t = r.Transcript()
    t.reasoning([["short"]], encrypted="enc-3")
    t.message(["This answer is cut", " off"])
    t.incomplete("max_output_tokens", r.usage(20, 64, reasoning=10))
    return t


COMPLETE = {
    "text": text_only,
    "reasoning": reasoning_then_text,
    "parallel-calls": parallel_calls,
    "refusal": refusal,
}


@pytest.mark.parametrize("mode", SPLIT_MODES)
@pytest.mark.parametrize("name", sorted(COMPLETE))
async def test_agrees_with_the_sdk_accumulator(
    server: ScriptedServer, name: str, mode: str
) -> None:
    transcript = COMPLETE[name]()
    server.reply(Reply(body=list(split(transcript.frames(), mode))))
    events, message = await run_pluma(server)
    assert message.stop_reason in ("stop", "toolUse"), message.error_message
    check_lifecycle(events)
    assert_deltas_build_the_message(events, message)
    final = await r.sdk_final(server.url)
    assert r.summary_of_pluma(message) == r.summary_of_sdk(final)
    assert message.stop_reason == ("toolUse" if message.tool_calls else "stop")
    assert message.model == r.MODEL
    assert not message.diagnostics


async def test_request_body_and_headers(server: ScriptedServer) -> None:
    server.reply(Reply(body=text_only().frames()))
    context = llm.Context(
        system_prompt="Be brief.",
        messages=[
            llm.UserMessage(
                [
                    llm.TextContent("What is this?"),
                    llm.ImageContent(data="aGk=", mime_type="image/png"),
                ]
            )
        ],
        tools=[llm.Tool(name="lookup", description="Look up", parameters={"type": "object"})],
    )
    options = llm.StreamOptions(
        api_key="sk-test-key-123456",
        max_tokens=500,
        temperature=0.5,
        top_p=0.9,
        reasoning="high",
        user="user-7",
        metadata={"trace": "t1"},
        parallel_tool_calls=False,
        response_format=llm.ResponseFormat(
            type="json_schema", name="out", schema={"type": "object"}, strict=True
        ),
        protocol_options=OpenAIResponsesOptions(
            tool_choice={"name": "lookup"}, service_tier="flex", extra_body={"truncation": "auto"}
        ),
    )
    # Not OpenAI itself: its reasoning models refuse temperature and top_p
    # (see test_openai_reasoning_models_refuse_sampling).
    model = make_model(server, input=["text", "image"], provider="openrouter")
    await llm.stream(model, context, options).result()
    request = server.requests[0]
    assert request.path == "/v1/responses"
    assert request.headers["authorization"] == "Bearer sk-test-key-123456"
    body = request.json()
    assert body == {
        "model": r.MODEL,
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {
                        "type": "input_image",
                        "image_url": "data:image/png;base64,aGk=",
                        "detail": "auto",
                    },
                ],
            }
        ],
        "stream": True,
        "store": False,
        "instructions": "Be brief.",
        "tools": [
            {
                "type": "function",
                "name": "lookup",
                "description": "Look up",
                "parameters": {"type": "object"},
                "strict": False,
            }
        ],
        "tool_choice": {"type": "function", "name": "lookup"},
        "parallel_tool_calls": False,
        "max_output_tokens": 500,
        "temperature": 0.5,
        "top_p": 0.9,
        "reasoning": {"effort": "high", "summary": "auto"},
        "include": ["reasoning.encrypted_content"],
        "text": {
            "format": {
                "type": "json_schema",
                "name": "out",
                "schema": {"type": "object"},
                "strict": True,
            }
        },
        "user": "user-7",
        "metadata": {"trace": "t1"},
        "service_tier": "flex",
        "truncation": "auto",
    }


async def test_encrypted_reasoning_replays_next_turn(server: ScriptedServer) -> None:
    """A reply's reasoning (encrypted), calls and results go back as input items."""
    server.reply(Reply(body=parallel_calls().frames()), Reply(body=text_only().frames()))
    first = await llm.stream(make_model(server), CONTEXT, OPTIONS).result()
    assert first.stop_reason == "toolUse"
    history = [
        *CONTEXT.messages,
        first,
        llm.ToolResultMessage("call_a1", "get_weather", [llm.TextContent("18 °C")]),
        llm.ToolResultMessage("call_b2", "get_time", [llm.TextContent("10:00")], is_error=True),
    ]
    await llm.stream(make_model(server), llm.Context(messages=history), OPTIONS).result()
    assert server.wait_requests(2, 5)
    items = server.requests[1].json()["input"]
    assert items[1:] == [
        {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "Two lookups."}],
            "encrypted_content": "enc-2",
        },
        {
            "type": "function_call",
            "call_id": "call_a1",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
        {
            "type": "function_call",
            "call_id": "call_b2",
            "name": "get_time",
            "arguments": '{"tz":"Europe/Paris"}',
        },
        {"type": "function_call_output", "call_id": "call_a1", "output": "18 °C"},
        {"type": "function_call_output", "call_id": "call_b2", "output": "10:00"},
    ]


# -- truncation and errors --------------------------------------------------------


@pytest.mark.parametrize("mode", SPLIT_MODES)
async def test_incomplete_is_length_and_agrees(server: ScriptedServer, mode: str) -> None:
    server.reply(Reply(body=split(truncated().frames(), mode)))
    events, message = await run_pluma(server)
    check_lifecycle(events)
    assert_deltas_build_the_message(events, message)
    assert message.stop_reason == "length"
    sdk = await r.sdk_events(server.url)
    assert sdk.terminal == "response.incomplete"
    assert r.summary_of_pluma(message) == r.summary_of_sdk(sdk.response)


def error_event_mid_stream() -> r.Transcript:
    t = r.Transcript()
    t.message(["partial ", "answer"], finish=False)
    t.error("server_error", "The server had an error while processing your request.")
    return t


def failed_mid_stream() -> r.Transcript:
    t = r.Transcript()
    t.reasoning([["thinking"]], encrypted="enc-f")
    t.message(["partial"], finish=False)
    t.failed("rate_limit_exceeded", "Rate limit reached for gpt-5-test.")
    return t


@pytest.mark.parametrize("mode", SPLIT_MODES)
@pytest.mark.parametrize(
    ("build", "words"),
    [
        (error_event_mid_stream, "The server had an error"),
        (failed_mid_stream, "Rate limit reached"),
    ],
)
async def test_errors_mid_stream_keep_partial_content(
    server: ScriptedServer, build: Callable[[], r.Transcript], words: str, mode: str
) -> None:
    server.reply(Reply(body=split(build().frames(), mode)))
    events, message = await run_pluma(server)
    check_lifecycle(events)
    assert events[-1].type == "error"
    assert message.stop_reason == "error"
    assert message.error_message is not None and words in message.error_message
    assert isinstance(events[-1].error, llm.ProviderError)
    assert events[-1].error.retryable
    sdk = await r.sdk_events(server.url)
    # The SDK saw the same failure and the same partial output.
    assert sdk.terminal == "response.failed" or sdk.error_event is not None
    ours = r.summary_of_pluma(message, usage=False)
    theirs = r.summary_of_sdk(sdk.response)
    theirs.pop("usage", None)
    assert ours == theirs


async def test_cut_stream_is_one_error_with_partial(server: ScriptedServer) -> None:
    frames = text_only().frames()[:-3]  # no text done, no item done, no completed
    server.reply(Reply(body=frames, cut=True))
    events, message = await run_pluma(server)
    check_lifecycle(events)
    assert message.stop_reason == "error"
    assert message.text == "Hello, wörld 🎉!"


async def test_http_error_carries_the_upstream_message(server: ScriptedServer) -> None:
    server.reply(
        Reply.json(
            {
                "error": {
                    "message": "Invalid 'input': empty",
                    "type": "invalid_request_error",
                    "code": "empty_input",
                    "param": "input",
                }
            },
            status=400,
        )
    )
    events, message = await run_pluma(server)
    assert [e.type for e in events] == ["start", "error"]
    assert "Invalid 'input': empty" in (message.error_message or "")
    assert "sk-test-key-123456" not in (message.error_message or "")


@pytest.mark.parametrize(
    "field", ["stop", "seed", "top_k", "presence_penalty", "frequency_penalty"]
)
async def test_unsupported_controls_are_refused_before_sending(
    server: ScriptedServer, field: str
) -> None:
    value: Any = ["END"] if field == "stop" else 1
    options = llm.StreamOptions(api_key="k", max_retries=0, **{field: value})
    events, message = await run_pluma(server, options)
    assert [e.type for e in events] == ["start", "error"]
    assert isinstance(events[-1].error, UnsupportedControlError)
    assert events[-1].error.field == field
    assert (message.error_message or "").startswith(f"{field} is not supported by")
    assert server.requests == []


def test_options_are_validated_by_the_client() -> None:
    model = llm.Model(
        id="m", provider="openai", protocol="openai-responses", base_url="http://127.0.0.1:1"
    )
    bad = llm.StreamOptions(protocol_options=OpenAIResponsesOptions(tool_choice={"name": "nope"}))
    with pytest.raises(llm.ConfigurationError, match="nope"):
        llm.stream(model, CONTEXT, bad)
    bad = llm.StreamOptions(protocol_options=OpenAIResponsesOptions(extra_body={"stream": False}))
    with pytest.raises(llm.ConfigurationError, match="stream"):
        llm.stream(model, CONTEXT, bad)


def test_off_and_non_reasoning_models_send_no_reasoning() -> None:
    base = llm.Model(id="m", provider="openai", protocol="openai-responses", base_url="x")
    body = build_request(base, CONTEXT, llm.StreamOptions(reasoning="high"))
    assert "reasoning" not in body and "include" not in body
    reasoning = llm.Model(id="m", provider="openai", protocol="openai-responses", reasoning=True)
    body = build_request(reasoning, CONTEXT, llm.StreamOptions(reasoning="off"))
    assert "reasoning" not in body and "include" not in body


def test_parser_without_http_and_json_answer() -> None:
    """The parser is usable on its own; a whole Response (a server that
    ignored stream: true) is read through the same parser."""
    from pluma.llm.protocols.openai_responses import response_as_events

    transcript = reasoning_then_text()
    final = transcript.events[-1]["response"]
    parser = ResponsesParser(llm.StreamWriter(llm.AssistantMessage()), make_model_stub())
    out: list[llm.Event] = []
    for item in response_as_events(json.loads(json.dumps(final))):
        out += parser.feed(item)
    assert out[-1].type == "done"
    message = parser.message
    assert [type(b).__name__ for b in message.content] == ["ThinkingContent", "TextContent"]
    assert message.text == "The answer is 4."
    assert message.content[0].signature == "gAAAAB-opaque=="  # type: ignore[union-attr]
    assert message.usage.output == 300


def make_model_stub() -> llm.Model:
    return llm.Model(id=r.MODEL, provider="openai", protocol="openai-responses", cost=COST)


# -- in bulk, without the network ---------------------------------------------------

PIECES = ["a", "b ", "é", "🎉", "\n", "日本", '"q"', "\\"]


def random_transcript(seed: int) -> r.Transcript:
    """Items of every kind in random order and number, random pieces."""
    rng = random.Random(seed)

    def pieces() -> list[str]:
        return [rng.choice(PIECES) for _ in range(rng.randint(1, 6))]

    t = r.Transcript(f"resp_{seed}")
    for _ in range(rng.randint(1, 5)):
        kind = rng.choice(["reasoning", "text", "refusal", "calls"])
        if kind == "reasoning":
            encrypted = rng.choice([None, f"enc-{seed}"])
            t.reasoning([pieces() for _ in range(rng.randint(0, 3))], encrypted=encrypted)
        elif kind in ("text", "refusal"):
            t.message(pieces(), refusal=kind == "refusal")
        else:
            calls = []
            for number in range(rng.randint(1, 3)):
                arguments = json.dumps(
                    {f"k{i}": rng.choice(PIECES) for i in range(rng.randint(0, 3))}
                )
                cuts = sorted(rng.sample(range(1, len(arguments)), min(3, len(arguments) - 1)))
                fragments = [
                    arguments[i:j] for i, j in zip([0, *cuts], [*cuts, len(arguments)], strict=True)
                ]
                calls.append((f"call_{seed}_{len(t.output)}_{number}", f"tool_{number}", fragments))
            t.function_calls(calls)
    prompt = rng.randint(5, 500)
    cached = rng.randint(0, prompt)
    written = rng.randint(0, prompt - cached)
    t.completed(r.usage(prompt, rng.randint(1, 99), cached=cached, written=written))
    return t


def test_parser_agrees_with_the_sdk_state_on_random_streams() -> None:
    from openai import omit
    from openai.lib.streaming.responses._responses import ResponseStreamState
    from openai.types.responses import ResponseStreamEvent
    from pydantic import TypeAdapter

    events_type: TypeAdapter[ResponseStreamEvent] = TypeAdapter(ResponseStreamEvent)
    for seed in range(200):
        transcript = random_transcript(seed)
        state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
        final = None
        for event in transcript.events:
            for out in state.handle_event(events_type.validate_python(event)):
                if out.type == "response.completed":
                    final = out.response
        parser = ResponsesParser(llm.StreamWriter(llm.AssistantMessage()), make_model_stub())
        events: list[llm.Event] = []
        for event in transcript.events:
            events += parser.feed(event)
        assert events[-1].type == "done", seed
        assert_deltas_build_the_message(events, parser.message)
        assert r.summary_of_pluma(parser.message) == r.summary_of_sdk(final), seed


def test_transcripts_are_valid_events_for_the_sdk_types() -> None:
    """Every hand-written transcript validates strictly against the SDK's
    event types (over HTTP the SDK reads leniently, so check it here)."""
    from openai.types.responses import ResponseStreamEvent
    from pydantic import TypeAdapter

    events_type: TypeAdapter[ResponseStreamEvent] = TypeAdapter(ResponseStreamEvent)
    builders = [*COMPLETE.values(), truncated, error_event_mid_stream, failed_mid_stream]
    for build in builders:
        for event in build().events:
            events_type.validate_python(event)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (llm.StreamOptions(max_tokens=8), "at least 16"),
        (llm.StreamOptions(metadata={f"k{i}": "v" for i in range(17)}), "at most 16 pairs"),
        (llm.StreamOptions(metadata={"k" * 65: "v"}), "64 characters"),
    ],
)
def test_api_limits_are_checked_before_sending(options: llm.StreamOptions, words: str) -> None:
    with pytest.raises(llm.ConfigurationError, match=words):
        build_request(make_model_stub(), CONTEXT, options)


def test_tool_result_images_go_as_output_parts() -> None:
    model = llm.Model(
        id="m", provider="openai", protocol="openai-responses", input=["text", "image"]
    )
    result = llm.ToolResultMessage(
        "call_1", "snap", [llm.TextContent("done"), llm.ImageContent("aGk=", "image/png")]
    )
    items = build_request(model, llm.Context(messages=[result]), llm.StreamOptions())["input"]
    assert items == [
        {
            "type": "function_call_output",
            "call_id": "call_1",
            "output": [
                {"type": "input_text", "text": "done"},
                {
                    "type": "input_image",
                    "image_url": "data:image/png;base64,aGk=",
                    "detail": "auto",
                },
            ],
        }
    ]
