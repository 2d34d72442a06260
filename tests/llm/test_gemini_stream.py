"""The ``google-generative-ai`` adapter against a loopback upstream serving
Gemini ``streamGenerateContent?alt=sse`` transcripts, with the official
``google-genai`` SDK reading the same bytes as the judge, in every split mode
from the whole body to one byte per read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.llm.test_openai_stream import check_lifecycle
from tests.support import gemini_streams as g
from tests.support.scripted_server import Reply, ScriptedServer
from tests.support.splits import SPLIT_MODES, assert_deltas_build_the_message, split

from pluma import llm
from pluma.llm.controls import UnsupportedControlError
from pluma.llm.protocols.google_generative_ai import (
    GeminiParser,
    GoogleGenerativeAIOptions,
    build_request,
)

COST = llm.ModelCost(input=0.3, output=2.5, cache_read=0.075)


def make_model(server: ScriptedServer, **kw: Any) -> llm.Model:
    values: dict[str, Any] = {
        "id": g.MODEL,
        "provider": "google",
        "protocol": "google-generative-ai",
        "base_url": server.url + "/v1beta",
        "reasoning": True,
        "input": ["text", "image"],
        "cost": COST,
    }
    values.update(kw)
    return llm.Model(**values)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as s:
        yield s


CONTEXT = llm.Context(messages=[llm.UserMessage("hi")])
OPTIONS = llm.StreamOptions(api_key="AIza-test-key-123456", max_retries=0)


async def run_pluma(
    server: ScriptedServer, options: llm.StreamOptions = OPTIONS, **kw: Any
) -> tuple[list[llm.Event], llm.AssistantMessage]:
    stream = llm.stream(make_model(server, **kw), CONTEXT, options)
    events = [e async for e in stream]
    return events, await stream.result()


# -- transcripts ----------------------------------------------------------------


def text_only() -> list[dict[str, Any]]:
    return [
        g.chunk([{"text": "Hel"}], usage=g.usage(12, 1)),
        g.chunk([{"text": "lo, wörld"}], usage=g.usage(12, 3)),
        g.chunk([{"text": " 🎉!"}], finish="STOP", usage=g.usage(12, 5, cached=8)),
    ]


def thinking_then_signed_text() -> list[dict[str, Any]]:
    """Thought summary parts, text, and the signature on a final empty part."""
    return [
        g.chunk([{"text": "**Weighing** it", "thought": True}], usage=g.usage(20, 0)),
        g.chunk([{"text": " up.", "thought": True, "thoughtSignature": g.sig("thought-sig")}]),
        g.chunk([{"text": "Four"}]),
        g.chunk([{"text": "."}]),
        g.chunk(
            [{"text": "", "thoughtSignature": g.sig("text-sig")}],
            finish="STOP",
            usage=g.usage(20, 2, thoughts=40),
        ),
    ]


def parallel_calls() -> list[dict[str, Any]]:
    """Two calls in one chunk, the first signed (Gemini 3 rules), one with an id."""
    return [
        g.chunk([{"text": "Checking both.", "thought": True}]),
        g.chunk(
            [
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Paris", "days": 2}},
                    "thoughtSignature": g.sig("call-sig"),
                },
                {"functionCall": {"id": "fc-77", "name": "get_time", "args": {"tz": "CET"}}},
            ],
            finish="STOP",
            usage=g.usage(30, 12, thoughts=7, cached=16),
        ),
    ]


def signature_after_a_call() -> list[dict[str, Any]]:
    """Text, a call, then a signature on an empty part: it keeps its place."""
    return [
        g.chunk([{"text": "Let me check."}]),
        g.chunk([{"functionCall": {"name": "lookup", "args": {}}}]),
        g.chunk(
            [{"text": "", "thoughtSignature": g.sig("late")}], finish="STOP", usage=g.usage(4, 3)
        ),
    ]


COMPLETE = {
    "signature-after-call": signature_after_a_call,
    "text": text_only,
    "thinking-signed-text": thinking_then_signed_text,
    "parallel-calls": parallel_calls,
}


@pytest.mark.parametrize("mode", SPLIT_MODES)
@pytest.mark.parametrize("name", sorted(COMPLETE))
async def test_agrees_with_the_sdk(server: ScriptedServer, name: str, mode: str) -> None:
    server.reply(Reply(body=split(g.frames(COMPLETE[name]()), mode)))
    events, message = await run_pluma(server)
    assert message.stop_reason in ("stop", "toolUse"), message.error_message
    check_lifecycle(events)
    assert_deltas_build_the_message(events, message)
    sdk = await g.sdk_stream(server.url)
    assert sdk.error is None
    assert g.summary_of_pluma(message) == g.summary_of_sdk(sdk)
    assert message.stop_reason == ("toolUse" if message.tool_calls else "stop")
    assert message.model == g.MODEL
    request = server.requests[0]
    assert request.path == f"/v1beta/models/{g.MODEL}:streamGenerateContent?alt=sse"
    assert request.headers["x-goog-api-key"] == "AIza-test-key-123456"


async def test_synthesised_ids_are_unique_and_stay_home(server: ScriptedServer) -> None:
    server.reply(Reply(body=g.frames(parallel_calls())))
    _, message = await run_pluma(server)
    first, second = message.tool_calls
    assert first.id.startswith("pluma_call_") and second.id == "fc-77"
    assert first.thought_signature == g.sig("call-sig")
    # Sent back: the made-up id is left out, the real one and the signature kept.
    history = [
        *CONTEXT.messages,
        message,
        llm.ToolResultMessage(first.id, "get_weather", [llm.TextContent("18 °C")]),
        llm.ToolResultMessage(second.id, "get_time", [llm.TextContent("no clock")], is_error=True),
    ]
    body = build_request(make_model(server), llm.Context(messages=history), OPTIONS)
    assert body["contents"][1] == {
        "role": "model",
        "parts": [
            {"text": "Checking both.", "thought": True},
            {
                "functionCall": {"name": "get_weather", "args": {"city": "Paris", "days": 2}},
                "thoughtSignature": g.sig("call-sig"),
            },
            {"functionCall": {"name": "get_time", "args": {"tz": "CET"}, "id": "fc-77"}},
        ],
    }
    assert body["contents"][2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"output": "18 °C"}}},
            {
                "functionResponse": {
                    "name": "get_time",
                    "response": {"error": "no clock"},
                    "id": "fc-77",
                }
            },
        ],
    }


def test_request_body_maps_the_neutral_controls() -> None:
    model = llm.Model(
        id="gemini-2.5-pro",
        provider="google",
        protocol="google-generative-ai",
        reasoning=True,
        input=["text", "image"],
    )
    context = llm.Context(
        system_prompt="Be brief.",
        messages=[
            llm.UserMessage([llm.TextContent("What?"), llm.ImageContent("aGk=", "image/png")])
        ],
        tools=[llm.Tool(name="lookup", description="Look up", parameters={"type": "object"})],
    )
    options = llm.StreamOptions(
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        max_tokens=900,
        stop=["END"],
        seed=7,
        presence_penalty=0.1,
        frequency_penalty=0.2,
        reasoning="medium",
        response_format=llm.ResponseFormat(type="json_schema", schema={"type": "object"}),
        protocol_options=GoogleGenerativeAIOptions(
            tool_choice="required",
            safety_settings=[{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}],
            extra_body={"labels": {"a": "b"}},
        ),
    )
    assert build_request(model, context, options) == {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "What?"},
                    {"inlineData": {"mimeType": "image/png", "data": "aGk="}},
                ],
            }
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "lookup",
                        "description": "Look up",
                        "parametersJsonSchema": {"type": "object"},
                    }
                ]
            }
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        "generationConfig": {
            "temperature": 0.2,
            "topP": 0.9,
            "topK": 40,
            "maxOutputTokens": 900,
            "seed": 7,
            "presencePenalty": 0.1,
            "frequencyPenalty": 0.2,
            "stopSequences": ["END"],
            "responseMimeType": "application/json",
            "responseJsonSchema": {"type": "object"},
            "thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": True},
        },
        "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}],
        "labels": {"a": "b"},
    }
    gemini3 = llm.Model(
        id="gemini-3-pro-preview",
        provider="google",
        protocol="google-generative-ai",
        reasoning=True,
    )
    config = build_request(gemini3, context, llm.StreamOptions(reasoning="medium"))[
        "generationConfig"
    ]
    assert config["thinkingConfig"] == {"thinkingLevel": "high", "includeThoughts": True}


# -- finish reasons, errors, truncation ---------------------------------------------


def safety_stop() -> list[dict[str, Any]]:
    return [
        g.chunk([{"text": "Here is how to"}]),
        g.chunk([], finish="SAFETY", usage=g.usage(9, 4)),
    ]


def recitation_stop() -> list[dict[str, Any]]:
    return [
        g.chunk([{"text": "It was the best of times"}]),
        g.chunk(
            [], finish="RECITATION", finish_message="matches a known source", usage=g.usage(9, 6)
        ),
    ]


@pytest.mark.parametrize("mode", SPLIT_MODES)
@pytest.mark.parametrize(
    ("build", "reason"), [(safety_stop, "SAFETY"), (recitation_stop, "RECITATION")]
)
async def test_blocking_finish_reasons_are_errors_with_the_reason(
    server: ScriptedServer, build: Callable[[], list[dict[str, Any]]], reason: str, mode: str
) -> None:
    server.reply(Reply(body=split(g.frames(build()), mode)))
    events, message = await run_pluma(server)
    check_lifecycle(events)
    assert message.stop_reason == "error"
    assert reason in (message.error_message or "")
    assert isinstance(events[-1].error, llm.ProviderError) and events[-1].error.code == reason
    sdk = await g.sdk_stream(server.url)
    assert sdk.finish_reason == reason
    assert g.summary_of_pluma(message) == g.summary_of_sdk(sdk)


@pytest.mark.parametrize("mode", SPLIT_MODES)
async def test_max_tokens_is_length(server: ScriptedServer, mode: str) -> None:
    chunks = [
        g.chunk([{"text": "A long"}]),
        g.chunk([{"text": " answ"}], finish="MAX_TOKENS", usage=g.usage(5, 2)),
    ]
    server.reply(Reply(body=split(g.frames(chunks), mode)))
    events, message = await run_pluma(server)
    check_lifecycle(events)
    assert message.stop_reason == "length"
    sdk = await g.sdk_stream(server.url)
    assert g.summary_of_pluma(message) == g.summary_of_sdk(sdk)


@pytest.mark.parametrize("mode", SPLIT_MODES)
async def test_error_mid_stream_keeps_partial(server: ScriptedServer, mode: str) -> None:
    frames = g.frames([g.chunk([{"text": "partial"}], usage=g.usage(3, 1))])
    frames.append(
        b'data: {"error": {"code": 503, "message": "The model is overloaded.", '
        b'"status": "UNAVAILABLE"}}\r\n\r\n'
    )
    server.reply(Reply(body=split(frames, mode)))
    events, message = await run_pluma(server)
    check_lifecycle(events)
    assert message.stop_reason == "error" and message.text == "partial"
    assert "The model is overloaded." in (message.error_message or "")
    assert isinstance(events[-1].error, llm.ProviderError) and events[-1].error.retryable
    sdk = await g.sdk_stream(server.url)
    assert sdk.error is not None and "overloaded" in str(sdk.error)
    assert "".join(p.text or "" for p in sdk.parts) == message.text


async def test_cut_stream_without_finish_reason_is_an_error(server: ScriptedServer) -> None:
    server.reply(Reply(body=g.frames(text_only()[:2]), cut=True))
    events, message = await run_pluma(server)
    check_lifecycle(events)
    assert message.stop_reason == "error" and message.text == "Hello, wörld"


async def test_blocked_prompt(server: ScriptedServer) -> None:
    server.reply(
        Reply(
            body=[
                b'data: {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, '
                b'"usageMetadata": {"promptTokenCount": 4}}\n\n'
            ]
        )
    )
    _events, message = await run_pluma(server)
    assert message.stop_reason == "error" and "PROHIBITED_CONTENT" in (message.error_message or "")


async def test_http_error_keeps_google_message_and_hides_the_key(server: ScriptedServer) -> None:
    server.reply(
        Reply.json(
            {
                "error": {
                    "code": 400,
                    "message": "API key not valid. Please pass a "
                    "valid API key. (AIza-test-key-123456)",
                    "status": "INVALID_ARGUMENT",
                }
            },
            status=400,
        )
    )
    events, message = await run_pluma(server)
    assert [e.type for e in events] == ["start", "error"]
    assert "API key not valid" in (message.error_message or "")
    assert "AIza-test-key-123456" not in (message.error_message or "")


@pytest.mark.parametrize("field", ["user", "metadata"])
async def test_unsupported_controls_are_refused(server: ScriptedServer, field: str) -> None:
    value: Any = {"a": "b"} if field == "metadata" else "u1"
    events, message = await run_pluma(server, llm.StreamOptions(api_key="k", **{field: value}))
    assert isinstance(events[-1].error, UnsupportedControlError)
    assert events[-1].error.field == field
    assert (message.error_message or "").startswith(f"{field} is not supported by")
    events, message = await run_pluma(
        server, llm.StreamOptions(api_key="k", parallel_tool_calls=False)
    )
    assert "parallel_tool_calls" in (message.error_message or "")
    assert server.requests == []


def test_options_validation() -> None:
    model = llm.Model(id="m", provider="google", protocol="google-generative-ai")
    for bad, words in [
        (GoogleGenerativeAIOptions(thinking_budget=-5), "thinking_budget"),
        (GoogleGenerativeAIOptions(thinking_budget=100, thinking_level="low"), "not both"),
        (GoogleGenerativeAIOptions(cached_content="x"), "cachedContents/"),
        (GoogleGenerativeAIOptions(extra_body={"contents": []}), "contents"),
    ]:
        with pytest.raises(llm.ConfigurationError, match=words):
            llm.stream(model, CONTEXT, llm.StreamOptions(api_key="k", protocol_options=bad))


def test_parser_without_http() -> None:
    parser = GeminiParser(llm.StreamWriter(llm.AssistantMessage()), llm.Model("m", "google", "x"))
    out: list[llm.Event] = []
    for item in thinking_then_signed_text():
        out += parser.feed(item)
    out += parser.finish()
    assert out[-1].type == "done"
    assert parser.message.thinking == "**Weighing** it up."
    assert parser.message.content[1].text_signature == g.sig("text-sig")  # type: ignore[union-attr]
    assert parser.message.usage.output == 42


def test_transcripts_are_valid_for_the_sdk_types() -> None:
    """Every chunk validates strictly against google-genai's response type."""
    from google.genai import types

    builders = [*COMPLETE.values(), safety_stop, recitation_stop]
    for build in builders:
        for item in build():
            parsed = types.GenerateContentResponse.model_validate(item)
            assert parsed.candidates is not None


def test_too_many_stop_sequences_are_refused() -> None:
    model = llm.Model(id="gemini-2.5-flash", provider="google", protocol="google-generative-ai")
    with pytest.raises(llm.ConfigurationError, match="at most 5 stop sequences"):
        build_request(model, CONTEXT, llm.StreamOptions(stop=list("abcdef")))


def test_tool_result_images_follow_the_function_responses() -> None:
    model = llm.Model(
        id="gemini-2.5-flash",
        provider="google",
        protocol="google-generative-ai",
        input=["text", "image"],
    )
    call = llm.AssistantMessage(
        content=[llm.ToolCall("pluma_call_0_x", "snap", {})],
        protocol="google-generative-ai",
        model="gemini-2.5-flash",
        stop_reason="toolUse",
    )
    result = llm.ToolResultMessage(
        "pluma_call_0_x", "snap", [llm.TextContent("done"), llm.ImageContent("aGk=", "image/png")]
    )
    contents = build_request(
        model, llm.Context(messages=[*CONTEXT.messages, call, result]), llm.StreamOptions()
    )["contents"]
    assert contents[2] == {
        "role": "user",
        "parts": [
            {
                "functionResponse": {
                    "name": "snap",
                    "response": {"output": "done\n(the images follow)"},
                }
            },
            {"inlineData": {"mimeType": "image/png", "data": "aGk="}},
        ],
    }
    text_only = llm.Model(id="gemini-2.5-flash", provider="google", protocol="google-generative-ai")
    contents = build_request(
        text_only, llm.Context(messages=[*CONTEXT.messages, call, result]), llm.StreamOptions()
    )["contents"]
    assert contents[2]["parts"] == [
        {
            "functionResponse": {
                "name": "snap",
                "response": {
                    "output": "done\n(an image was left out: this model does not accept images)"
                },
            }
        }
    ]


def test_reasoning_off_per_model_family() -> None:
    def config(model_id: str) -> dict[str, Any]:
        model = llm.Model(
            id=model_id, provider="google", protocol="google-generative-ai", reasoning=True
        )
        body = build_request(model, CONTEXT, llm.StreamOptions(reasoning="off"))
        return body["generationConfig"]["thinkingConfig"]

    assert config("gemini-2.5-flash") == {"thinkingBudget": 0}
    assert config("gemini-2.5-pro") == {"thinkingBudget": 128}
    assert config("gemini-3-pro-preview") == {"thinkingLevel": "low"}
    assert config("gemini-3-flash-preview") == {"thinkingLevel": "minimal"}
