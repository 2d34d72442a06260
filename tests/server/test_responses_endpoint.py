"""``POST /v1/responses`` through a real ``pluma serve``, judged by the
official ``openai`` SDK (``responses.create`` streamed and not,
``responses.stream(...).get_final_response()``), over every kind of upstream:
an OpenAI Chat Completions upstream, an Anthropic Messages upstream, and a
plugin written against the seed contract (lines out)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from tests.support.chat_env import KINDS, ChatEnv, chat_env
from tests.support.upstreams import Script, ToolUse

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
    "strict": False,
}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatEnv]:
    with chat_env(Path(tmp_path_factory.mktemp("responses"))) as e:
        yield e


@pytest.fixture
def oai(env: ChatEnv) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=env.url + "/v1", api_key=env.server.api_key, max_retries=0)
    yield client
    client.close()


def sent(env: ChatEnv, kind: str) -> dict[str, Any]:
    body: dict[str, Any] = env.upstream(kind).requests[-1].json()
    return body


@pytest.mark.parametrize("kind", KINDS)
def test_stream_helper_assembles_the_upstreams_text_and_usage(
    env: ChatEnv, oai: openai.OpenAI, kind: str
) -> None:
    env.reset(kind, Script(text="Responses through Pluma.", input_tokens=21, output_tokens=9))
    with oai.responses.stream(
        model=env.model(kind), input="hi", instructions="Be brief."
    ) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "Responses through Pluma."
    assert final.output_text == "Responses through Pluma."
    assert final.status == "completed"
    assert final.usage is not None
    assert (final.usage.input_tokens, final.usage.output_tokens) == (21, 9)
    body = sent(env, kind)
    if kind == "an":
        assert "Be brief." in json.dumps(body["system"])
    else:
        assert body["messages"][0] == {"role": "system", "content": "Be brief."}


@pytest.mark.parametrize("kind", KINDS)
def test_non_streaming_create(env: ChatEnv, oai: openai.OpenAI, kind: str) -> None:
    env.reset(kind, Script(text="Whole answer."))
    response = oai.responses.create(model=env.model(kind), input="hi")
    assert response.output_text == "Whole answer."
    assert response.status == "completed"
    assert response.object == "response"
    assert response.output[0].type == "message"


@pytest.mark.parametrize("kind", KINDS)
def test_raw_event_stream_has_increasing_sequence_numbers_and_one_id(
    env: ChatEnv, oai: openai.OpenAI, kind: str
) -> None:
    env.reset(kind, Script(text="Counting events."))
    events = list(oai.responses.create(model=env.model(kind), input="hi", stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    ids = {e.response.id for e in events if hasattr(e, "response")}
    assert len(ids) == 1


@pytest.mark.parametrize("kind", ["oa", "an"])
def test_function_call_round_trip(env: ChatEnv, oai: openai.OpenAI, kind: str) -> None:
    """A Responses client's tool round trip against a Chat-Completions and an
    Anthropic upstream: the call comes back as a function_call item, and its
    output goes up linked to the same call id."""
    env.reset(kind, Script(text="", tools=[ToolUse("call_1", "get_weather", {"city": "Paris"})]))
    with oai.responses.stream(
        model=env.model(kind),
        input="Weather in Paris?",
        tools=[WEATHER],  # type: ignore[list-item]
    ) as stream:
        final = stream.get_final_response()
    calls = [item for item in final.output if item.type == "function_call"]
    assert len(calls) == 1
    call = calls[0]
    assert (call.name, json.loads(call.arguments), call.call_id) == (
        "get_weather",
        {"city": "Paris"},
        "call_1",
    )
    env.reset(kind, Script(text="It is sunny."))
    answer = oai.responses.create(
        model=env.model(kind),
        tools=[WEATHER],  # type: ignore[list-item]
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 24 C"},
        ],
    )
    assert answer.output_text == "It is sunny."
    body = sent(env, kind)
    if kind == "an":
        turns = body["messages"]
        assert turns[1]["content"][-1]["type"] == "tool_use"
        result = turns[2]["content"][0]
        assert result["type"] == "tool_result"
        assert result["tool_use_id"] == turns[1]["content"][-1]["id"]
    else:
        assert body["messages"][1]["tool_calls"][0]["id"] == "call_1"
        assert body["messages"][2] == {
            "role": "tool",
            "tool_call_id": "call_1",
            "content": "sunny, 24 C",
        }


def test_reasoning_from_an_anthropic_upstream_is_a_reasoning_item_with_its_signature(
    env: ChatEnv, oai: openai.OpenAI
) -> None:
    env.reset("an", Script(text="Answer.", thinking="Let me think.", signature="sig-xyz"))
    with oai.responses.stream(
        model=env.model("an"),
        input="hi",
        reasoning={"effort": "low"},
        include=["reasoning.encrypted_content"],
        store=False,
    ) as stream:
        summaries = [e.delta for e in stream if e.type == "response.reasoning_summary_text.delta"]
        final = stream.get_final_response()
    assert "".join(summaries) == "Let me think."
    reasoning = final.output[0]
    assert reasoning.type == "reasoning"
    assert reasoning.summary[0].text == "Let me think."
    # Opaque to the client: the signature wrapped with the upstream that made it.
    assert reasoning.encrypted_content is not None
    assert reasoning.encrypted_content.startswith("pluma.v1.")
    assert final.output_text == "Answer."
    # Sent back on the next turn, the reasoning reaches Anthropic signed.
    env.reset("an", Script(text="Again."))
    oai.responses.create(
        model=env.model("an"),
        input=[
            {"role": "user", "content": "hi"},
            reasoning.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "assistant", "content": "Answer."},
            {"role": "user", "content": "more"},
        ],
    )
    turn = sent(env, "an")["messages"][1]["content"]
    assert turn[0] == {"type": "thinking", "thinking": "Let me think.", "signature": "sig-xyz"}
    # Sent to another upstream, the signature stays home: no foreign signature leaves.
    env.reset("oa", Script(text="Elsewhere."))
    oai.responses.create(
        model=env.model("oa"),
        input=[
            {"role": "user", "content": "hi"},
            reasoning.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "assistant", "content": "Answer."},
            {"role": "user", "content": "more"},
        ],
    )
    assert "sig-xyz" not in json.dumps(sent(env, "oa"))


@pytest.mark.parametrize("kind", ["oa", "an"])
def test_length_is_an_incomplete_response(env: ChatEnv, oai: openai.OpenAI, kind: str) -> None:
    env.reset(kind, Script(text="Cut short", stop="length"))
    events = list(oai.responses.create(model=env.model(kind), input="hi", stream=True))
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details is not None
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"
    whole = oai.responses.create(model=env.model(kind), input="hi", max_output_tokens=16)
    assert whole.status == "incomplete"
    assert sent(env, kind).get("max_tokens", sent(env, kind).get("max_completion_tokens")) == 16


@pytest.mark.parametrize("kind", ["oa", "an"])
def test_an_error_mid_stream_is_response_failed_with_the_partial_text(
    env: ChatEnv, oai: openai.OpenAI, kind: str
) -> None:
    env.reset(kind, Script(text="one two three four five six", fail_after=2))
    events = list(oai.responses.create(model=env.model(kind), input="hi", stream=True))
    assert events[-1].type == "response.failed"
    failed = events[-1].response
    assert failed.error is not None and failed.error.message
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text and "one two three four five six".startswith(text)
    assert failed.output[0].type == "message"
    assert failed.output[0].content[0].text == text  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("previous_response_id", "resp_123"),
        ("background", True),
        ("tools", [{"type": "web_search"}]),
        ("input", [{"type": "item_reference", "id": "x"}]),
    ],
)
def test_what_pluma_cannot_do_is_a_400_naming_the_member(
    env: ChatEnv, member: str, value: Any
) -> None:
    body: dict[str, Any] = {"model": env.model("oa"), "input": "hi", member: value}
    reply = httpx.post(
        env.url + "/v1/responses",
        json=body,
        headers={"authorization": f"Bearer {env.server.api_key}"},
    )
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert member in (error.get("param") or "") + error["message"]
