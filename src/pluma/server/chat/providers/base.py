"""The chat provider contract (the seed's ``Provider`` interface, in Python).

| member          | returns                                                         |
|-----------------|-----------------------------------------------------------------|
| ``id``          | short stable string; matches the profile's ``compat``           |
| ``upstream``    | the base URL the provider was built with (diagnostics, health)  |
| ``list_models`` | the models the upstream advertises                              |
| ``stream_chat`` | OpenAI-shaped SSE lines: ``data: {chunk json}`` … ``data: [DONE]``; |
|                 | raising stops the stream and becomes an ``event: error``        |

A provider written only against this contract works on every endpoint: the
server turns its lines into neutral events with the openai-completions chunk
parser. Built-in providers also implement :class:`EventProvider`, whose
``stream_events`` hands the neutral events over directly so nothing is lost
in translation (thinking signatures, cache usage).

Factories are registered by ``compat`` at import time; third-party packages
register through the ``pluma.providers`` entry-point group.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

import httpx

from pluma import llm
from pluma.server.profiles.chat import ConnectionProfile

ToolChoice: TypeAlias = Literal["auto", "none", "required"] | dict[str, str]
"""``auto``, ``none``, ``required`` (any tool), or ``{"name": tool}`` for one tool."""


@dataclass(slots=True)
class ModelInfo:
    id: str
    display: str = ""
    family: str = ""


@dataclass(slots=True)
class ChatRequest:
    """One chat turn in the neutral vocabulary (the edge has already decoded
    whatever the client sent)."""

    model: str
    context: llm.Context
    temperature: float | None = None
    max_tokens: int | None = None
    reasoning: llm.ReasoningLevel | None = None
    tool_choice: ToolChoice | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Provider(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def upstream(self) -> str: ...

    async def list_models(self) -> list[ModelInfo]: ...

    def stream_chat(self, request: ChatRequest) -> AsyncIterator[str]: ...


@runtime_checkable
class EventProvider(Provider, Protocol):
    """A provider that can hand over neutral events directly."""

    def stream_events(self, request: ChatRequest) -> llm.EventStream: ...


ProviderFactory: TypeAlias = Callable[[ConnectionProfile, httpx.AsyncClient], Provider]

_factories: dict[str, ProviderFactory] = {}


def register_provider(compat: str, factory: ProviderFactory) -> None:
    """Make ``compat`` available to connection profiles (re-registering replaces)."""
    if not compat:
        raise ValueError("compat must be a non-empty string")
    _factories[compat] = factory


def provider_kinds() -> list[str]:
    """The compat kinds the page offers, from the registry."""
    return sorted(_factories)


def create_provider(profile: ConnectionProfile, client: httpx.AsyncClient) -> Provider:
    try:
        factory = _factories[profile.compat]
    except KeyError:
        raise ValueError(
            f"connection {profile.name!r} uses compat {profile.compat!r}, which no provider "
            f"handles (registered: {', '.join(provider_kinds()) or 'none'})"
        ) from None
    return factory(profile, client)
