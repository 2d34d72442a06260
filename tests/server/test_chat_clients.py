"""Every client protocol × every kind of upstream, through a real ``pluma serve``.

Clients: the official ``openai`` SDK (sync and async, stream and non-stream,
tools, usage) on ``/v1/chat/completions`` and ``/v1/models``; the official
``anthropic`` SDK (``messages.create``, ``messages.stream(...).get_final_message()``,
tools, thinking) on ``/v1/messages``; raw HTTP on ``/api/chat``. Upstreams:
OpenAI (built-in provider), Anthropic (built-in provider), and a plugin written
against the seed contract (lines out). The SDKs are the judges: their own
parsers and accumulators must assemble what the upstream said.
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
from openai.lib.streaming.chat import ChatCompletionStreamState
from tests.support.chat_env import KINDS, ChatEnv, chat_env
from tests.support.upstreams import MODELS, Script, ToolUse

WEATHER_TOOL_OPENAI = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
WEATHER_TOOL_ANTHROPIC = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
TOOL_SCRIPT = Script(
    text="", tools=[ToolUse("call_1", "get_weather", {"city": "Paris", "days": 3})]
)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatEnv]:
    with chat_env(Path(tmp_path_factory.mktemp("chat"))) as e:
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


def tools_sent(env: ChatEnv, kind: str) -> list[str]:
    """The tool names the upstream received, read in the upstream's own protocol."""
    body = env.upstream(kind).requests[-1].json()
    if kind == "an":
        return [t["name"] for t in body["tools"]]
    return [t["function"]["name"] for t in body["tools"]]


# -- OpenAI SDK -----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_openai_sync_stream_with_usage(env: ChatEnv, oai: openai.OpenAI, kind: str) -> None:
    env.reset(kind, Script(text="Streaming through Pluma works.", input_tokens=21, output_tokens=9))
    chunks = list(
        oai.chat.completions.create(
            model=env.model(kind),
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hi"},
            ],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Streaming through Pluma works."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (21, 9)
    assert len({c.id for c in chunks}) == 1
    # The system prompt reached the upstream in its own protocol.
    sent = env.upstream(kind).requests[-1].json()
    if kind == "an":
        assert "Be brief." in json.dumps(sent["system"])
    else:
        assert sent["messages"][0] == {"role": "system", "content": "Be brief."}


@pytest.mark.parametrize("kind", KINDS)
def test_openai_stream_without_usage_has_no_usage_chunk(
    env: ChatEnv, oai: openai.OpenAI, kind: str
) -> None:
    env.reset(kind)
    chunks = list(
        oai.chat.completions.create(
            model=env.model(kind), messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


@pytest.mark.parametrize("kind", KINDS)
async def test_openai_async_non_stream(env: ChatEnv, kind: str) -> None:
    env.reset(kind, Script(text="A whole answer.", input_tokens=5, output_tokens=3))
    async with openai.AsyncOpenAI(
        base_url=env.url + "/v1", api_key=env.server.api_key, max_retries=0
    ) as client:
        completion = await client.chat.completions.create(
            model=env.model(kind), messages=[{"role": "user", "content": "hi"}]
        )
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "A whole answer."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 3


@pytest.mark.parametrize("kind", KINDS)
async def test_openai_async_stream_with_tools_accumulated_by_the_sdk(
    env: ChatEnv, kind: str
) -> None:
    env.reset(kind, TOOL_SCRIPT)
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
    async with openai.AsyncOpenAI(
        base_url=env.url + "/v1", api_key=env.server.api_key, max_retries=0
    ) as client:
        stream = await client.chat.completions.create(
            model=env.model(kind),
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[WEATHER_TOOL_OPENAI],  # type: ignore[list-item]
            stream=True,
        )
        async for chunk in stream:
            state.handle_chunk(chunk)
    final = state.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name) for c in calls] == [("call_1", "get_weather")]
    assert json.loads(calls[0].function.arguments) == {"city": "Paris", "days": 3}
    assert tools_sent(env, kind) == ["get_weather"]


def test_openai_tool_result_turn_reaches_anthropic_upstream(
    env: ChatEnv, oai: openai.OpenAI
) -> None:
    env.reset("an", Script(text="It is sunny."))
    completion = oai.chat.completions.create(
        model=env.model("an"),
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny, 21 C"},
        ],
        tools=[WEATHER_TOOL_OPENAI],  # type: ignore[list-item]
    )
    assert completion.choices[0].message.content == "It is sunny."
    sent = env.anthropic.requests[-1].json()["messages"]
    assert sent[1]["content"][0]["type"] == "tool_use"
    assert sent[1]["content"][0]["input"] == {"city": "Paris"}
    result = sent[2]["content"][0]
    assert (result["type"], result["tool_use_id"]) == ("tool_result", "toolu_1")
    assert "sunny, 21 C" in json.dumps(result)


def test_openai_models_lists_every_name_a_client_may_send(env: ChatEnv, oai: openai.OpenAI) -> None:
    """The active connection's bare ids, then every connection's as
    <name>/<id>; the keyless remote connection is left out and logged."""
    ids = [m.id for m in oai.models.list()]
    claude = ["claude-test-1", "claude-test-2"]
    assert ids == [
        *MODELS,
        *(f"oa/{m}" for m in MODELS),
        *(f"an/{m}" for m in claude),
        *(f"ln/{m}" for m in MODELS),
    ]
    assert "models of connection 'remote' left out of /v1/models" in env.server.log_text()
    env.reset("an")
    reply = oai.chat.completions.create(
        model="an/claude-test-2", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.model == "an/claude-test-2"
    assert env.anthropic.requests[-1].json()["model"] == "claude-test-2"


def test_bare_model_id_with_a_slash_goes_to_the_active_connection(
    env: ChatEnv, oai: openai.OpenAI
) -> None:
    env.reset("oa")
    oai.chat.completions.create(
        model="meta-llama/Llama-3-8B", messages=[{"role": "user", "content": "hi"}]
    )
    assert env.openai.requests[-1].json()["model"] == "meta-llama/Llama-3-8B"


def test_reasoning_content_streams_to_openai_clients(env: ChatEnv, oai: openai.OpenAI) -> None:
    env.reset("an", Script(text="42.", thinking="Let me think about it."))
    chunks = list(
        oai.chat.completions.create(
            model=env.model("an"), messages=[{"role": "user", "content": "?"}], stream=True
        )
    )
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    thinking = "".join((d.model_extra or {}).get("reasoning_content", "") for d in deltas)
    assert thinking == "Let me think about it."
    assert "".join(d.content or "" for d in deltas) == "42."


# -- Anthropic SDK --------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_anthropic_create(env: ChatEnv, ant: anthropic.Anthropic, kind: str) -> None:
    env.reset(kind, Script(text="Hello, Anthropic client.", input_tokens=14, output_tokens=6))
    message = ant.messages.create(
        model=env.model(kind),
        max_tokens=100,
        system="Be brief.",
        messages=[{"role": "user", "content": "hi"}],
    )
    assert message.type == "message" and message.role == "assistant"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Hello, Anthropic client."  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (14, 6)


@pytest.mark.parametrize("kind", KINDS)
def test_anthropic_stream_final_message(env: ChatEnv, ant: anthropic.Anthropic, kind: str) -> None:
    env.reset(kind, Script(text="Streamed to the Anthropic SDK.", output_tokens=8))
    with ant.messages.stream(
        model=env.model(kind), max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(texts) == "Streamed to the Anthropic SDK."
    assert final.content[0].text == "Streamed to the Anthropic SDK."  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 8


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("streaming", [False, True], ids=["create", "stream"])
def test_anthropic_tools(
    env: ChatEnv, ant: anthropic.Anthropic, kind: str, streaming: bool
) -> None:
    env.reset(kind, TOOL_SCRIPT)
    args: dict[str, Any] = {
        "model": env.model(kind),
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [WEATHER_TOOL_ANTHROPIC],
    }
    if streaming:
        with ant.messages.stream(**args) as stream:
            message = stream.get_final_message()
    else:
        message = ant.messages.create(**args)
    uses = [b for b in message.content if b.type == "tool_use"]
    assert [(u.id, u.name, u.input) for u in uses] == [
        ("call_1", "get_weather", {"city": "Paris", "days": 3})
    ]
    assert message.stop_reason == "tool_use"
    assert tools_sent(env, kind) == ["get_weather"]


@pytest.mark.parametrize("streaming", [False, True], ids=["create", "stream"])
def test_anthropic_thinking_keeps_its_signature(
    env: ChatEnv, ant: anthropic.Anthropic, streaming: bool
) -> None:
    env.reset("an", Script(text="Done.", thinking="Step one, step two.", signature="sig-XYZ"))
    args: dict[str, Any] = {
        "model": env.model("an"),
        "max_tokens": 4000,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "messages": [{"role": "user", "content": "think"}],
    }
    if streaming:
        with ant.messages.stream(**args) as stream:
            message = stream.get_final_message()
    else:
        message = ant.messages.create(**args)
    assert [b.type for b in message.content] == ["thinking", "text"]
    block = message.content[0]
    assert block.thinking == "Step one, step two."  # type: ignore[union-attr]
    assert block.signature == "sig-XYZ"  # type: ignore[union-attr]
    assert "thinking" in env.anthropic.requests[-1].json()


def test_anthropic_thinking_from_an_openai_upstream(env: ChatEnv, ant: anthropic.Anthropic) -> None:
    env.reset("oa", Script(text="Yes.", thinking="Reasoning here."))
    with ant.messages.stream(
        model=env.model("oa"), max_tokens=100, messages=[{"role": "user", "content": "?"}]
    ) as stream:
        message = stream.get_final_message()
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "Reasoning here."  # type: ignore[union-attr]


# -- raw HTTP on /api/chat -------------------------------------------------------


def sse_data(text: str) -> list[str]:
    return [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]


@pytest.mark.parametrize("kind", KINDS)
def test_api_chat_streams_openai_chunks(env: ChatEnv, kind: str) -> None:
    env.reset(kind, Script(text="Hello, page.", thinking="hmm"))
    with env.server.client() as client:
        response = client.post(
            "/api/chat",
            json={
                "messages": [{"role": "user", "content": "hi"}],
                "connection": kind,
                "system": "Be kind.",
            },
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    data = sse_data(response.text)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-2]]
    usage = json.loads(data[-2])  # the page always gets usage and its cost last
    assert usage["choices"] == [] and usage["usage"]["cost"]["total"] >= 0
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all("role" not in c["choices"][0]["delta"] for c in chunks[1:])
    assert all(
        c["object"] == "chat.completion.chunk" and "delta" in c["choices"][0] for c in chunks
    )
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert "".join(d.get("content", "") for d in deltas) == "Hello, page."
    if kind != "ln":  # the plain plugin forwards only text
        assert "".join(d.get("reasoning_content", "") for d in deltas) == "hmm"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert "Be kind." in json.dumps(env.upstream(kind).requests[-1].json())


def test_api_chat_uses_the_active_connection_and_its_default_model(env: ChatEnv) -> None:
    env.reset("oa")
    with env.server.client() as client:
        response = client.post("/api/chat", json={"messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200
    assert env.openai.requests[-1].json()["model"] == "model-a"


def test_api_chat_tool_call_fragments(env: ChatEnv) -> None:
    env.reset("an", TOOL_SCRIPT)
    with env.server.client() as client:
        response = client.post(
            "/api/chat",
            json={"model": "an/claude-test-1", "messages": [{"role": "user", "content": "Weather?"}],
                  "tools": [WEATHER_TOOL_OPENAI]},
        )  # fmt: skip
    chunks = [c for c in (json.loads(d) for d in sse_data(response.text)[:-1]) if c["choices"]]
    fragments = [f for c in chunks for f in c["choices"][0]["delta"].get("tool_calls", [])]
    assert fragments[0] == {"index": 0, "id": "call_1", "type": "function",
                            "function": {"name": "get_weather", "arguments": ""}}  # fmt: skip
    assert all(
        set(f) == {"index", "function"} and set(f["function"]) == {"arguments"}
        for f in fragments[1:]
    )
    arguments = "".join(f["function"]["arguments"] for f in fragments)
    assert json.loads(arguments) == {"city": "Paris", "days": 3}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_models_via_httpx_has_openai_shape(env: ChatEnv) -> None:
    response = httpx.get(env.url + "/v1/models", headers=env.server.headers)
    body = response.json()
    assert body["object"] == "list"
    assert body["data"][0] == {
        "id": "model-a",
        "object": "model",
        "created": 0,
        "owned_by": "test-org",
        "type": "model",
        "display_name": "model-a",
        "created_at": "1970-01-01T00:00:00Z",
    }


def test_anthropic_sdk_lists_the_same_models(ant: anthropic.Anthropic) -> None:
    models = list(ant.models.list())
    ids = [m.id for m in models]
    assert ids[:2] == MODELS and "an/claude-test-2" in ids
    named = {m.id: m.display_name for m in models}
    assert named["an/claude-test-2"] == "Claude claude-test-2 (an)"
    assert all(m.type == "model" and m.created_at.year == 1970 for m in models)


def test_the_compat_kinds_offered_come_from_the_registry(env: ChatEnv) -> None:
    """The entry-point plugin's kind is offered next to the built-ins."""
    response = httpx.get(env.url + "/api/providers", headers=env.server.headers)
    assert response.json() == {
        "providers": ["anthropic", "gemini", "lines", "ollama", "openai", "openai-responses"],
        "labels": {},  # display names of subprocess plugins; none run here
    }
