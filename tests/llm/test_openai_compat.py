"""The vendor-quirk table: detection from base URL / provider / port, and
overrides through ``Model.compat``."""

from __future__ import annotations

from typing import Any

import pytest

from pluma import llm
from pluma.llm.protocols.openai_completions import detect_compat


def model(base_url: str, provider: str = "custom", **kwargs: Any) -> llm.Model:
    return llm.Model(
        id=kwargs.pop("id", "m"),
        provider=provider,
        protocol="openai-completions",
        base_url=base_url,
        **kwargs,
    )


@pytest.mark.parametrize(
    ("base_url", "provider", "vendor"),
    [
        ("https://api.openai.com/v1", "custom", "openai"),
        ("https://myco.openai.azure.com/openai/v1", "custom", "azure"),
        ("https://api.deepseek.com/v1", "custom", "deepseek"),
        ("https://openrouter.ai/api/v1", "custom", "openrouter"),
        ("https://api.groq.com/openai/v1", "custom", "groq"),
        ("https://api.mistral.ai/v1", "custom", "mistral"),
        ("https://api.x.ai/v1", "custom", "xai"),
        ("https://api.cerebras.ai/v1", "custom", "cerebras"),
        ("https://api.together.xyz/v1", "custom", "together"),
        ("http://localhost:11434/v1", "custom", "ollama"),
        ("http://127.0.0.1:1234/v1", "custom", "lmstudio"),
        ("http://127.0.0.1:8080/v1", "custom", "llamacpp"),
        ("http://127.0.0.1:8000/v1", "custom", "vllm"),
        ("http://gpu-box:9999/v1", "ollama", "ollama"),
        ("http://gpu-box:9999/v1", "custom", "openai-compatible"),
        ("https://evil-api.openai.com.example/v1", "custom", "openai-compatible"),
    ],
)
def test_detection(base_url: str, provider: str, vendor: str) -> None:
    assert detect_compat(model(base_url, provider)).vendor == vendor


def test_openai_reasoning_model_rules() -> None:
    plain = detect_compat(model("https://api.openai.com/v1"))
    assert plain.supports_developer_role
    assert plain.max_tokens_field == "max_completion_tokens"
    assert plain.supports_temperature
    reasoning = detect_compat(model("https://api.openai.com/v1", reasoning=True))
    assert not reasoning.supports_temperature


def test_options_base_url_wins() -> None:
    m = model("https://api.openai.com/v1")
    assert detect_compat(m, "https://api.mistral.ai/v1").vendor == "mistral"


def test_overrides_apply() -> None:
    m = model(
        "http://127.0.0.1:11434/v1",
        compat={
            "max_tokens_field": "max_completion_tokens",
            "supports_usage_in_streaming": False,
            "reasoning_field": "reasoning",
            "reasoning_effort_levels": ["low", "high"],
        },
    )
    compat = detect_compat(m)
    assert compat.vendor == "ollama"
    assert compat.max_tokens_field == "max_completion_tokens"
    assert not compat.supports_usage_in_streaming
    assert compat.reasoning_field == "reasoning"
    assert compat.reasoning_effort_levels == ("low", "high")


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"nope": True}, "unknown openai-completions compat key(s) 'nope'"),
        ({"supports_developer_role": "yes"}, "must be a bool"),
        ({"max_tokens_field": "max_new_tokens"}, "'max_tokens' or 'max_completion_tokens'"),
        ({"reasoning_param": "think"}, "must be 'reasoning_effort'"),
        ({"reasoning_effort_levels": "high"}, "list of strings"),
    ],
)
def test_bad_overrides_are_explained(overrides: dict[str, Any], needle: str) -> None:
    with pytest.raises(llm.ConfigurationError) as caught:
        detect_compat(model("http://x/v1", compat=overrides))
    assert needle in str(caught.value)
