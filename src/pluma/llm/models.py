"""A small catalog of well-known models, so ``get_model("openai", "gpt-4o-mini")``
gives a ready :class:`Model` with its endpoint, limits and prices.

Unknown ids are still usable: build :class:`Model` directly. Prices are US
dollars per million tokens as published by each vendor.

Like the official SDKs, catalog models honour an endpoint override from the
environment, so the same code can run against a proxy or a local test server:

| provider   | variable             | form                                          |
|------------|----------------------|-----------------------------------------------|
| openai     | ``OPENAI_BASE_URL``    | as the ``openai`` SDK: ``http://host:port/v1``  |
| anthropic  | ``ANTHROPIC_BASE_URL`` | as the ``anthropic`` SDK: ``http://host:port``  |
|            |                      | (``/v1`` is added when missing)               |
"""

from __future__ import annotations

import copy
import os

from pluma.llm.errors import ConfigurationError
from pluma.llm.types import Model, ModelCost

OPENAI_BASE = "https://api.openai.com/v1"
ANTHROPIC_BASE = "https://api.anthropic.com/v1"


def _openai(
    id: str,
    cost: ModelCost,
    *,
    reasoning: bool = False,
    ctx: int = 128_000,
    max_tokens: int = 16_384,
) -> Model:
    return Model(
        id=id,
        name=id,
        provider="openai",
        protocol="openai-completions",
        base_url=OPENAI_BASE,
        reasoning=reasoning,
        input=["text", "image"],
        context_window=ctx,
        max_tokens=max_tokens,
        cost=cost,
    )


def _anthropic(
    id: str, cost: ModelCost, *, reasoning: bool = True, max_tokens: int = 64_000
) -> Model:
    return Model(
        id=id,
        name=id,
        provider="anthropic",
        protocol="anthropic-messages",
        base_url=ANTHROPIC_BASE,
        reasoning=reasoning,
        input=["text", "image"],
        context_window=200_000,
        max_tokens=max_tokens,
        cost=cost,
    )


CATALOG: dict[str, dict[str, Model]] = {
    "openai": {
        m.id: m
        for m in [
            _openai("gpt-4o", ModelCost(2.5, 10.0, 1.25, 0.0)),
            _openai("gpt-4o-mini", ModelCost(0.15, 0.6, 0.075, 0.0)),
            _openai("gpt-4.1", ModelCost(2.0, 8.0, 0.5, 0.0), ctx=1_047_576, max_tokens=32_768),
            _openai(
                "gpt-4.1-mini", ModelCost(0.4, 1.6, 0.1, 0.0), ctx=1_047_576, max_tokens=32_768
            ),
            _openai(
                "o3-mini",
                ModelCost(1.1, 4.4, 0.55, 0.0),
                reasoning=True,
                ctx=200_000,
                max_tokens=100_000,
            ),
            _openai(
                "o4-mini",
                ModelCost(1.1, 4.4, 0.275, 0.0),
                reasoning=True,
                ctx=200_000,
                max_tokens=100_000,
            ),
        ]
    },
    "anthropic": {
        m.id: m
        for m in [
            _anthropic(
                "claude-3-5-haiku-latest",
                ModelCost(0.8, 4.0, 0.08, 1.0),
                reasoning=False,
                max_tokens=8192,
            ),
            _anthropic("claude-sonnet-4-5", ModelCost(3.0, 15.0, 0.3, 3.75)),
            _anthropic("claude-opus-4-1", ModelCost(15.0, 75.0, 1.5, 18.75), max_tokens=32_000),
            _anthropic("claude-haiku-4-5", ModelCost(1.0, 5.0, 0.1, 1.25)),
        ]
    },
}


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


def _copy(provider: str, model: Model) -> Model:
    # Deep: headers, input, cost and compat are mutable and must not be shared
    # with the catalog (a caller adding a header would change it for everyone).
    out = copy.deepcopy(model)
    base_url = _env_base_url(provider)
    if base_url is not None:
        out.base_url = base_url
    return out


def get_model(provider: str, model_id: str) -> Model:
    """A copy of a catalog model (safe to modify), pointing at the endpoint
    override of the environment if one is set (see the module docstring)."""
    try:
        model = CATALOG[provider][model_id]
    except KeyError:
        known = ", ".join(f"{p}/{m}" for p, ms in CATALOG.items() for m in ms)
        raise ConfigurationError(
            f"unknown model {provider}/{model_id}; known: {known}. "
            "For any other model build llm.Model(id=..., provider=..., protocol=..., base_url=...)"
        ) from None
    return _copy(provider, model)


def list_models(provider: str | None = None) -> list[Model]:
    """Copies of the catalog's models, all or one provider's (with the same
    environment override as :func:`get_model`)."""
    return [
        _copy(p, m)
        for p, ms in CATALOG.items()
        if provider is None or p == provider
        for m in ms.values()
    ]
