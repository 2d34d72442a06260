"""Cross-model handoff: one conversation moves between models and protocols,
against loopback upstreams that refuse what the real APIs refuse
(tests/support/validating_upstreams.py), plus the rules of
:func:`llm.transform_messages` one by one."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.validating_upstreams import (
    AnthropicValidator,
    OpenAIValidator,
    anthropic_reply,
    openai_reply,
    redacted_for,
    signature_for,
)

from pluma import llm
from pluma.llm import handoff
from pluma.llm.handoff import NO_RESULT

transform_messages = llm.transform_messages

WEATHER = llm.Tool(
    name="weather",
    description="Weather in a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
LONG_ID = "toolu_" + "x" * 54  # valid for Anthropic (60 characters), too long for OpenAI
KIMI_ID = "functions.weather:0"  # Moonshot's style: '.' and ':' are outside Anthropic's alphabet


@pytest.fixture
def upstreams() -> Iterator[tuple[AnthropicValidator, OpenAIValidator]]:
    with AnthropicValidator() as anthropic, OpenAIValidator(text_only={"kimi-text"}) as openai:
        yield anthropic, openai


def claude(server: AnthropicValidator, model_id: str) -> llm.Model:
    return llm.Model(
        id=model_id,
        provider="anthropic",
        protocol="anthropic-messages",
        base_url=server.url + "/v1",
        reasoning=True,
        input=["text", "image"],
    )


def chat(server: OpenAIValidator, model_id: str, provider: str, images: bool) -> llm.Model:
    return llm.Model(
        id=model_id,
        provider=provider,
        protocol="openai-completions",
        base_url=server.url + "/v1",
        input=["text", "image"] if images else ["text"],
    )


THINK = llm.StreamOptions(api_key="k", reasoning="low")
PLAIN = llm.StreamOptions(api_key="k")


async def journey(
    anthropic: AnthropicValidator, openai: OpenAIValidator
) -> tuple[list[Any], list[Any]]:
    """Claude A → Claude A → a text-only chat model → another chat model →
    Claude B → the chat model again → Claude A. Returns the request bodies."""
    claude_a, claude_b = claude(anthropic, "claude-a"), claude(anthropic, "claude-b")
    kimi = chat(openai, "kimi-text", "moonshot", images=False)
    gpt = chat(openai, "gpt-x", "openai", images=True)
    ctx = llm.Context(messages=[llm.UserMessage("Weather in Paris?")], tools=[WEATHER])

    async def turn(model: llm.Model, options: llm.StreamOptions) -> llm.AssistantMessage:
        reply = await llm.complete(model, ctx, options)
        ctx.messages.append(reply)
        return reply

    anthropic.next_reply(
        anthropic_reply(
            thinking="I need the weather.",
            redacted=True,
            tool=("toolu_01AbC", "weather", {"city": "Paris"}),
        )
    )
    await turn(claude_a, THINK)
    ctx.messages.append(llm.ToolResultMessage("toolu_01AbC", "weather", [llm.TextContent("Sunny")]))

    anthropic.next_reply(anthropic_reply(thinking="It is sunny.", text="Sunny in Paris."))
    await turn(claude_a, THINK)

    ctx.messages.append(
        llm.UserMessage(
            [llm.TextContent("And Rome? Also, this photo:"), llm.ImageContent(PNG, "image/png")]
        )
    )
    openai.next_reply(
        openai_reply(text="Checking Rome.", tool=(KIMI_ID, "weather", {"city": "Rome"}))
    )
    await turn(kimi, PLAIN)
    # The caller never runs that call and moves on.
    ctx.messages.append(llm.UserMessage("Never mind Rome. Oslo?"))

    openai.next_reply(openai_reply(text="Oslo is cold."))
    await turn(gpt, PLAIN)

    anthropic.next_reply(
        anthropic_reply(text="And Bergen:", tool=(LONG_ID, "weather", {"city": "Bergen"}))
    )
    await turn(claude_b, THINK)
    ctx.messages.append(llm.ToolResultMessage(LONG_ID, "weather", [llm.TextContent("Rain")]))

    openai.next_reply(openai_reply(text="Bergen: rain."))
    await turn(gpt, PLAIN)

    anthropic.next_reply(anthropic_reply(text="Bye."))
    await turn(claude_a, THINK)
    return [r.json() for r in anthropic.requests], [r.json() for r in openai.requests]


async def test_a_conversation_moves_through_the_protocols(
    upstreams: tuple[AnthropicValidator, OpenAIValidator],
) -> None:
    anthropic, openai = upstreams
    sent_anthropic, sent_openai = await journey(anthropic, openai)
    assert anthropic.refusals == [] and openai.refusals == []
    assert len(sent_anthropic) == 4 and len(sent_openai) == 3

    # Claude A, second turn: its own thinking and redacted thinking, verbatim.
    first_reply = sent_anthropic[1]["messages"][1]["content"]
    assert first_reply[0] == {
        "type": "thinking",
        "thinking": "I need the weather.",
        "signature": signature_for("claude-a", "I need the weather."),
    }
    assert first_reply[1] == {"type": "redacted_thinking", "data": redacted_for("claude-a")}

    # The text-only model got a placeholder for the image.
    kimi_user = sent_openai[0]["messages"][-1]["content"]
    assert [p["type"] for p in kimi_user] == ["text", "text"]
    assert "left out" in kimi_user[1]["text"]

    # The unanswered call got a synthetic error result, under an id OpenAI accepts.
    gpt_messages = sent_openai[1]["messages"]
    call = [m for m in gpt_messages if m["role"] == "assistant" and m.get("tool_calls")][-1]
    wire_id = call["tool_calls"][0]["id"]
    assert wire_id != KIMI_ID and len(wire_id) <= 40
    result = next(m for m in gpt_messages if m["role"] == "tool" and m["tool_call_id"] == wire_id)
    assert NO_RESULT in result["content"]

    # Claude B: Claude A's thinking as plain text, its redacted thinking gone,
    # Moonshot's id rewritten the same way in the call and in the result.
    b_messages = sent_anthropic[2]["messages"]
    assert b_messages[1]["content"][0] == {"type": "text", "text": "I need the weather."}
    assert all(b["type"] != "redacted_thinking" for m in b_messages for b in m["content"])
    uses = [b["id"] for m in b_messages for b in m["content"] if b["type"] == "tool_use"]
    results = [
        b["tool_use_id"] for m in b_messages for b in m["content"] if b["type"] == "tool_result"
    ]
    assert KIMI_ID not in uses and uses == results

    # The 60-character Anthropic id, cut to 40 for OpenAI, in call and result alike.
    last_gpt = sent_openai[2]["messages"]
    ids = [c["id"] for m in last_gpt if m["role"] == "assistant" for c in m.get("tool_calls", [])]
    assert LONG_ID not in ids and all(len(i) <= 40 for i in ids)
    assert {m["tool_call_id"] for m in last_gpt if m["role"] == "tool"} == set(ids)

    # Back at Claude A: its own signed thinking still verifies.
    final = sent_anthropic[3]["messages"]
    assert final[1]["content"][0]["signature"] == signature_for("claude-a", "I need the weather.")


async def test_without_the_handoff_the_apis_refuse_the_history(
    upstreams: tuple[AnthropicValidator, OpenAIValidator], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The validators bite: the same journey, history sent untransformed."""
    monkeypatch.setattr("pluma.llm.client.transform_context", lambda context, model: context)
    anthropic, openai = upstreams
    with pytest.raises(llm.StreamError, match=r"Invalid 'messages\[\d+\]\.tool_calls\[0\]\.id'"):
        await journey(anthropic, openai)


# -- the rules one by one ---------------------------------------------------------


def target(model_id: str = "claude-b", protocol: str = "anthropic-messages") -> llm.Model:
    return llm.Model(id=model_id, provider="anthropic", protocol=protocol, input=["text"])


def from_claude_a(*content: llm.AssistantContent, **kw: Any) -> llm.AssistantMessage:
    return llm.AssistantMessage(
        content=list(content),
        protocol="anthropic-messages",
        provider="anthropic",
        model="claude-a-20250101",
        **kw,
    )


def test_nothing_to_change_returns_the_same_list() -> None:
    messages: list[llm.Message] = [
        llm.UserMessage("hi"),
        from_claude_a(llm.ThinkingContent("t", signature="s"), llm.TextContent("hello")),
    ]
    assert transform_messages(messages, target("claude-a")) is messages  # a dated snapshot


def test_history_is_not_modified_in_place() -> None:
    messages: list[llm.Message] = [
        llm.UserMessage([llm.TextContent("look"), llm.ImageContent(PNG, "image/png")]),
        from_claude_a(
            llm.ThinkingContent("hmm", signature="s"),
            llm.ToolCall("a:b", "weather", {"city": "X"}),
            stop_reason="toolUse",
        ),
        llm.ToolResultMessage("a:b", "weather", [llm.TextContent("ok")]),
    ]
    before = copy.deepcopy(messages)
    out = transform_messages(messages, target())
    assert messages == before
    assert out is not messages and out[1] is not messages[1]


def test_thinking_and_signatures_across_models() -> None:
    reply = from_claude_a(
        llm.ThinkingContent("visible reasoning", signature="sig"),
        llm.ThinkingContent("", signature="payload", redacted=True),
        llm.ThinkingContent("   "),
        llm.TextContent("answer", text_signature="ts"),
        llm.ToolCall("call_1", "weather", {}, thought_signature="gemini-sig"),
    )
    out = transform_messages([llm.UserMessage("q"), reply], target("claude-b"))[1]
    assert isinstance(out, llm.AssistantMessage)
    assert out.content == [
        llm.TextContent("visible reasoning"),
        llm.TextContent("answer"),
        llm.ToolCall("call_1", "weather", {}),
    ]
    same = transform_messages([llm.UserMessage("q"), reply], target("claude-a"))[1]
    assert same is reply


def test_tool_ids_follow_each_protocols_rules_and_results_follow_them() -> None:
    long_id = "call_" + "y" * 60
    messages: list[llm.Message] = [
        llm.UserMessage("q"),
        from_claude_a(
            llm.ToolCall("x|1.2", "a", {}), llm.ToolCall(long_id, "b", {}), stop_reason="toolUse"
        ),
        llm.ToolResultMessage("x|1.2", "a", [llm.TextContent("1")]),
        llm.ToolResultMessage(long_id, "b", [llm.TextContent("2")]),
    ]
    for protocol, limit in [("openai-completions", 40), ("anthropic-messages", 64)]:
        out = transform_messages(messages, target(protocol=protocol))
        reply = out[1]
        assert isinstance(reply, llm.AssistantMessage)
        calls = [c.id for c in reply.tool_calls]
        results = [m.tool_call_id for m in out[2:] if isinstance(m, llm.ToolResultMessage)]
        assert calls == results
        assert all(
            len(i) <= limit and handoff.TOOL_ID_RULES[protocol].pattern.match(i) for i in calls
        )
        assert len(set(calls)) == 2
    # A custom protocol keeps its ids.
    assert transform_messages(messages, target(protocol="my-protocol"))[1] is messages[1]


def test_two_ids_that_clean_up_alike_stay_apart() -> None:
    rule = handoff.TOOL_ID_RULES["anthropic-messages"]
    assert handoff.fit_tool_id("a.b", rule) != handoff.fit_tool_id("a:b", rule)


def test_unanswered_calls_get_synthetic_results_but_the_last_message_is_left_alone() -> None:
    asks = from_claude_a(
        llm.ToolCall("c1", "a", {}), llm.ToolCall("c2", "b", {}), stop_reason="toolUse"
    )
    messages: list[llm.Message] = [
        llm.UserMessage("q"),
        asks,
        llm.ToolResultMessage("c1", "a", [llm.TextContent("done")]),
        llm.UserMessage("go on"),
    ]
    out = transform_messages(messages, target())
    assert [m.role for m in out] == ["user", "assistant", "toolResult", "toolResult", "user"]
    synthetic = out[3]
    assert isinstance(synthetic, llm.ToolResultMessage)
    assert (synthetic.tool_call_id, synthetic.tool_name, synthetic.is_error) == ("c2", "b", True)
    assert transform_messages(messages[:2], target())[-1] is asks  # the caller's turn to answer
    failed = from_claude_a(llm.ToolCall("c3", "a", {}), stop_reason="error")
    kept = [llm.UserMessage("q"), failed, llm.UserMessage("again")]
    assert transform_messages(kept, target("claude-a")) is kept  # adapters drop its calls


def test_images_become_placeholders_for_text_only_models() -> None:
    messages: list[llm.Message] = [
        llm.UserMessage([llm.TextContent("see"), llm.ImageContent(PNG, "image/png")]),
        from_claude_a(llm.ToolCall("c1", "shot", {}), stop_reason="toolUse"),
        llm.ToolResultMessage("c1", "shot", [llm.ImageContent(PNG, "image/png")]),
    ]
    out = transform_messages(messages, target())
    first, result = out[0], out[2]
    assert isinstance(first, llm.UserMessage) and isinstance(result, llm.ToolResultMessage)
    assert first.content == [llm.TextContent("see"), llm.TextContent(handoff.IMAGE_OMITTED)]
    assert result.content == [llm.TextContent(handoff.IMAGE_OMITTED)]
    seeing = llm.Model(id="v", provider="x", protocol="anthropic-messages", input=["text", "image"])
    assert transform_messages(messages, seeing)[0] is messages[0]


@pytest.mark.parametrize("handoff_on", [True, False])
async def test_a_signature_moved_to_another_claude(
    upstreams: tuple[AnthropicValidator, OpenAIValidator],
    monkeypatch: pytest.MonkeyPatch,
    handoff_on: bool,
) -> None:
    anthropic, _ = upstreams
    if not handoff_on:
        monkeypatch.setattr("pluma.llm.client.transform_context", lambda context, model: context)
    signed = llm.AssistantMessage(
        content=[
            llm.ThinkingContent("why", signature=signature_for("claude-a", "why")),
            llm.TextContent("because"),
        ],
        protocol="anthropic-messages",
        provider="anthropic",
        model="claude-a",
    )
    ctx = llm.Context(messages=[llm.UserMessage("q"), signed, llm.UserMessage("more")])
    anthropic.next_reply(anthropic_reply(text="ok"))
    model = claude(anthropic, "claude-b")
    if handoff_on:
        assert (await llm.complete(model, ctx, THINK)).text == "ok"
    else:
        with pytest.raises(llm.StreamError, match="Invalid `signature` in `thinking` block"):
            await llm.complete(model, ctx, THINK)
