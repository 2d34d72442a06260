"""The built-in providers in-process, against local upstreams: model lists in
each vendor's shape, the seed contract's lines (``stream_chat``) from the
adapter-backed providers, keys sent in each protocol's header and never shown,
and the bridge's reading of a plain provider's lines."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from tests.support.upstreams import AnthropicUpstream, OpenAIUpstream, Script, ToolUse

from pluma import llm
from pluma.server.chat.providers import (
    AnthropicProvider,
    ChatRequest,
    EventProvider,
    ModelInfo,
    OpenAIProvider,
    create_provider,
    events_for,
    provider_kinds,
)
from pluma.server.chat.providers.adapted import NoAPIKeyError
from pluma.server.chat.providers.bridge import payloads
from pluma.server.profiles import ConnectionProfile


@pytest.fixture(scope="module")
def oa() -> Iterator[OpenAIUpstream]:
    with OpenAIUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def an() -> Iterator[AnthropicUpstream]:
    with AnthropicUpstream() as upstream:
        yield upstream


def profile(compat: str, base_url: str, key: str | None = None) -> ConnectionProfile:
    return ConnectionProfile(id="p1", name="work", compat=compat, base_url=base_url, api_key=key)


def request(model: str = "m", **kwargs: object) -> ChatRequest:
    return ChatRequest(model=model, context=llm.Context(messages=[llm.UserMessage("hi")]), **kwargs)  # type: ignore[arg-type]


def test_registry_has_the_built_ins() -> None:
    assert {"openai", "anthropic"} <= set(provider_kinds())
    with pytest.raises(ValueError, match="compat 'nosuch'"):
        create_provider(profile("nosuch", "http://127.0.0.1:1"), httpx.AsyncClient())


async def test_model_lists(oa: OpenAIUpstream, an: AnthropicUpstream) -> None:
    oa.reset()
    an.reset()
    async with httpx.AsyncClient() as http:
        openai_models = await OpenAIProvider(
            profile("openai", oa.base_url, "sk-oa"), http
        ).list_models()
        anthropic_models = await AnthropicProvider(
            profile("anthropic", an.base_url, "sk-an"), http
        ).list_models()
    assert openai_models[0] == ModelInfo(id="model-a", display="model-a", family="test-org")
    assert anthropic_models[0] == ModelInfo(
        id="claude-test-1", display="Claude claude-test-1", family="claude"
    )
    assert oa.requests[-1].headers["authorization"] == "Bearer sk-oa"
    assert an.requests[-1].headers["x-api-key"] == "sk-an"
    assert an.requests[-1].headers["anthropic-version"] == "2023-06-01"


@pytest.mark.parametrize("compat", ["openai", "anthropic"])
async def test_an_answer_that_is_not_a_model_list_is_named(compat: str) -> None:
    from tests.support.scripted_server import Reply, ScriptedServer

    with ScriptedServer(lambda r: Reply.json({"models": ["x"]})) as odd:
        async with httpx.AsyncClient() as http:
            provider = create_provider(profile(compat, odd.url + "/v1", "sk-x"), http)
            with pytest.raises(llm.ProviderError, match="did not answer a model list"):
                await provider.list_models()


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_built_ins_speak_the_seed_contract_too(
    oa: OpenAIUpstream, an: AnthropicUpstream, kind: str
) -> None:
    upstream = oa if kind == "openai" else an
    upstream.reset(Script(text="Hi there.", tools=[ToolUse("c1", "f", {"x": 1})]))
    async with httpx.AsyncClient() as http:
        provider = create_provider(profile(kind, upstream.base_url), http)
        assert isinstance(provider, EventProvider)
        lines = [line async for line in provider.stream_chat(request())]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0]["role"] == "assistant"
    assert "".join(d.get("content", "") for d in deltas) == "Hi there."
    arguments = "".join(t["function"]["arguments"] for d in deltas for t in d.get("tool_calls", []))
    assert json.loads(arguments) == {"x": 1}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_seed_contract_lines_raise_on_upstream_failure(oa: OpenAIUpstream) -> None:
    oa.reset(Script(text="Partial answer.", fail_after=1, error_message="went away"))
    got: list[str] = []
    async with httpx.AsyncClient() as http:
        provider = OpenAIProvider(profile("openai", oa.base_url), http)
        with pytest.raises(llm.ProviderError, match="went away"):
            async for line in provider.stream_chat(request()):
                got.append(line)
    assert any('"content":"Partia"' in line for line in got)


async def test_remote_profile_without_key_fails_before_sending() -> None:
    async with httpx.AsyncClient() as http:
        provider = OpenAIProvider(profile("openai", "https://api.example.invalid/v1"), http)
        with pytest.raises(NoAPIKeyError, match="pluma keys set work"):
            provider.stream_events(request())
        with pytest.raises(NoAPIKeyError):
            await provider.list_models()


def test_repr_never_shows_the_key() -> None:
    provider = OpenAIProvider(
        profile("openai", "https://x.example/v1", "sk-very-secret"), httpx.AsyncClient()
    )
    assert "sk-very-secret" not in repr(provider)
    assert "sk-very-secret" not in repr(provider.profile)


def test_bridge_reads_lines_leniently() -> None:
    item = (
        ': keep-alive\nevent: message\ndata: {"a": 1}\n\ndata:{"b": 2}\n{"c": 3}\n[DONE]\nid: 7\n'
    )
    assert list(payloads(item)) == ['{"a": 1}', '{"b": 2}', '{"c": 3}', "[DONE]"]


class PlainProvider:
    """Seed contract only; fails after two lines."""

    id = "plain"
    upstream = "http://127.0.0.1:9"
    closed = False

    async def list_models(self) -> list[ModelInfo]:
        return []

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[str]:
        try:
            yield 'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}'
            yield 'data: {"choices":[{"index":0,"delta":{"content":"lo"}}]}\n\n'
            raise RuntimeError("backend exploded")
        finally:
            PlainProvider.closed = True


async def test_bridge_turns_a_plain_provider_failure_into_one_error_event() -> None:
    events = [e async for e in events_for(PlainProvider(), request())]
    assert [e.type for e in events][:3] == ["start", "text_start", "text_delta"]
    assert [e.type for e in events].count("error") == 1 and events[-1].type == "error"
    message = events[-1].message
    assert message is not None
    assert message.text == "Hello"
    assert message.error_message is not None and "backend exploded" in message.error_message
    assert PlainProvider.closed


class QuotingProvider(PlainProvider):
    """Fails quoting the key, as upstreams do when they reject one."""

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[str]:
        yield 'data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}'
        raise RuntimeError("Incorrect API key provided: sk-plain-0123456789abcdef")


async def test_bridge_masks_the_connection_secrets_a_plain_provider_quotes() -> None:
    events = [
        e
        async for e in events_for(
            QuotingProvider(), request(), secrets=("sk-plain-0123456789abcdef",)
        )
    ]
    message = events[-1].message
    assert events[-1].type == "error" and message is not None
    assert message.error_message is not None
    assert "sk-plain-0123" not in message.error_message
    assert "Incorrect API key provided: sk-…***" in message.error_message
