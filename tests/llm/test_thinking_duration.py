"""``ThinkingContent.duration_ms``: how long a reasoning block took, kept in
the message JSON (``durationMs``) so a stored conversation can show it, and
never sent to any upstream."""

from __future__ import annotations

import pytest

from pluma import llm
from pluma.llm.transport import MockResponse, MockTransport

PROTOCOLS = [
    "openai-completions",
    "anthropic-messages",
    "openai-responses",
    "google-generative-ai",
    "ollama",
]


def test_the_duration_round_trips_through_message_json() -> None:
    block = llm.ThinkingContent("Let me see.", signature="sig", duration_ms=4210)
    message = llm.AssistantMessage(content=[block, llm.TextContent("Hi")])
    data = llm.message_to_dict(message)
    assert data["content"][0] == {
        "type": "thinking",
        "thinking": "Let me see.",
        "thinkingSignature": "sig",
        "durationMs": 4210,
    }
    back = llm.message_from_dict(data)
    assert isinstance(back, llm.AssistantMessage)
    first = back.content[0]
    assert isinstance(first, llm.ThinkingContent)
    assert first.duration_ms == 4210


def test_no_duration_means_no_member() -> None:
    data = llm.message_to_dict(llm.AssistantMessage(content=[llm.ThinkingContent("x")]))
    assert "durationMs" not in data["content"][0]


@pytest.mark.parametrize("value", ["4 s", -5, True, None, float("nan"), [1]])
def test_a_bad_stored_duration_is_dropped_not_refused(value: object) -> None:
    data = {"role": "assistant", "content": [{"type": "thinking", "thinking": "x"}]}
    data["content"][0]["durationMs"] = value  # type: ignore[index]
    message = llm.message_from_dict(data)
    assert isinstance(message, llm.AssistantMessage)
    block = message.content[0]
    assert isinstance(block, llm.ThinkingContent) and block.duration_ms is None


def test_equality_ignores_the_duration() -> None:
    assert llm.ThinkingContent("x", duration_ms=1) == llm.ThinkingContent("x", duration_ms=2)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_the_duration_is_never_sent_upstream(protocol: str) -> None:
    model = llm.Model(id="m", provider="local", protocol=protocol, base_url="http://127.0.0.1:9/v1")

    async def body_for(duration: int | None) -> bytes:
        reply = llm.AssistantMessage(
            content=[
                llm.ThinkingContent("Plan.", signature="sig", duration_ms=duration),
                llm.TextContent("Answer."),
            ],
            protocol=protocol,
            provider="local",
            model="m",
        )
        context = llm.Context(
            messages=[llm.UserMessage("Q"), reply, llm.UserMessage("And?")],
        )
        transport = MockTransport(lambda _r: MockResponse(400, {}, [b'{"error": "stop here"}']))
        with pytest.raises(llm.StreamError, match="stop here"):
            await llm.complete(model, context, llm.StreamOptions(transport=transport))
        return transport.requests[0].content

    timed, untimed = await body_for(4210), await body_for(None)
    assert b"Plan." in timed or protocol == "openai-completions"  # the thinking itself does go
    assert timed == untimed
    assert b"4210" not in timed and b"durationMs" not in timed
