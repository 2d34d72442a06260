"""Built-in protocol adapters, one package per wire format."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pluma.llm.registry import AdapterRegistry


def register_native(registry: AdapterRegistry) -> None:
    """Add the ``openai-responses``, ``google-generative-ai`` and ``ollama``
    adapters to ``registry`` (imported only now, when a registry is built)."""
    from pluma.llm.protocols.google_generative_ai import GoogleGenerativeAIAdapter
    from pluma.llm.protocols.ollama import OllamaAdapter
    from pluma.llm.protocols.openai_responses import OpenAIResponsesAdapter

    for adapter in (OpenAIResponsesAdapter(), GoogleGenerativeAIAdapter(), OllamaAdapter()):
        registry.register(adapter)
