"""Nothing a client sends is silently dropped: every field of the request table,
sent by the official SDKs through a real ``pluma serve``, against an upstream of
each protocol (loopback servers built from the published APIs, which record the
bodies they receive).

| fate in the table | what is checked                                                  |
|-------------------|------------------------------------------------------------------|
| sent as ``w``     | the call succeeds and the upstream's body holds ``w``            |
| passed through    | the upstream's body holds the member verbatim                    |
| 400 (refused)     | the SDK raises ``BadRequestError`` naming the field; the upstream |
|                   | received nothing                                                 |
| edge              | the accepted value succeeds; a refused one is a 400 naming it    |

Clients × upstreams: the ``openai`` SDK on ``/v1/chat/completions`` and raw
HTTP on ``/api/chat`` (the same table) against ``oa`` (openai-completions) and
``an`` (anthropic-messages); the ``anthropic`` SDK on ``/v1/messages`` against
both. Then the behaviours the table stands for: stop sequences honoured and
reported, JSON output emulated on Anthropic, unknown members passed through
or refused, a plain seed-contract provider refusing what it cannot take.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from anthropic.types import message_create_params
from openai.types.chat import completion_create_params
from tests.server.test_request_fields import typed_dict_keys
from tests.support.chat_env import ChatEnv, chat_env
from tests.support.upstreams import Script

from pluma.server.chat.codecs.request_fields import (
    ANTHROPIC,
    CHAT_COMPLETIONS,
    HEADER_FIELDS,
    MESSAGES,
    OPENAI,
    Fate,
    Field,
)

PROTOCOL_OF = {"oa": OPENAI, "an": ANTHROPIC}
OPENAI_SDK_KEYS = typed_dict_keys(completion_create_params.CompletionCreateParamsStreaming)
ANTHROPIC_SDK_KEYS = typed_dict_keys(message_create_params.MessageCreateParamsStreaming)

TOOL_OA = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
TOOL_AN = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
COUNT_SCHEMA = {
    "type": "object",
    "properties": {"count": {"type": "integer"}},
    "required": ["count"],
    "additionalProperties": False,
}
JSON_TEXT = '{"count": 3}'

# Per field: the members to send (the field, plus what it needs to make sense).
OPENAI_EXAMPLES: dict[str, dict[str, Any]] = {
    "model": {},
    "messages": {},
    "stream": {"stream": True},
    "stream_options": {"stream": True, "stream_options": {"include_usage": True}},
    "temperature": {"temperature": 0.5},
    "max_completion_tokens": {"max_completion_tokens": 64},
    "max_tokens": {"max_tokens": 64},
    "n": {"n": 1},
    "tools": {"tools": [TOOL_OA]},
    "tool_choice": {"tools": [TOOL_OA], "tool_choice": "auto"},
    "parallel_tool_calls": {"tools": [TOOL_OA], "parallel_tool_calls": False},
    "reasoning_effort": {"reasoning_effort": "low"},
    "stop": {"stop": ["5"]},
    "top_p": {"top_p": 0.9},
    "top_k": {"top_k": 40},
    "seed": {"seed": 7},
    "presence_penalty": {"presence_penalty": 0.5},
    "frequency_penalty": {"frequency_penalty": 0.25},
    "response_format": {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "count", "schema": COUNT_SCHEMA, "strict": True},
        }
    },
    "user": {"user": "user-123"},
    "metadata": {"metadata": {"team": "docs"}},
    "logprobs": {"logprobs": False},
    "top_logprobs": {"top_logprobs": 2},
    "audio": {"audio": {"voice": "alloy", "format": "wav"}},
    "modalities": {"modalities": ["text"]},
    "functions": {"functions": [{"name": "f", "parameters": {"type": "object"}}]},
    "function_call": {"function_call": "auto"},
    "logit_bias": {"logit_bias": {"50256": -100}},
    "moderation": {"moderation": {"mode": "strict"}},
    "prediction": {"prediction": {"type": "content", "content": "1, 2, 3"}},
    "prompt_cache_key": {"prompt_cache_key": "tenant-1"},
    "prompt_cache_options": {"prompt_cache_options": {"ttl": "1h"}},
    "prompt_cache_retention": {"prompt_cache_retention": "24h"},
    "safety_identifier": {"safety_identifier": "hash-of-user"},
    "service_tier": {"service_tier": "default"},
    "store": {"store": False},
    "verbosity": {"verbosity": "low"},
    "web_search_options": {"web_search_options": {"search_context_size": "low"}},
}
# Edge fields: a value the edge refuses (a 400 naming the field).
OPENAI_EDGE_REFUSALS: dict[str, dict[str, Any]] = {
    "n": {"n": 2},
    "logprobs": {"logprobs": True},
    "modalities": {"modalities": ["text", "audio"]},
    "stream_options": {"stream": True, "stream_options": {"include_obfuscation": True}},
    "stream": {"stream": "yes"},
}

ANTHROPIC_EXAMPLES: dict[str, dict[str, Any]] = {
    "model": {},
    "messages": {},
    "max_tokens": {},
    "system": {"system": "Be brief."},
    "stream": {"stream": True},
    "temperature": {"temperature": 0.5},
    "top_p": {"top_p": 0.9},
    "top_k": {"top_k": 40},
    "stop_sequences": {"stop_sequences": ["5"]},
    "metadata": {"metadata": {"user_id": "user-123"}},
    "tools": {"tools": [TOOL_AN]},
    "tool_choice": {
        "tools": [TOOL_AN],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    },
    "thinking": {"max_tokens": 8000, "thinking": {"type": "enabled", "budget_tokens": 2048}},
    "output_config": {"output_config": {"format": {"type": "json_schema", "schema": COUNT_SCHEMA}}},
    "cache_control": {"cache_control": {"type": "ephemeral"}},
    "container": {"container": "container_abc"},
    "diagnostics": {"diagnostics": {"trace": True}},
    "inference_geo": {"inference_geo": "us"},
    "service_tier": {"service_tier": "standard_only"},
    "speed": {"speed": "fast"},
    "user_profile_id": {"user_profile_id": "profile_1"},
    "workspace_id": {"workspace_id": "wrkspc_1"},
}
ANTHROPIC_EDGE_REFUSALS: dict[str, dict[str, Any]] = {"stream": {"stream": "yes"}}

# Alternative wire names a vendor may use for the same field.
ALTERNATES = {"max_completion_tokens": {"max_tokens"}}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatEnv]:
    with chat_env(Path(tmp_path_factory.mktemp("fidelity"))) as e:
        yield e


@pytest.fixture
def oai(env: ChatEnv) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=env.url + "/v1", api_key=env.server.api_key, max_retries=0)
    yield client
    client.close()


@pytest.fixture
def ant(env: ChatEnv) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(base_url=env.url, api_key=env.server.api_key, max_retries=0)
    yield client
    client.close()


def test_every_table_row_has_an_example() -> None:
    assert set(OPENAI_EXAMPLES) == {f.name for f in CHAT_COMPLETIONS}
    assert set(ANTHROPIC_EXAMPLES) == {f.name for f in MESSAGES}
    for table, refusals in (
        (CHAT_COMPLETIONS, OPENAI_EDGE_REFUSALS),
        (MESSAGES, ANTHROPIC_EDGE_REFUSALS),
    ):
        edges = {f.name for f in table if f.openai.kind == "edge" or f.anthropic.kind == "edge"}
        assert edges <= set(refusals), (
            f"edge fields without a refused value: {edges - set(refusals)}"
        )


def script_for(field: str) -> Script:
    if field in ("response_format", "output_config"):
        return Script(text=JSON_TEXT)
    return Script(text="1, 2, 3, 4, 5, 6")


def split_sdk(members: dict[str, Any], sdk_keys: set[str]) -> dict[str, Any]:
    """SDK keyword arguments for the members the SDK declares, ``extra_body`` for the rest."""
    kwargs = {k: v for k, v in members.items() if k in sdk_keys}
    extra = {k: v for k, v in members.items() if k not in sdk_keys}
    if extra:
        kwargs["extra_body"] = extra
    return kwargs


def call_openai(client: openai.OpenAI, env: ChatEnv, kind: str, members: dict[str, Any]) -> str:
    """The reply's text (streamed or not), through the openai SDK."""
    body: dict[str, Any] = {
        "model": env.model(kind),
        "messages": [{"role": "user", "content": "Count to six."}],
        **members,
    }
    if body.get("stream") is True:
        chunks = list(client.chat.completions.create(**split_sdk(body, OPENAI_SDK_KEYS)))
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    completion = client.chat.completions.create(**split_sdk(body, OPENAI_SDK_KEYS))
    return completion.choices[0].message.content or ""


def call_page(env: ChatEnv, kind: str, members: dict[str, Any]) -> httpx.Response:
    """``POST /api/chat`` with the same members; the whole SSE answer read."""
    body = {
        "connection": kind,
        "messages": [{"role": "user", "content": "Count to six."}],
        **{k: v for k, v in members.items() if k not in ("stream",)},
    }
    headers = {"authorization": f"Bearer {env.server.api_key}"}
    return httpx.post(env.url + "/api/chat", json=body, headers=headers, timeout=30)


def call_anthropic(
    client: anthropic.Anthropic, env: ChatEnv, kind: str, members: dict[str, Any]
) -> str:
    body: dict[str, Any] = {
        "model": env.model(kind),
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Count to six."}],
        **members,
    }
    if body.get("stream") is True:
        del body["stream"]
        with client.messages.stream(**split_sdk(body, ANTHROPIC_SDK_KEYS)) as stream:
            message = stream.get_final_message()
    else:
        message = client.messages.create(**split_sdk(body, ANTHROPIC_SDK_KEYS))
    return "".join(b.text for b in message.content if b.type == "text")


def expect_sent(env: ChatEnv, kind: str, field: Field, fate: Fate, members: dict[str, Any]) -> None:
    sent = env.upstream(kind).bodies()
    assert len(sent) == 1, f"{field.name}: expected one upstream request, got {len(sent)}"
    body = sent[-1]
    if fate.kind == "sent":
        names = {fate.wire} | ALTERNATES.get(fate.wire, set())
        assert names & set(body), f"{field.name} → {fate.wire} missing from {sorted(body)}"
    elif fate.kind == "passed" and field.name in HEADER_FIELDS:
        headers = env.upstream(kind).requests[-1].headers
        assert headers.get(HEADER_FIELDS[field.name]) == members[field.name]
        assert field.name not in body
    elif fate.kind == "passed":
        assert body[field.name] == members[field.name], f"{field.name} not passed verbatim"


@pytest.mark.parametrize("kind", ["oa", "an"])
@pytest.mark.parametrize("field", CHAT_COMPLETIONS, ids=lambda f: f.name)
def test_openai_sdk_every_field(env: ChatEnv, oai: openai.OpenAI, field: Field, kind: str) -> None:
    fate = field.fate(PROTOCOL_OF[kind])
    members = OPENAI_EXAMPLES[field.name]
    env.reset(kind, script_for(field.name))
    if fate.kind == "refused":
        with pytest.raises(openai.BadRequestError) as caught:
            call_openai(oai, env, kind, members)
        assert field.name in caught.value.message
        assert env.upstream(kind).bodies() == [], "a refused request reached the upstream"
        return
    text = call_openai(oai, env, kind, members)
    assert text
    expect_sent(env, kind, field, fate, members)
    if fate.kind == "edge":
        env.reset(kind)
        with pytest.raises(openai.BadRequestError) as caught:
            call_openai(oai, env, kind, OPENAI_EDGE_REFUSALS[field.name])
        assert field.name in caught.value.message
        assert env.upstream(kind).bodies() == []


@pytest.mark.parametrize("kind", ["oa", "an"])
@pytest.mark.parametrize("field", CHAT_COMPLETIONS, ids=lambda f: f.name)
def test_page_every_field(env: ChatEnv, field: Field, kind: str) -> None:
    fate = field.fate(PROTOCOL_OF[kind])
    members = OPENAI_EXAMPLES[field.name]
    env.reset(kind, script_for(field.name))
    response = call_page(env, kind, members)
    if fate.kind == "refused":
        assert response.status_code == 400, response.text
        assert field.name in response.json()["error"]["message"]
        assert env.upstream(kind).bodies() == []
        return
    assert response.status_code == 200, response.text
    assert "event: error" not in response.text, response.text
    assert response.text.rstrip().endswith("data: [DONE]")
    expect_sent(env, kind, field, fate, members)


@pytest.mark.parametrize("kind", ["oa", "an"])
@pytest.mark.parametrize("field", MESSAGES, ids=lambda f: f.name)
def test_anthropic_sdk_every_field(
    env: ChatEnv, ant: anthropic.Anthropic, field: Field, kind: str
) -> None:
    fate = field.fate(PROTOCOL_OF[kind])
    members = ANTHROPIC_EXAMPLES[field.name]
    env.reset(kind, script_for(field.name))
    if fate.kind == "refused":
        with pytest.raises(anthropic.BadRequestError) as caught:
            call_anthropic(ant, env, kind, members)
        assert HEADER_FIELDS.get(field.name, field.name) in caught.value.message
        assert env.upstream(kind).bodies() == []
        return
    assert call_anthropic(ant, env, kind, members)
    expect_sent(env, kind, field, fate, members)
    if fate.kind == "edge":
        env.reset(kind)
        with pytest.raises(anthropic.BadRequestError) as caught:
            call_anthropic(ant, env, kind, ANTHROPIC_EDGE_REFUSALS[field.name])
        assert field.name in caught.value.message


# -- what the mapped fields do ------------------------------------------------------


@pytest.mark.parametrize("kind", ["oa", "an"])
@pytest.mark.parametrize("stream", [False, True])
def test_openai_stop_cuts_the_reply(
    env: ChatEnv, oai: openai.OpenAI, kind: str, stream: bool
) -> None:
    env.reset(kind, Script(text="1, 2, 3, 4, 5, 6, 7, 8, 9, 10"))
    text = call_openai(oai, env, kind, {"stop": "5", "stream": stream})
    assert text == "1, 2, 3, 4, "
    body = env.upstream(kind).bodies()[-1]
    assert body["stop" if kind == "oa" else "stop_sequences"] == ["5"]


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_stop_sequence_is_reported(
    env: ChatEnv, ant: anthropic.Anthropic, stream: bool
) -> None:
    env.reset("an", Script(text="1, 2, 3, 4, 5, 6, 7, 8, 9, 10"))
    body: dict[str, Any] = {
        "model": env.model("an"),
        "max_tokens": 64,
        "stop_sequences": ["5", "9"],
        "messages": [{"role": "user", "content": "Count to ten."}],
    }
    if stream:
        with ant.messages.stream(**body) as events:
            message = events.get_final_message()
    else:
        message = ant.messages.create(**body)
    assert message.content[0].type == "text" and message.content[0].text == "1, 2, 3, 4, "
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "5")
    assert env.anthropic.bodies()[-1]["stop_sequences"] == ["5", "9"]


def test_anthropic_client_stop_sequences_reach_an_openai_upstream(
    env: ChatEnv, ant: anthropic.Anthropic
) -> None:
    env.reset("oa", Script(text="1, 2, 3, 4, 5, 6"))
    message = ant.messages.create(
        model=env.model("oa"),
        max_tokens=64,
        stop_sequences=["5"],
        messages=[{"role": "user", "content": "Count."}],
    )
    assert message.content[0].type == "text" and message.content[0].text == "1, 2, 3, 4, "
    # OpenAI never says which sequence matched, so nothing is claimed.
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    assert env.openai.bodies()[-1]["stop"] == ["5"]


@pytest.mark.parametrize("stream", [False, True])
def test_json_schema_is_emulated_on_anthropic(
    env: ChatEnv, oai: openai.OpenAI, stream: bool
) -> None:
    env.reset("an", Script(text=JSON_TEXT))
    text = call_openai(oai, env, "an", {**OPENAI_EXAMPLES["response_format"], "stream": stream})
    assert json.loads(text) == {"count": 3}
    sent = env.anthropic.bodies()[-1]
    assert sent["tools"][-1]["name"] == "count"
    assert sent["tools"][-1]["input_schema"] == COUNT_SCHEMA
    assert sent["tools"][-1]["strict"] is True
    assert sent["tool_choice"] == {"type": "tool", "name": "count"}


def test_json_emulation_reports_a_finished_reply(env: ChatEnv, oai: openai.OpenAI) -> None:
    env.reset("an", Script(text=JSON_TEXT))
    completion = oai.chat.completions.create(
        model=env.model("an"),
        messages=[{"role": "user", "content": "How many?"}],
        response_format={"type": "json_object"},
    )
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.tool_calls is None
    assert json.loads(completion.choices[0].message.content or "") == {"count": 3}


def test_output_config_format_reaches_openai_as_response_format(
    env: ChatEnv, ant: anthropic.Anthropic
) -> None:
    env.reset("oa", Script(text=JSON_TEXT))
    message = ant.messages.create(
        model=env.model("oa"),
        max_tokens=64,
        messages=[{"role": "user", "content": "How many?"}],
        output_config={"format": {"type": "json_schema", "schema": COUNT_SCHEMA}},
    )
    assert message.content[0].type == "text" and json.loads(message.content[0].text)
    sent = env.openai.bodies()[-1]["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["schema"] == COUNT_SCHEMA


def test_controls_arrive_with_their_values(env: ChatEnv, oai: openai.OpenAI) -> None:
    members = {
        "stop": ["END"],
        "top_p": 0.5,
        "top_k": 20,
        "seed": 42,
        "presence_penalty": 0.1,
        "frequency_penalty": -0.2,
        "user": "u-9",
        "metadata": {"k": "v"},
        "tools": [TOOL_OA],
        "parallel_tool_calls": False,
        "response_format": {"type": "json_object"},
    }
    env.reset("oa")
    call_openai(oai, env, "oa", members)
    body = env.openai.bodies()[-1]
    for key in ("stop", "top_p", "top_k", "seed", "presence_penalty", "frequency_penalty"):
        assert body[key] == members[key], key
    assert (body["user"], body["metadata"]) == ("u-9", {"k": "v"})
    assert body["parallel_tool_calls"] is False
    assert body["response_format"] == {"type": "json_object"}
    # and to Anthropic, in its own terms
    env.reset("an")
    anthropic_members = {k: members[k] for k in ("stop", "top_p", "top_k", "user", "tools")}
    call_openai(oai, env, "an", {**anthropic_members, "parallel_tool_calls": False})
    body = env.anthropic.bodies()[-1]
    assert (body["stop_sequences"], body["top_p"], body["top_k"]) == (["END"], 0.5, 20)
    assert body["metadata"] == {"user_id": "u-9"}
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


@pytest.mark.parametrize("field", ["seed", "presence_penalty", "frequency_penalty", "metadata"])
def test_controls_anthropic_lacks_are_refused_naming_field_and_upstream(
    env: ChatEnv, oai: openai.OpenAI, field: str
) -> None:
    env.reset("an")
    with pytest.raises(openai.BadRequestError) as caught:
        call_openai(oai, env, "an", OPENAI_EXAMPLES[field])
    assert field in caught.value.message and "anthropic-messages" in caught.value.message
    assert env.anthropic.bodies() == []


# -- pass-through ---------------------------------------------------------------------


def test_unknown_openai_member_passes_to_openai_and_is_refused_elsewhere(
    env: ChatEnv, oai: openai.OpenAI
) -> None:
    extension = {"chat_template_kwargs": {"enable_thinking": False}, "repetition_penalty": 1.1}
    env.reset("oa")
    call_openai(oai, env, "oa", extension)
    body = env.openai.bodies()[-1]
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert body["repetition_penalty"] == 1.1
    for kind in ("an", "ln"):
        env.reset(kind)
        with pytest.raises(openai.BadRequestError) as caught:
            call_openai(oai, env, kind, extension)
        assert "chat_template_kwargs" in caught.value.message
        assert "repetition_penalty" in caught.value.message
        assert env.upstream(kind).bodies() == []


def test_unknown_anthropic_member_passes_to_anthropic_and_is_refused_elsewhere(
    env: ChatEnv, ant: anthropic.Anthropic
) -> None:
    env.reset("an")
    call_anthropic(ant, env, "an", {"context_management": {"edits": []}})
    assert env.anthropic.bodies()[-1]["context_management"] == {"edits": []}
    env.reset("oa")
    with pytest.raises(anthropic.BadRequestError) as caught:
        call_anthropic(ant, env, "oa", {"context_management": {"edits": []}})
    assert "context_management" in caught.value.message
    assert "openai-completions" in caught.value.message


def test_output_config_effort_passes_to_anthropic_next_to_the_emulated_format(
    env: ChatEnv, ant: anthropic.Anthropic
) -> None:
    env.reset("an", Script(text=JSON_TEXT))
    text = call_anthropic(
        ant,
        env,
        "an",
        {
            "output_config": {
                "effort": "low",
                "format": {"type": "json_schema", "schema": COUNT_SCHEMA},
            }
        },
    )
    assert json.loads(text) == {"count": 3}
    body = env.anthropic.bodies()[-1]
    assert body["output_config"] == {"effort": "low"}
    assert body["tool_choice"]["type"] == "tool"


def test_anthropic_refusals_name_the_member(env: ChatEnv, ant: anthropic.Anthropic) -> None:
    env.reset("an")
    with pytest.raises(anthropic.BadRequestError) as caught:
        call_anthropic(ant, env, "an", {"metadata": {"user_id": "u", "tenant": "t"}})
    assert "metadata.tenant" in caught.value.message
    with pytest.raises(anthropic.BadRequestError) as caught:
        call_anthropic(
            ant, env, "an", {"tools": [{"type": "web_search_20250305", "name": "web_search"}]}
        )
    assert "tools[0].type" in caught.value.message
    assert env.anthropic.bodies() == []
