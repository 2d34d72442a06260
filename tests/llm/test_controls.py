"""The neutral sampling and output controls through ``pluma.llm`` directly, against
the loopback OpenAI and Anthropic upstreams (built from the published APIs; they
record each body and honour stop sequences and forced tools).

Every control × both protocols: mapped under the protocol's own name, or
refused before any byte leaves with a ``ConfigurationError`` naming the field
and the upstream; stop sequences reported as such; JSON output emulated on
Anthropic and read back as text; the ``extra_body`` escape hatch and its
precedence; the vendor table of OpenAI-compatible servers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.scripted_server import Reply, ScriptedServer
from tests.support.upstreams import AnthropicUpstream, OpenAIUpstream, Script

from pluma import llm
from pluma.llm.controls import UnsupportedControlError
from pluma.llm.protocols.anthropic_messages import AnthropicMessagesOptions
from pluma.llm.protocols.anthropic_messages.adapter import AnthropicMessagesAdapter
from pluma.llm.protocols.openai_completions.adapter import OpenAICompletionsAdapter
from pluma.llm.protocols.openai_completions.options import OpenAICompletionsOptions

WEATHER = llm.Tool(
    name="get_weather",
    description="Weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
SCHEMA = {
    "type": "object",
    "properties": {"count": {"type": "integer"}},
    "required": ["count"],
}
COUNT = llm.ResponseFormat(type="json_schema", schema=SCHEMA, name="count", strict=True)
CONTEXT = llm.Context(messages=[llm.UserMessage("Count to ten.")])


@pytest.fixture(scope="module")
def oa() -> Iterator[OpenAIUpstream]:
    with OpenAIUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def an() -> Iterator[AnthropicUpstream]:
    with AnthropicUpstream() as upstream:
        yield upstream


def oa_model(upstream: OpenAIUpstream, provider: str = "local", **kw: Any) -> llm.Model:
    return llm.Model(
        id="model-a",
        provider=provider,
        protocol="openai-completions",
        base_url=upstream.base_url,
        **kw,
    )


def an_model(upstream: AnthropicUpstream, **kw: Any) -> llm.Model:
    settings: dict[str, Any] = {"max_tokens": 4096}
    settings.update(kw)
    return llm.Model(
        id="claude-test-1",
        provider="local",
        protocol="anthropic-messages",
        base_url=upstream.base_url,
        **settings,
    )


async def complete(model: llm.Model, options: llm.StreamOptions, context: llm.Context = CONTEXT):
    return await llm.complete(model, context, options)


# -- mapped ----------------------------------------------------------------------------


async def test_every_control_reaches_an_openai_compatible_upstream(oa: OpenAIUpstream) -> None:
    oa.reset(Script(text="1, 2, 3"))
    options = llm.StreamOptions(
        stop=["END"],
        top_p=0.5,
        top_k=20,
        seed=42,
        presence_penalty=0.1,
        frequency_penalty=-0.2,
        response_format=COUNT,
        user="u-9",
        metadata={"team": "docs"},
        parallel_tool_calls=False,
    )
    context = llm.Context(messages=[llm.UserMessage("hi")], tools=[WEATHER])
    await complete(oa_model(oa), options, context)
    body = oa.bodies()[-1]
    assert body["stop"] == ["END"]
    assert (body["top_p"], body["top_k"], body["seed"]) == (0.5, 20, 42)
    assert (body["presence_penalty"], body["frequency_penalty"]) == (0.1, -0.2)
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "count", "schema": SCHEMA, "strict": True},
    }
    assert (body["user"], body["metadata"]) == ("u-9", {"team": "docs"})
    assert body["parallel_tool_calls"] is False


async def test_every_anthropic_control_in_its_own_terms(an: AnthropicUpstream) -> None:
    an.reset(Script(text="1, 2, 3"))
    options = llm.StreamOptions(
        stop=["END"], top_p=0.5, top_k=20, user="u-9", parallel_tool_calls=False
    )
    context = llm.Context(messages=[llm.UserMessage("hi")], tools=[WEATHER])
    await complete(an_model(an), options, context)
    body = an.bodies()[-1]
    assert (body["stop_sequences"], body["top_p"], body["top_k"]) == (["END"], 0.5, 20)
    assert body["metadata"] == {"user_id": "u-9"}
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


async def test_unset_controls_send_nothing(oa: OpenAIUpstream, an: AnthropicUpstream) -> None:
    oa.reset()
    an.reset()
    await complete(oa_model(oa), llm.StreamOptions())
    await complete(an_model(an), llm.StreamOptions())
    names = {"stop", "top_p", "top_k", "seed", "presence_penalty", "frequency_penalty",
             "response_format", "user", "metadata", "parallel_tool_calls", "stop_sequences",
             "tool_choice"}  # fmt: skip
    assert not names & set(oa.bodies()[-1])
    assert not names & set(an.bodies()[-1])


# -- stop sequences ----------------------------------------------------------------------


async def test_anthropic_reports_the_matched_stop_sequence(an: AnthropicUpstream) -> None:
    an.reset(Script(text="1, 2, 3, 4, 5, 6, 7, 8, 9, 10"))
    message = await complete(an_model(an), llm.StreamOptions(stop=["9", "5"]))
    assert message.text == "1, 2, 3, 4, "
    assert (message.stop_reason, message.stop_sequence) == ("stop", "5")
    assert llm.message_from_dict(llm.message_to_dict(message)).stop_sequence == "5"


async def test_openai_stop_cuts_without_claiming_a_sequence(oa: OpenAIUpstream) -> None:
    oa.reset(Script(text="1, 2, 3, 4, 5, 6"))
    message = await complete(oa_model(oa), llm.StreamOptions(stop=["5"]))
    assert message.text == "1, 2, 3, 4, "
    assert (message.stop_reason, message.stop_sequence) == ("stop", None)


async def test_vllm_stop_reason_names_the_sequence() -> None:
    """vLLM's chunks carry the matched string in ``choices[].stop_reason``."""
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"content": "1, 2"}, "finish_reason": None}]}  # fmt: skip
    last = {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop",
                                  "stop_reason": "###"}]}  # fmt: skip
    frames = [f"data: {json.dumps(c)}\n\n".encode() for c in (chunk, last)] + [b"data: [DONE]\n\n"]
    with ScriptedServer() as server:
        server.reply(Reply(body=frames))
        model = llm.Model(id="m", provider="vllm", protocol="openai-completions",
                          base_url=server.url + "/v1")  # fmt: skip
        message = await complete(model, llm.StreamOptions(stop=["###"]))
    assert (message.text, message.stop_sequence) == ("1, 2", "###")


# -- JSON output on Anthropic: the forced-tool emulation --------------------------------


async def test_json_schema_on_anthropic_comes_back_as_text(an: AnthropicUpstream) -> None:
    an.reset(Script(text='{"count": 3}'))
    stream = llm.stream(an_model(an), CONTEXT, llm.StreamOptions(response_format=COUNT))
    events = [event async for event in stream]
    message = await stream.result()
    assert [e.type for e in events if e.type.startswith("toolcall")] == []
    assert "text_delta" in [e.type for e in events]
    assert json.loads(message.text) == {"count": 3}
    assert (message.stop_reason, message.tool_calls) == ("stop", [])
    body = an.bodies()[-1]
    assert body["tools"][-1] == {
        "name": "count",
        "description": "Reply by calling this tool: its input is your whole answer, as JSON.",
        "input_schema": SCHEMA,
        "strict": True,
        "cache_control": {"type": "ephemeral"},
    }
    assert body["tool_choice"] == {"type": "tool", "name": "count"}


async def test_json_object_on_anthropic_non_streamed_answer() -> None:
    """An upstream that answers one JSON message: the tool input given whole."""
    answer = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test-1",
              "content": [{"type": "tool_use", "id": "toolu_1", "name": "json_response",
                           "input": {"ok": True}}],
              "stop_reason": "tool_use", "stop_sequence": None,
              "usage": {"input_tokens": 3, "output_tokens": 4}}  # fmt: skip
    with ScriptedServer() as server:
        server.reply(Reply.json(answer))
        model = llm.Model(id="claude-test-1", provider="local", protocol="anthropic-messages",
                          base_url=server.url + "/v1")  # fmt: skip
        message = await complete(
            model, llm.StreamOptions(response_format=llm.ResponseFormat(type="json_object"))
        )
        body = server.requests[-1].json()
    assert json.loads(message.text) == {"ok": True}
    assert message.stop_reason == "stop"
    assert body["tools"][-1]["input_schema"] == {"type": "object"}


async def test_json_with_own_tools_lets_the_model_call_them(an: AnthropicUpstream) -> None:
    an.reset(Script(text='{"count": 1}'))
    context = llm.Context(messages=[llm.UserMessage("hi")], tools=[WEATHER])
    await complete(an_model(an), llm.StreamOptions(response_format=COUNT), context)
    body = an.bodies()[-1]
    assert [t["name"] for t in body["tools"]] == ["get_weather", "count"]
    assert body["tool_choice"] == {"type": "any"}


@pytest.mark.parametrize(
    ("options", "context", "words"),
    [
        (llm.StreamOptions(response_format=COUNT, reasoning="high"), CONTEXT, "thinking"),
        (
            llm.StreamOptions(
                response_format=llm.ResponseFormat(type="json_schema", schema={"type": "array"})
            ),
            CONTEXT,
            "object",
        ),
        (
            llm.StreamOptions(
                response_format=llm.ResponseFormat(type="json_object", name="get_weather")
            ),
            llm.Context(messages=[llm.UserMessage("hi")], tools=[WEATHER]),
            "already has a tool",
        ),
        (
            llm.StreamOptions(
                response_format=COUNT,
                protocol_options=AnthropicMessagesOptions(tool_choice="any"),
            ),
            llm.Context(messages=[llm.UserMessage("hi")], tools=[WEATHER]),
            "contradicts response_format",
        ),
    ],
    ids=["thinking", "array-root", "name-clash", "tool-choice"],
)
async def test_json_emulation_refuses_what_it_cannot_do_faithfully(
    an: AnthropicUpstream, options: llm.StreamOptions, context: llm.Context, words: str
) -> None:
    an.reset()
    with pytest.raises(llm.StreamError) as caught:
        await complete(an_model(an, reasoning=True, max_tokens=64_000), options, context)
    assert isinstance(caught.value.cause, llm.ConfigurationError)
    assert words in str(caught.value)
    assert an.bodies() == []


# -- refused -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        llm.StreamOptions(seed=1),
        llm.StreamOptions(presence_penalty=0.5),
        llm.StreamOptions(frequency_penalty=0.5),
        llm.StreamOptions(metadata={"k": "v"}),
    ],
    ids=["seed", "presence_penalty", "frequency_penalty", "metadata"],
)
async def test_anthropic_refuses_controls_it_lacks(
    an: AnthropicUpstream, options: llm.StreamOptions
) -> None:
    an.reset()
    field = next(name for name in ("seed", "presence_penalty", "frequency_penalty", "metadata")
                 if getattr(options, name) is not None)  # fmt: skip
    stream = llm.stream(an_model(an), CONTEXT, options)
    events = [event async for event in stream]
    assert [e.type for e in events] == ["start", "error"]
    error = events[-1].error
    assert isinstance(error, UnsupportedControlError)
    assert (error.field, error.upstream) == (field, "anthropic-messages")
    assert f"{field} is not supported by anthropic-messages" in str(error)
    assert an.bodies() == []
    # and the adapter's check() says so before streaming (the server answers 400 with it)
    with pytest.raises(UnsupportedControlError):
        AnthropicMessagesAdapter().check(an_model(an), CONTEXT, options)


async def test_anthropic_refuses_top_k_and_low_top_p_while_thinking(an: AnthropicUpstream) -> None:
    model = an_model(an, reasoning=True, max_tokens=64_000)
    for options, field in (
        (llm.StreamOptions(reasoning="high", top_k=5), "top_k"),
        (llm.StreamOptions(reasoning="high", top_p=0.5), "top_p"),
    ):
        an.reset()
        with pytest.raises(llm.StreamError) as caught:
            await complete(model, options)
        assert field in str(caught.value) and "thinking" in str(caught.value)
    an.reset()
    await complete(model, llm.StreamOptions(reasoning="high", top_p=0.97))
    assert an.bodies()[-1]["top_p"] == 0.97


@pytest.mark.parametrize(
    ("provider", "options", "field"),
    [
        ("openai", llm.StreamOptions(top_k=5), "top_k"),
        ("ollama", llm.StreamOptions(user="u"), "user"),
        ("mistral", llm.StreamOptions(metadata={"k": "v"}), "metadata"),
        ("deepseek", llm.StreamOptions(response_format=COUNT), "response_format json_schema"),
        ("lmstudio", llm.StreamOptions(response_format=llm.ResponseFormat(type="json_object")),
         "response_format json_object"),
    ],
)  # fmt: skip
async def test_vendor_table_refuses_what_a_vendor_lacks(
    oa: OpenAIUpstream, provider: str, options: llm.StreamOptions, field: str
) -> None:
    oa.reset()
    model = oa_model(oa, provider=provider)
    with pytest.raises(UnsupportedControlError) as caught:
        OpenAICompletionsAdapter().check(model, CONTEXT, options)
    assert caught.value.field == field and provider in caught.value.upstream
    with pytest.raises(llm.StreamError):
        await complete(model, options)
    assert oa.bodies() == []


async def test_openai_reasoning_models_refuse_sampling_controls(oa: OpenAIUpstream) -> None:
    oa.reset()
    model = oa_model(oa, provider="openai", reasoning=True)
    with pytest.raises(llm.StreamError) as caught:
        await complete(model, llm.StreamOptions(top_p=0.5, reasoning="low"))
    assert f"top_p is not supported by model {model.id!r} on openai" in str(caught.value)


async def test_mistral_seed_is_random_seed_and_overrides_apply(oa: OpenAIUpstream) -> None:
    oa.reset()
    await complete(oa_model(oa, provider="mistral"), llm.StreamOptions(seed=3))
    assert oa.bodies()[-1]["random_seed"] == 3 and "seed" not in oa.bodies()[-1]
    # Model.compat can say an upstream has what its vendor row lacks
    oa.reset()
    model = oa_model(oa, provider="openai", compat={"unsupported_controls": []})
    await complete(model, llm.StreamOptions(top_k=9))
    assert oa.bodies()[-1]["top_k"] == 9


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (llm.StreamOptions(stop="END"), "stop must be a list"),  # type: ignore[arg-type]
        (llm.StreamOptions(stop=[""]), "stop must be a list"),
        (llm.StreamOptions(top_p=1.5), "top_p must be"),
        (llm.StreamOptions(top_k=0), "top_k must be"),
        (llm.StreamOptions(seed=True), "seed must be"),
        (llm.StreamOptions(presence_penalty=3), "presence_penalty must be"),
        (llm.StreamOptions(response_format=llm.ResponseFormat(type="json_schema")), "needs a schema"),
        (llm.StreamOptions(response_format=llm.ResponseFormat(type="xml")), "must be one of"),  # type: ignore[arg-type]
    ],
)  # fmt: skip
def test_bad_values_raise_before_anything_is_sent(
    oa: OpenAIUpstream, options: llm.StreamOptions, words: str
) -> None:
    with pytest.raises(llm.ConfigurationError, match=words):
        llm.stream(oa_model(oa), CONTEXT, options)


# -- the escape hatch ----------------------------------------------------------------------


async def test_anthropic_extra_body_is_merged_last(an: AnthropicUpstream) -> None:
    an.reset()
    options = llm.StreamOptions(
        stop=["x"],
        protocol_options=AnthropicMessagesOptions(
            extra_body={"stop_sequences": ["y"], "context_management": {"edits": []}}
        ),
    )
    await complete(an_model(an), options)
    body = an.bodies()[-1]
    assert body["stop_sequences"] == ["y"]  # extra_body wins
    assert body["context_management"] == {"edits": []}


async def test_openai_extra_body_is_merged_last(oa: OpenAIUpstream) -> None:
    oa.reset()
    options = llm.StreamOptions(
        top_p=0.1,
        protocol_options=OpenAICompletionsOptions(extra_body={"top_p": 0.2, "min_p": 0.05}),
    )
    await complete(oa_model(oa), options)
    assert (oa.bodies()[-1]["top_p"], oa.bodies()[-1]["min_p"]) == (0.2, 0.05)


@pytest.mark.parametrize("protocol", ["openai-completions", "anthropic-messages"])
async def test_contradicting_parallel_settings_are_refused(
    oa: OpenAIUpstream, an: AnthropicUpstream, protocol: str
) -> None:
    context = llm.Context(messages=[llm.UserMessage("hi")], tools=[WEATHER])
    if protocol == "openai-completions":
        model = oa_model(oa)
        extra: Any = OpenAICompletionsOptions(parallel_tool_calls=True)
    else:
        model = an_model(an)
        extra = AnthropicMessagesOptions(disable_parallel_tool_use=True)
    options = llm.StreamOptions(parallel_tool_calls=protocol == "anthropic-messages",
                                protocol_options=extra)  # fmt: skip
    with pytest.raises(llm.StreamError) as caught:
        await complete(model, options, context)
    assert "parallel_tool_calls" in str(caught.value)
