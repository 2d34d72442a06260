"""What the openai-completions adapter sends: the request body and headers as
recorded by a real local server, and the compat-dependent variants."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from tests.support.openai_streams import model_for, sse, text_stream
from tests.support.scripted_server import Reply, ScriptedServer

from pluma import llm
from pluma.llm.protocols.openai_completions import (
    OpenAICompletionsOptions,
    build_request,
    detect_compat,
)
from pluma.llm.protocols.openai_completions.request import IMAGE_OMITTED, TOOL_RESULTS_BRIDGE

PNG = "iVBORw0KGgo="
WEATHER = llm.Tool(
    name="weather",
    description="Weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CLOCK = llm.Tool(name="clock", description="The time", parameters={"type": "object"})


def history() -> llm.Context:
    """A full multi-turn exchange: text, image, thinking, two tool calls with
    results (one with an image), then a follow-up question."""
    return llm.Context(
        system_prompt="You are terse.",
        tools=[WEATHER, CLOCK],
        messages=[
            llm.UserMessage([llm.TextContent("What is this?"), llm.ImageContent(PNG, "image/png")]),
            llm.AssistantMessage(
                content=[
                    llm.ThinkingContent("The user wants weather."),
                    llm.TextContent("Let me check."),
                    llm.ToolCall("call_1", "weather", {"city": "Paris"}),
                    llm.ToolCall("call_2", "clock", {}),
                ],
                stop_reason="toolUse",
            ),
            llm.ToolResultMessage("call_1", "weather", [llm.TextContent("Sunny, 21°C")]),
            llm.ToolResultMessage(
                "call_2",
                "clock",
                [llm.TextContent("12:00"), llm.ImageContent(PNG, "image/png")],
            ),
            llm.UserMessage("Thanks. And tomorrow?"),
        ],
    )


async def record(model: llm.Model, context: llm.Context, options: llm.StreamOptions) -> Any:
    """Run one stream against a local server and return the recorded request."""
    with ScriptedServer() as server:
        server.reply(Reply.sse(sse(text_stream(["ok"]))))
        local = dataclasses.replace(model, base_url=server.url + "/v1")
        message = await llm.complete(local, context, options)
        assert message.text == "ok"
        assert len(server.requests) == 1
        return server.requests[0]


async def test_full_request_body_and_headers() -> None:
    model = model_for("http://unused", reasoning=True, input=["text", "image"], provider="openai")
    options = llm.StreamOptions(
        api_key="sk-secret",
        headers={"x-call": "1"},
        max_tokens=500,
        reasoning="xhigh",
        max_retries=0,
        protocol_options=OpenAICompletionsOptions(tool_choice={"name": "weather"}),
    )
    model.headers = {"x-model": "m", "X-Call": "from-model"}
    request = await record(model, history(), options)
    assert request.method == "POST"
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-secret"
    assert request.headers["x-model"] == "m"
    assert request.headers["x-call"] == "1"
    body = request.json()
    assert body["model"] == "gpt-test"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    # provider "openai" on a local URL: OpenAI's rules (developer role for a
    # reasoning model, max_completion_tokens, reasoning_effort, no temperature)
    assert body["max_completion_tokens"] == 500
    assert "max_tokens" not in body
    assert body["reasoning_effort"] == "high"  # xhigh is not an OpenAI level
    assert "temperature" not in body
    assert body["tool_choice"] == {"type": "function", "function": {"name": "weather"}}
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "description": "Weather for a city",
                "parameters": WEATHER.parameters,
            },
        },
        {
            "type": "function",
            "function": {
                "name": "clock",
                "description": "The time",
                "parameters": {"type": "object"},
            },
        },
    ]
    image_url = {"url": f"data:image/png;base64,{PNG}"}
    assert body["messages"] == [
        {"role": "developer", "content": "You are terse."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": image_url},
            ],
        },
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "clock", "arguments": "{}"},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21°C"},
        {
            "role": "tool",
            "tool_call_id": "call_2",
            "content": "12:00\n(the images follow in the next user message)",
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Images returned by the tool calls above:"},
                {"type": "text", "text": "From clock (call_2):"},
                {"type": "image_url", "image_url": image_url},
            ],
        },
        {"role": "user", "content": "Thanks. And tomorrow?"},
    ]


async def test_generic_server_request() -> None:
    """An unknown OpenAI-compatible server: system role, max_tokens,
    temperature, no reasoning_effort for a non-reasoning model, no key header."""
    model = model_for("http://unused")
    options = llm.StreamOptions(max_tokens=64, temperature=0.7, reasoning="high", max_retries=0)
    request = await record(model, history(), options)
    body = request.json()
    assert "authorization" not in request.headers
    assert body["messages"][0] == {"role": "system", "content": "You are terse."}
    assert body["max_tokens"] == 64
    assert "max_completion_tokens" not in body
    assert body["temperature"] == 0.7
    assert "reasoning_effort" not in body
    assert "tool_choice" not in body
    # the model takes no images: a note instead of each image
    assert body["messages"][1]["content"][1] == {"type": "text", "text": IMAGE_OMITTED}
    assert all(m["role"] != "user" or m["content"] != [] for m in body["messages"])
    assert body["messages"][4]["content"] == f"12:00\n{IMAGE_OMITTED}"


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("off", None),
        ("minimal", "minimal"),
        ("low", "low"),
        ("medium", "medium"),
        ("high", "high"),
        ("xhigh", "high"),
    ],
)
def test_reasoning_effort_levels_on_openai(level: llm.ReasoningLevel, expected: str | None) -> None:
    model = llm.get_model("openai", "o4-mini")
    body = build_request(
        model, llm.Context(), llm.StreamOptions(reasoning=level), detect_compat(model)
    )
    assert body.get("reasoning_effort") == expected


def test_xhigh_is_sent_when_the_compat_allows_it() -> None:
    model = llm.get_model("openai", "o4-mini")
    model.compat = {"reasoning_effort_levels": ["low", "medium", "high", "xhigh"]}
    body = build_request(
        model, llm.Context(), llm.StreamOptions(reasoning="xhigh"), detect_compat(model)
    )
    assert body["reasoning_effort"] == "xhigh"


def test_openrouter_reasoning_shape() -> None:
    model = model_for("http://x", reasoning=True)
    model.base_url = "https://openrouter.ai/api/v1"
    body = build_request(
        model, llm.Context(), llm.StreamOptions(reasoning="medium"), detect_compat(model)
    )
    assert body["reasoning"] == {"effort": "medium"}
    assert "reasoning_effort" not in body


def test_mistral_tool_result_name_and_bridge() -> None:
    model = model_for("http://x")
    model.base_url = "https://api.mistral.ai/v1"
    context = llm.Context(
        messages=[
            llm.UserMessage("hi"),
            llm.AssistantMessage(content=[llm.ToolCall("abc123XYZ", "clock", {})]),
            llm.ToolResultMessage("abc123XYZ", "clock", [llm.TextContent("noon")]),
            llm.UserMessage("thanks"),
        ]
    )
    body = build_request(model, context, llm.StreamOptions(), detect_compat(model))
    assert "stream_options" not in body
    assert body["messages"][2] == {
        "role": "tool",
        "tool_call_id": "abc123XYZ",
        "content": "noon",
        "name": "clock",
    }
    assert body["messages"][3] == {"role": "assistant", "content": TOOL_RESULTS_BRIDGE}
    assert body["messages"][4] == {"role": "user", "content": "thanks"}


def test_thinking_replayed_only_when_the_compat_names_a_field() -> None:
    context = llm.Context(
        messages=[
            llm.UserMessage("q"),
            llm.AssistantMessage(content=[llm.ThinkingContent("hmm"), llm.TextContent("a")]),
            llm.UserMessage("q2"),
        ]
    )
    plain = model_for("http://x")
    body = build_request(plain, context, llm.StreamOptions(), detect_compat(plain))
    assert body["messages"][1] == {"role": "assistant", "content": "a"}
    llamacpp = model_for("http://x", provider="llamacpp")
    body = build_request(llamacpp, context, llm.StreamOptions(), detect_compat(llamacpp))
    assert body["messages"][1] == {"role": "assistant", "content": "a", "reasoning_content": "hmm"}


def test_failed_assistant_turns_send_text_only() -> None:
    """Tool calls of an errored or aborted turn never got results: sending them
    would make the upstream reject the history."""
    context = llm.Context(
        messages=[
            llm.UserMessage("q"),
            llm.AssistantMessage(
                content=[llm.TextContent("partial"), llm.ToolCall("c", "f", {})],
                stop_reason="aborted",
            ),
            llm.AssistantMessage(content=[], stop_reason="error"),
            llm.UserMessage("again"),
        ]
    )
    model = model_for("http://x")
    body = build_request(model, context, llm.StreamOptions(), detect_compat(model))
    assert body["messages"] == [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "partial"},
        {"role": "user", "content": "again"},
    ]


def test_tool_choice_wire_values_and_extras() -> None:
    model = model_for("http://x")
    context = llm.Context(messages=[llm.UserMessage("q")], tools=[WEATHER])
    for choice in ("auto", "none", "required"):
        options = llm.StreamOptions(
            protocol_options=OpenAICompletionsOptions(
                tool_choice=choice, parallel_tool_calls=False, extra_body={"seed": 7}
            )
        )
        body = build_request(model, context, options, detect_compat(model))
        assert body["tool_choice"] == choice
        assert body["parallel_tool_calls"] is False
        assert body["seed"] == 7


@pytest.mark.parametrize(
    ("choice", "tools", "needle"),
    [
        ({"name": "nope"}, [WEATHER], "'nope', which is not in the context's tools"),
        ("required", [], "needs at least one tool"),
        ("sometimes", [WEATHER], "tool_choice must be"),
        ({"tool": "weather"}, [WEATHER], "a named tool_choice must be"),
    ],
)
def test_invalid_tool_choice_is_rejected_before_sending(
    choice: Any, tools: list[llm.Tool], needle: str
) -> None:
    model = model_for("http://127.0.0.1:9")
    options = llm.StreamOptions(protocol_options=OpenAICompletionsOptions(tool_choice=choice))
    with pytest.raises(llm.ConfigurationError) as caught:
        llm.stream(model, llm.Context(messages=[llm.UserMessage("q")], tools=tools), options)
    assert needle in str(caught.value)


async def test_unknown_compat_key_is_a_clear_error() -> None:
    model = model_for("http://127.0.0.1:9", compat={"max_token_field": "max_tokens"})
    message = await llm.stream(model, llm.Context(messages=[llm.UserMessage("q")])).result()
    assert message.stop_reason == "error"
    assert "unknown openai-completions compat key(s) 'max_token_field'" in (
        message.error_message or ""
    )
    assert "max_tokens_field" in (message.error_message or "")


@pytest.mark.parametrize(
    ("base_url", "call_id", "check"),
    [
        (
            "https://api.mistral.ai/v1",
            "toolu_01A09q90qw90lq917835lq9",
            lambda i: len(i) == 9 and i.isalnum(),
        ),
        (
            "https://api.openai.com/v1",
            "fc_" + "x" * 60 + "|call_123",
            lambda i: len(i) == 40 and i.startswith("fc_xxx"),
        ),
        ("https://api.openai.com/v1", "call_short", lambda i: i == "call_short"),
    ],
)
def test_tool_call_ids_fit_the_upstream(base_url: str, call_id: str, check: Any) -> None:
    """Ids from another provider's history are rewritten to what this
    upstream accepts, identically in the call and in its result."""
    model = model_for("http://x")
    model.base_url = base_url
    context = llm.Context(
        messages=[
            llm.UserMessage("q"),
            llm.AssistantMessage(content=[llm.ToolCall(call_id, "f", {})]),
            llm.ToolResultMessage(call_id, "f", [llm.TextContent("r")]),
        ]
    )
    body = build_request(model, context, llm.StreamOptions(), detect_compat(model))
    sent = body["messages"][1]["tool_calls"][0]["id"]
    assert check(sent), sent
    assert body["messages"][2]["tool_call_id"] == sent
