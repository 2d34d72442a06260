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
    whatever the client sent).

    ``stop`` … ``parallel_tool_calls`` are the neutral controls of
    :class:`llm.StreamOptions`, passed on as they are. ``extra`` holds the
    members of the client's body that Pluma does not model, under their wire
    names in ``protocol`` (the protocol the client spoke, e.g.
    ``openai-completions``): a provider whose upstream speaks that protocol
    forwards them verbatim; any other refuses the request (a 400 naming them)
    rather than dropping them.
    """

    model: str
    context: llm.Context
    temperature: float | None = None
    max_tokens: int | None = None
    reasoning: llm.ReasoningLevel | None = None
    tool_choice: ToolChoice | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    stop: list[str] | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_format: llm.ResponseFormat | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None
    parallel_tool_calls: bool | None = None
    protocol: str = ""
    extra_headers: dict[str, str] = field(default_factory=dict)
    """Request headers of ``protocol`` to forward as ``extra`` is (same protocol only)."""
    extra_optional: dict[str, Any] = field(default_factory=dict)
    """Members of ``protocol`` forwarded like ``extra`` to an upstream of that
    protocol, but harmless to leave out for any other (they only tune what
    that vendor keeps or shows: Responses ``store``, ``reasoning.summary``,
    ``text.verbosity``), so they are not refused there."""


def refuse_extra(request: ChatRequest, upstream: str) -> None:
    """Raise a 400-class error naming ``request.extra``'s members, which an
    upstream speaking ``upstream`` (another protocol than the client's) could
    not take verbatim."""
    if not request.extra and not request.extra_headers:
        return
    from pluma.server.chat.codecs.errors import RequestError

    names = sorted(request.extra) + [f"{name} header" for name in sorted(request.extra_headers)]
    spoken = request.protocol or "the client's protocol"
    one = len(names) == 1
    raise RequestError(
        names[0],
        f"Pluma does not translate {'this' if one else 'these'} {spoken} "
        f"field{'' if one else 's'} ({', '.join(names)}), and this connection's upstream "
        f"speaks {upstream}; remove {'it' if one else 'them'}, or use a connection whose "
        f"upstream speaks {spoken} (fields Pluma does not model pass through only to an "
        "upstream of the client's own protocol)",
    )


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
