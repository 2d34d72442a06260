"""Cross-model handoff through all five protocols: one conversation passes
Anthropic Messages, OpenAI Responses, Gemini, Ollama and Chat Completions in
turn, each upstream refusing what the real API refuses
(tests/support/validating_upstreams.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest

# The three native adapters come from issue-13-adapters; until they are merged
# this module has nothing to run against (it runs as soon as they are).
for _package in ("openai_responses", "google_generative_ai", "ollama"):
    pytest.importorskip(f"pluma.llm.protocols.{_package}")

from tests.support.validating_upstreams import (  # noqa: E402
    AnthropicValidator,
    GeminiValidator,
    OllamaValidator,
    OpenAIValidator,
    ResponsesValidator,
    anthropic_reply,
    encrypted_for,
    gemini_reply,
    gemini_signature_for,
    ollama_reply,
    openai_reply,
    responses_reply,
)

from pluma import llm  # noqa: E402

WEATHER = llm.Tool(
    name="weather",
    description="Weather in a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
RESPONSES_ID = (
    "call_" + "r" * 45
)  # 50 characters: fine for Responses, too long for Chat Completions
KEY = llm.StreamOptions(api_key="k")
THINK = llm.StreamOptions(api_key="k", reasoning="low")


@dataclass
class Upstreams:
    anthropic: AnthropicValidator
    responses: ResponsesValidator
    gemini: GeminiValidator
    ollama: OllamaValidator
    chat: OpenAIValidator

    def all(self) -> list[Any]:
        return [self.anthropic, self.responses, self.gemini, self.ollama, self.chat]


@pytest.fixture
def up() -> Iterator[Upstreams]:
    with ExitStack() as stack:
        yield Upstreams(
            stack.enter_context(AnthropicValidator()),
            stack.enter_context(ResponsesValidator()),
            stack.enter_context(GeminiValidator()),
            stack.enter_context(OllamaValidator(text_only={"qwen3:8b"})),
            stack.enter_context(OpenAIValidator(text_only=set())),
        )


def models(up: Upstreams) -> dict[str, llm.Model]:
    both: list[Any] = ["text", "image"]
    return {
        "claude-a": llm.Model(id="claude-a", provider="anthropic", protocol="anthropic-messages",
                              base_url=up.anthropic.url + "/v1", reasoning=True, input=both),
        "claude-b": llm.Model(id="claude-b", provider="anthropic", protocol="anthropic-messages",
                              base_url=up.anthropic.url + "/v1", reasoning=True, input=both),
        "gpt-5": llm.Model(id="gpt-5", provider="openai", protocol="openai-responses",
                           base_url=up.responses.url + "/v1", reasoning=True, input=both),
        "gemini": llm.Model(id="gemini-2.5-flash", provider="google",
                            protocol="google-generative-ai", base_url=up.gemini.url + "/v1beta",
                            reasoning=True, input=both),
        "qwen": llm.Model(id="qwen3:8b", provider="ollama", protocol="ollama",
                          base_url=up.ollama.url, reasoning=True, input=["text"]),
        "chat": llm.Model(id="gpt-x", provider="openai", protocol="openai-completions",
                          base_url=up.chat.url + "/v1", input=both),
    }  # fmt: skip


async def journey(up: Upstreams) -> llm.Context:
    m = models(up)
    ctx = llm.Context(messages=[llm.UserMessage("Weather in Paris?")], tools=[WEATHER])

    async def turn(name: str, options: llm.StreamOptions) -> llm.AssistantMessage:
        reply = await llm.complete(m[name], ctx, options)
        ctx.messages.append(reply)
        return reply

    def result(call_id: str, text: str) -> None:
        ctx.messages.append(llm.ToolResultMessage(call_id, "weather", [llm.TextContent(text)]))

    up.anthropic.next_reply(
        anthropic_reply(
            thinking="Look it up.",
            redacted=True,
            tool=("toolu_01AbC", "weather", {"city": "Paris"}),
        )
    )
    await turn("claude-a", THINK)
    result("toolu_01AbC", "Sunny")

    up.responses.next_reply(
        responses_reply(reasoning="Check Rome.", tool=(RESPONSES_ID, "weather", {"city": "Rome"}))
    )
    await turn("gpt-5", THINK)
    result(RESPONSES_ID, "Warm")

    up.responses.next_reply(responses_reply(reasoning="Summarise.", text="Paris sunny, Rome warm."))
    await turn("gpt-5", THINK)  # its own encrypted reasoning goes back

    ctx.messages.append(llm.UserMessage("And Oslo?"))
    up.gemini.next_reply(
        gemini_reply(thought="Oslo next.", tool=("g1", "weather", {"city": "Oslo"}))
    )
    await turn("gemini", THINK)
    # The call is never answered; the user moves on, with a photo.
    ctx.messages.append(
        llm.UserMessage(
            [llm.TextContent("Forget Oslo. This photo?"), llm.ImageContent(PNG, "image/png")]
        )
    )

    up.ollama.next_reply(ollama_reply(thinking="A photo.", text="A 1-pixel image."))
    await turn("qwen", THINK)

    up.chat.next_reply(openai_reply(text="Noted."))
    await turn("chat", KEY)

    ctx.messages.append(llm.UserMessage("Back to Gemini."))
    up.gemini.next_reply(gemini_reply(text="Here again."))
    await turn("gemini", THINK)  # its own signatures go back

    up.anthropic.next_reply(anthropic_reply(text="All done."))
    await turn("claude-b", THINK)
    return ctx


async def test_one_conversation_through_all_five_protocols(up: Upstreams) -> None:
    ctx = await journey(up)
    for server in up.all():
        assert server.refusals == [], server.refusals
    assert [len(s.requests) for s in up.all()] == [2, 2, 2, 1, 1]
    assert ctx.messages[-1].role == "assistant"

    # Responses got its own reasoning back, encrypted content and all.
    second = up.responses.requests[1].json()["input"]
    reasoning = [i for i in second if i.get("type") == "reasoning"]
    assert reasoning and reasoning[0]["encrypted_content"] == encrypted_for("gpt-5", "Check Rome.")

    # Gemini, second time: its own thought and call signatures, verbatim.
    gemini = up.gemini.requests[1].json()["contents"]
    signatures = [
        p["thoughtSignature"] for t in gemini for p in t["parts"] if "thoughtSignature" in p
    ]
    assert gemini_signature_for("gemini-2.5-flash", "Oslo next.") in signatures

    # Ollama (text only): the unanswered Gemini call has a result, the image a placeholder.
    sent = up.ollama.requests[0].json()["messages"]
    assert any(m["role"] == "tool" and "No result" in m["content"] for m in sent)
    assert not any(m.get("images") for m in sent)

    # Chat Completions: the 50-character Responses id fits in 40, in call and result.
    chat = up.chat.requests[0].json()["messages"]
    ids = [c["id"] for m in chat if m["role"] == "assistant" for c in m.get("tool_calls", [])]
    assert RESPONSES_ID not in ids and all(len(i) <= 40 for i in ids)
    assert {m["tool_call_id"] for m in chat if m["role"] == "tool"} == set(ids)

    # Claude B: nobody else's signatures, encrypted reasoning or thought signatures.
    last = up.anthropic.requests[1].json()["messages"]
    assert all(
        b["type"] not in ("thinking", "redacted_thinking") for m in last for b in m["content"]
    )


async def test_without_the_handoff_an_upstream_refuses(
    up: Upstreams, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pluma.llm.client.transform_context", lambda context, model: context)
    with pytest.raises(llm.StreamError):
        await journey(up)
    assert any(server.refusals for server in up.all())
