"""Connection presets: every provider of the model catalog
(:mod:`pluma.llm.catalog`) as a ready-made connection form — pick "Groq" and
the base URL, the compat and the name of its key variable are filled in.

| catalog protocol         | compat offered       |
|--------------------------|----------------------|
| ``openai-completions``   | ``openai``           |
| ``anthropic-messages``   | ``anthropic``        |
| ``openai-responses``     | ``openai-responses`` |
| ``google-generative-ai`` | ``gemini``           |
| ``ollama``               | ``ollama``           |

A preset whose compat no registered provider handles is not offered (until
that provider is installed). ``key_env`` names the variable the vendor's own
tools read the key from, so the user knows which key to paste; the server
keeps keys in its secret store, never in the environment. A base URL with a
``${VARIABLE}`` placeholder (an account id) must be completed by the user.
"""

from __future__ import annotations

from typing import Any

from pluma.llm import catalog

COMPAT_BY_PROTOCOL: dict[str, str] = {
    "openai-completions": "openai",
    "anthropic-messages": "anthropic",
    "openai-responses": "openai-responses",
    "google-generative-ai": "gemini",
    "ollama": "ollama",
}


def connection_presets(kinds: list[str]) -> list[dict[str, Any]]:
    """The catalog's providers whose compat is among ``kinds``, sorted by name."""
    out: list[dict[str, Any]] = []
    for info in catalog.providers():
        compat = COMPAT_BY_PROTOCOL.get(info.protocol)
        if compat is None or compat not in kinds:
            continue
        out.append(
            {
                "id": info.id,
                "name": info.name,
                "compat": compat,
                "base_url": info.base_url,
                "key_env": info.key_env[0] if info.key_env else None,
                "doc": info.doc,
                "models": info.model_count,
            }
        )
    return out
