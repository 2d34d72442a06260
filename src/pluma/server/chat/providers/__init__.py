"""Chat providers: the contract, its registry, and the built-ins.

Importing this package registers the built-ins: ``openai`` (any Chat
Completions server), ``anthropic``, and the native ``openai-responses``,
``gemini`` and ``ollama``.
Third-party packages register through the ``pluma.providers`` entry-point
group (see :data:`ENTRY_POINT_GROUP`).
"""

from __future__ import annotations

from pluma.server.chat.providers.anthropic import AnthropicProvider
from pluma.server.chat.providers.base import (
    ChatRequest,
    EventProvider,
    ModelInfo,
    Provider,
    ProviderFactory,
    create_provider,
    provider_kinds,
    register_provider,
)
from pluma.server.chat.providers.bridge import events_for
from pluma.server.chat.providers.gemini import GeminiProvider
from pluma.server.chat.providers.ollama import OllamaProvider
from pluma.server.chat.providers.openai import OpenAIProvider
from pluma.server.chat.providers.responses import OpenAIResponsesProvider

ENTRY_POINT_GROUP = "pluma.providers"
"""Third-party providers: an entry point in this group is named for the
compat and names the provider factory as ``module:attribute`` (the rule of
:mod:`pluma.extensions`); the connection manager loads them at start
(:func:`pluma.server.profiles.connections.load_providers`). Subprocess
plugins register here too (:mod:`pluma.server.plugins`)."""

register_provider("openai", OpenAIProvider)
register_provider("anthropic", AnthropicProvider)
register_provider("openai-responses", OpenAIResponsesProvider)
register_provider("gemini", GeminiProvider)
register_provider("ollama", OllamaProvider)

__all__ = [
    "ENTRY_POINT_GROUP",
    "AnthropicProvider",
    "ChatRequest",
    "EventProvider",
    "GeminiProvider",
    "ModelInfo",
    "OllamaProvider",
    "OpenAIProvider",
    "OpenAIResponsesProvider",
    "Provider",
    "ProviderFactory",
    "create_provider",
    "events_for",
    "provider_kinds",
    "register_provider",
]
