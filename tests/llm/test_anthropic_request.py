"""What the anthropic-messages adapter sends: URL, headers and body, read back
from the requests a local upstream received."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.support import anthropic_streams as a
from tests.support.scripted_server import Reply, ScriptedServer

from pluma import llm
from pluma.llm.controls import UnsupportedControlError
from pluma.llm.handoff import TOOL_ID_RULES, fit_tool_id
from pluma.llm.protocols.anthropic_messages import (
    AnthropicMessagesOptions,
    NamedTool,
    build_headers,
    plan_tokens,
)

WEATHER = llm.Tool(
    name="get_weather",
    description="Weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CLOCK = llm.Tool(name="clock", description="The time")


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as s:
        s.reply(Reply.sse(a.text_stream("ok")))
        yield s


def make_model(server: ScriptedServer, **kw: Any) -> llm.Model:
    settings: dict[str, Any] = {"reasoning": True, "max_tokens": 64_000, "input": ["text", "image"]}
    settings.update(kw)
    return llm.Model(
        id="claude-sonnet-test",
        provider="anthropic",
        protocol="anthropic-messages",
        base_url=server.url + "/v1",
        **settings,
    )


async def send(
    server: ScriptedServer,
    context: llm.Context,
    options: llm.StreamOptions | None = None,
    model: llm.Model | None = None,
) -> dict[str, Any]:
    """Stream once and return the JSON body the upstream received."""
    message = await llm.complete(model or make_model(server), context, options)
    assert message.text == "ok"
    body: dict[str, Any] = server.requests[-1].json()
    return body


def user(text: str = "Hello") -> llm.Context:
    return llm.Context(messages=[llm.UserMessage(text)])


async def test_url_and_headers(server: ScriptedServer) -> None:
    model = make_model(server, headers={"x-model-header": "m", "anthropic-version": "2023-06-01"})
    options = llm.StreamOptions(api_key="sk-test", headers={"x-call-header": "c"})
    await send(server, user(), options, model)
    request = server.requests[0]
    assert request.method == "POST"
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == "sk-test"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["x-model-header"] == "m"
    assert request.headers["x-call-header"] == "c"
    assert request.headers["content-type"] == "application/json"
    assert "anthropic-beta" not in request.headers


def test_header_overrides_replace_ours_whatever_their_case() -> None:
    """A header given as ``X-Api-Key`` or ``Anthropic-Version`` replaces the
    adapter's own instead of being sent beside it (two values for one header)."""
    model = llm.Model(
        id="m",
        provider="proxy",
        protocol="anthropic-messages",
        headers={"Anthropic-Version": "2099-01-01"},
    )
    options = llm.StreamOptions(api_key="sk-env", headers={"X-Api-Key": "sk-proxy"})
    headers = build_headers(
        model, options, AnthropicMessagesOptions(), thinking=False, has_tools=False
    )
    assert headers["x-api-key"] == "sk-proxy"
    assert headers["anthropic-version"] == "2099-01-01"
    names = [name.lower() for name in headers]
    assert len(names) == len(set(names)), headers


async def test_base_url_option_wins_and_no_key_for_loopback(server: ScriptedServer) -> None:
    model = llm.Model(
        id="m", provider="local", protocol="anthropic-messages", base_url="http://192.0.2.1/v1"
    )
    await send(server, user(), llm.StreamOptions(base_url=server.url + "/custom/"), model)
    assert server.requests[0].path == "/custom/messages"
    assert "x-api-key" not in server.requests[0].headers


async def test_plain_body(server: ScriptedServer) -> None:
    body = await send(server, user(), llm.StreamOptions(temperature=0.3))
    assert body == {
        "model": "claude-sonnet-test",
        "max_tokens": 64_000,
        "stream": True,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Hello", "cache_control": {"type": "ephemeral"}}
                ],
            }
        ],
        "temperature": 0.3,
    }


async def test_cache_control_on_system_last_tool_and_last_message(server: ScriptedServer) -> None:
    context = llm.Context(
        system_prompt="You are terse.",
        messages=[llm.UserMessage("first"), llm.UserMessage("second")],
        tools=[WEATHER, CLOCK],
    )
    body = await send(server, context, llm.StreamOptions(max_tokens=500))
    assert body["system"] == [
        {"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}
    ]
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": WEATHER.parameters,
        },
        {
            "name": "clock",
            "description": "The time",
            "input_schema": {"type": "object", "properties": {}},
            "cache_control": {"type": "ephemeral"},
        },
    ]
    assert "cache_control" not in body["messages"][0]["content"][0]
    assert body["messages"][1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert body["max_tokens"] == 500
    assert "tool_choice" not in body


async def test_prompt_caching_can_be_turned_off(server: ScriptedServer) -> None:
    context = llm.Context(system_prompt="S", messages=[llm.UserMessage("x")], tools=[CLOCK])
    options = llm.StreamOptions(protocol_options=AnthropicMessagesOptions(prompt_caching=False))
    body = await send(server, context, options)
    assert "cache_control" not in str(body)


# Rewritten by the handoff (pluma.llm.handoff) to the API's id alphabet.
ODD_ID = fit_tool_id("call|with.odd:chars", TOOL_ID_RULES["anthropic-messages"])


def assistant(*content: llm.AssistantContent, **kw: Any) -> llm.AssistantMessage:
    return llm.AssistantMessage(
        content=list(content), protocol="anthropic-messages", provider="anthropic", **kw
    )


async def test_history_with_thinking_tools_and_merged_results(server: ScriptedServer) -> None:
    context = llm.Context(
        messages=[
            llm.UserMessage(
                [
                    llm.TextContent("What is in this picture?"),
                    llm.ImageContent(data="iVBORw0KGgo=", mime_type="image/png"),
                ]
            ),
            assistant(
                llm.ThinkingContent("secret", signature=None, redacted=True),
                llm.ThinkingContent("", signature="EncPayload==", redacted=True),
                llm.ThinkingContent("I should call both.", signature="sig-abc"),
                llm.TextContent("Let me look."),
                llm.ToolCall("toolu_1", "get_weather", {"city": "Oslo"}),
                llm.ToolCall("call|with.odd:chars", "clock", {}),
                stop_reason="toolUse",
            ),
            llm.ToolResultMessage("toolu_1", "get_weather", [llm.TextContent("-3 C")]),
            llm.ToolResultMessage(
                "call|with.odd:chars", "clock", [llm.TextContent("boom")], is_error=True
            ),
            assistant(llm.TextContent("Cold, and the clock failed.")),
            llm.UserMessage("Thanks"),
        ],
        tools=[WEATHER, CLOCK],
    )
    body = await send(server, context)
    messages = body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[0]["content"] == [
        {"type": "text", "text": "What is in this picture?"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        },
    ]
    assert messages[1]["content"] == [
        {"type": "redacted_thinking", "data": "EncPayload=="},
        {"type": "thinking", "thinking": "I should call both.", "signature": "sig-abc"},
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
        {"type": "tool_use", "id": ODD_ID, "name": "clock", "input": {}},
    ]
    # consecutive tool results: ONE user message, ids matching the tool_use ids
    assert messages[2]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "toolu_1",
            "content": [{"type": "text", "text": "-3 C"}],
        },
        {
            "type": "tool_result",
            "tool_use_id": ODD_ID,
            "content": [{"type": "text", "text": "boom"}],
            "is_error": True,
        },
    ]
    assert messages[4]["content"] == [
        {"type": "text", "text": "Thanks", "cache_control": {"type": "ephemeral"}}
    ]


async def test_last_tool_result_gets_cache_control(server: ScriptedServer) -> None:
    context = llm.Context(
        messages=[
            llm.UserMessage("go"),
            assistant(llm.ToolCall("toolu_9", "clock", {}), stop_reason="toolUse"),
            llm.ToolResultMessage("toolu_9", "clock", [llm.TextContent("noon")]),
        ],
        tools=[CLOCK],
    )
    body = await send(server, context)
    last = body["messages"][-1]["content"][-1]
    assert last["type"] == "tool_result" and last["cache_control"] == {"type": "ephemeral"}


async def test_foreign_or_unsigned_thinking_becomes_text(server: ScriptedServer) -> None:
    foreign = llm.AssistantMessage(
        content=[
            llm.ThinkingContent("openai reasoning", signature="rs_123"),
            llm.ThinkingContent("", signature="enc", redacted=True),
            llm.TextContent("answer"),
        ],
        protocol="openai-completions",
    )
    unsigned = assistant(llm.ThinkingContent("no signature here"), llm.TextContent("a2"))
    context = llm.Context(
        messages=[
            llm.UserMessage("q"),
            foreign,
            llm.UserMessage("q2"),
            unsigned,
            llm.UserMessage("q3"),
        ]
    )
    body = await send(server, context)
    assert body["messages"][1]["content"] == [
        {"type": "text", "text": "openai reasoning"},
        {"type": "text", "text": "answer"},
    ]
    assert body["messages"][3]["content"] == [
        {"type": "text", "text": "no signature here"},
        {"type": "text", "text": "a2"},
    ]


async def test_failed_assistant_turns_and_empty_text_are_dropped(server: ScriptedServer) -> None:
    context = llm.Context(
        messages=[
            llm.UserMessage("q"),
            assistant(
                llm.TextContent("half"),
                llm.ToolCall("toolu_x", "clock", {}),
                stop_reason="aborted",
            ),
            llm.UserMessage([llm.TextContent("  "), llm.TextContent("again")]),
        ]
    )
    body = await send(server, context)
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "q"}]},
        {
            "role": "user",
            "content": [{"type": "text", "text": "again", "cache_control": {"type": "ephemeral"}}],
        },
    ]


async def test_images_to_a_text_only_model_become_a_note(server: ScriptedServer) -> None:
    context = llm.Context(
        messages=[llm.UserMessage([llm.ImageContent(data="AAAA", mime_type="image/jpeg")])]
    )
    body = await send(server, context, model=make_model(server, input=["text"]))
    block = body["messages"][0]["content"][0]
    assert block["type"] == "text" and "image" in block["text"]


# -- thinking and token budget -------------------------------------------------


async def test_thinking_budget_below_max_tokens_and_its_only_temperature_sent(
    server: ScriptedServer,
) -> None:
    options = llm.StreamOptions(reasoning="medium", temperature=1, max_tokens=2000)
    body = await send(server, user(), options)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert body["max_tokens"] == 2000 + 8192
    assert body["thinking"]["budget_tokens"] < body["max_tokens"]
    assert body["temperature"] == 1


async def test_another_temperature_while_thinking_is_refused_before_sending(
    server: ScriptedServer,
) -> None:
    # The API refuses any temperature but 1 with thinking on; dropping it
    # silently would answer with a temperature the caller did not ask for.
    options = llm.StreamOptions(reasoning="medium", temperature=0.2)
    stream = llm.stream(make_model(server), user(), options)
    events = [e async for e in stream]
    assert [e.type for e in events] == ["start", "error"]
    assert isinstance(events[-1].error, UnsupportedControlError)
    message = (await stream.result()).error_message or ""
    assert "temperature 0.2" in message and "reasoning 'off'" in message
    assert server.requests == []


async def test_thinking_display_and_budget_override(server: ScriptedServer) -> None:
    options = llm.StreamOptions(
        reasoning="low",
        protocol_options=AnthropicMessagesOptions(thinking_display="omitted", thinking_budget=5000),
    )
    body = await send(server, user(), options)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 5000, "display": "omitted"}
    assert body["max_tokens"] == 64_000


async def test_interleaved_thinking_beta_with_tools(server: ScriptedServer) -> None:
    options = llm.StreamOptions(
        reasoning="high", protocol_options=AnthropicMessagesOptions(betas=("extra-beta-1",))
    )
    await send(server, llm.Context(messages=[llm.UserMessage("x")], tools=[CLOCK]), options)
    assert (
        server.requests[0].headers["anthropic-beta"]
        == "interleaved-thinking-2025-05-14,extra-beta-1"
    )


async def test_no_thinking_when_off_or_model_cannot_reason(server: ScriptedServer) -> None:
    body = await send(server, user(), llm.StreamOptions(reasoning="off", temperature=0.5))
    assert "thinking" not in body and body["temperature"] == 0.5
    body = await send(
        server, user(), llm.StreamOptions(reasoning="high"), make_model(server, reasoning=False)
    )
    assert "thinking" not in body


@pytest.mark.parametrize(
    ("model_max", "option_max", "level", "expected"),
    [
        (64_000, None, "medium", (64_000, 8192)),
        (64_000, 2000, "xhigh", (34_000, 32_000)),
        (64_000, 100, "xhigh", (33_024, 32_000)),  # budget kept, answer room raised to 1024
        (4096, None, "high", (4096, 3072)),  # budget shrunk to leave room for the answer
        (8192, None, "minimal", (8192, 1024)),
        (1500, None, "medium", (1500, None)),  # too small to think at all
        (64_000, None, "off", (64_000, None)),
        (64_000, None, None, (64_000, None)),
    ],
)
def test_token_plan(
    model_max: int, option_max: int | None, level: Any, expected: tuple[int, int | None]
) -> None:
    model = llm.Model(
        id="m",
        provider="anthropic",
        protocol="anthropic-messages",
        reasoning=True,
        max_tokens=model_max,
    )
    options = llm.StreamOptions(max_tokens=option_max, reasoning=level)
    plan = plan_tokens(model, options, AnthropicMessagesOptions())
    assert (plan.max_tokens, plan.thinking_budget) == expected
    if plan.thinking_budget is not None:
        assert 1024 <= plan.thinking_budget < plan.max_tokens


# -- tool choice -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (AnthropicMessagesOptions(tool_choice="auto"), {"type": "auto"}),
        (AnthropicMessagesOptions(tool_choice="any"), {"type": "any"}),
        (AnthropicMessagesOptions(tool_choice="none"), {"type": "none"}),
        (
            AnthropicMessagesOptions(tool_choice=NamedTool("clock")),
            {"type": "tool", "name": "clock"},
        ),
        (
            AnthropicMessagesOptions(tool_choice="any", disable_parallel_tool_use=True),
            {"type": "any", "disable_parallel_tool_use": True},
        ),
        (
            AnthropicMessagesOptions(disable_parallel_tool_use=True),
            {"type": "auto", "disable_parallel_tool_use": True},
        ),
    ],
)
async def test_tool_choice(
    server: ScriptedServer, options: AnthropicMessagesOptions, expected: dict[str, Any]
) -> None:
    context = llm.Context(messages=[llm.UserMessage("x")], tools=[WEATHER, CLOCK])
    body = await send(server, context, llm.StreamOptions(protocol_options=options))
    assert body["tool_choice"] == expected


@pytest.mark.parametrize(
    ("options", "tools", "fragment"),
    [
        (AnthropicMessagesOptions(tool_choice=NamedTool("nope")), [CLOCK], "'nope'"),
        (AnthropicMessagesOptions(tool_choice="any"), [], "at least one tool"),
        (AnthropicMessagesOptions(tool_choice="sometimes"), [CLOCK], "must be"),  # type: ignore[arg-type]
        (AnthropicMessagesOptions(thinking_budget=100), [], "at least 1024"),
        (AnthropicMessagesOptions(thinking_display="full"), [], "summarized"),  # type: ignore[arg-type]
        (AnthropicMessagesOptions(betas=("a,b",)), [], "comma"),
    ],
)
def test_invalid_options_are_refused_before_sending(
    options: AnthropicMessagesOptions, tools: list[llm.Tool], fragment: str
) -> None:
    model = llm.Model(
        id="m", provider="x", protocol="anthropic-messages", base_url="http://127.0.0.1:9"
    )
    context = llm.Context(messages=[llm.UserMessage("x")], tools=tools)
    with pytest.raises(llm.ConfigurationError, match=fragment):
        llm.stream(model, context, llm.StreamOptions(protocol_options=options))


async def test_forced_tool_with_thinking_is_a_clear_error(server: ScriptedServer) -> None:
    options = llm.StreamOptions(
        reasoning="medium", protocol_options=AnthropicMessagesOptions(tool_choice="any")
    )
    stream = llm.stream(
        make_model(server), llm.Context(messages=[llm.UserMessage("x")], tools=[CLOCK]), options
    )
    events = [e async for e in stream]
    assert [e.type for e in events] == ["start", "error"]
    assert isinstance(events[-1].error, llm.ConfigurationError)  # as docs/events.md says
    message = await stream.result()
    assert message.error_message is not None and "reasoning='off'" in message.error_message
    assert server.requests == []


def test_anthropic_models_default_to_the_public_endpoint() -> None:
    from pluma.llm.protocols.anthropic_messages import messages_url

    model = llm.Model(id="claude-x", provider="anthropic", protocol="anthropic-messages")
    assert messages_url(model, llm.StreamOptions()) == "https://api.anthropic.com/v1/messages"
    other = llm.StreamOptions(base_url="http://127.0.0.1:1/v1/")
    assert messages_url(model, other) == "http://127.0.0.1:1/v1/messages"


async def test_streamed_reply_replays_verbatim_in_the_next_turn() -> None:
    """A reply assembled from a stream, sent back (after a JSON round trip)
    with its tool result, gives the blocks the API expects to see again."""
    first = [
        a.message_start(model="claude-sonnet-test"),  # the model asked for
        a.thinking_start(0),
        a.thinking_delta(0, "Need the time."),
        a.signature_delta(0, "SIG=="),
        a.block_stop(0),
        a.redacted_thinking(1, "REDACTED=="),
        a.block_stop(1),
        a.tool_start(2, "toolu_77", "clock"),
        a.input_json_delta(2, '{"tz": "UTC"}'),
        a.block_stop(2),
        a.message_delta("tool_use", 30),
        a.message_stop(),
    ]
    with ScriptedServer() as server:
        server.reply(Reply.sse(first), Reply.sse(a.text_stream("ok")))
        model = make_model(server)
        context = llm.Context(messages=[llm.UserMessage("time?")], tools=[CLOCK])
        reply = await llm.complete(model, context, llm.StreamOptions(reasoning="low"))
        restored = llm.from_json(llm.to_json(reply))
        context.messages += [
            restored,
            llm.ToolResultMessage("toolu_77", "clock", [llm.TextContent("12:00")]),
        ]
        await send(server, context, llm.StreamOptions(reasoning="low"), model)
        body = server.requests[-1].json()
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "Need the time.", "signature": "SIG=="},
            {"type": "redacted_thinking", "data": "REDACTED=="},
            {"type": "tool_use", "id": "toolu_77", "name": "clock", "input": {"tz": "UTC"}},
        ],
    }
    assert body["messages"][2]["content"][0]["tool_use_id"] == "toolu_77"
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
