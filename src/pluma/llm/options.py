"""Per-call options shared by every protocol, and the extension point for
protocol-specific ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pluma.llm.types import ReasoningLevel, ResponseFormat, Tool

if TYPE_CHECKING:
    from pluma.llm.transport.base import Transport


@runtime_checkable
class ProtocolOptions(Protocol):
    """Settings whose meaning belongs to one protocol.

    :class:`pluma.llm.Client` refuses options whose ``protocol`` differs from
    the target model's, then calls ``validate(tools)`` (which raises
    ``ValueError`` with a readable message) before the adapter runs.
    """

    @property
    def protocol(self) -> str: ...

    def validate(self, tools: Sequence[Tool]) -> None: ...


@dataclass(slots=True, frozen=True)
class Timeouts:
    """Seconds to wait; None waits forever.

    There is deliberately no cap on the total duration: a healthy stream that
    keeps sending may run as long as it likes. ``first_byte`` covers sending the
    request until the first byte of the response body (reasoning models may
    think for minutes); ``idle`` is the longest silence between two reads after
    that. Keep-alive comments count as activity. ``connect`` covers waiting for
    a pooled connection and opening a new one.
    """

    connect: float | None = 10.0
    first_byte: float | None = 600.0
    idle: float | None = 120.0


@dataclass(slots=True)
class StreamOptions:
    """How to make one call.

    ``api_key`` falls back to the provider's environment variables (see
    :mod:`pluma.llm.keys`); ``base_url`` and ``headers`` override the model's.

    The sampling and output controls (``stop`` … ``parallel_tool_calls``) are
    mapped by every adapter whose protocol has them; an adapter whose protocol
    has no equivalent refuses the call with a :class:`ConfigurationError`
    naming the field, before any byte leaves. None leaves the upstream default.
    ``max_retries`` applies only before the first byte of the response.
    ``transport`` sends the bytes instead of the default (aiohttp, one pooled
    session per event loop): ``AiohttpTransport(session)`` for a proxy or client
    certificates, ``MockTransport(handler)`` for tests without a socket (see
    :mod:`pluma.llm.transport`).
    The key and the headers (which may carry credentials) are left out of
    ``repr`` so that logging the options never logs a secret.
    """

    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    temperature: float | None = None
    max_tokens: int | None = None
    reasoning: ReasoningLevel | None = None
    stop: list[str] | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_format: ResponseFormat | None = None
    user: str | None = None
    """An id for the end user, for the upstream's abuse monitoring."""
    metadata: dict[str, str] | None = None
    parallel_tool_calls: bool | None = None
    protocol_options: ProtocolOptions | None = None
    max_retries: int = 2
    max_retry_delay: float = 60.0
    timeouts: Timeouts = field(default_factory=Timeouts)
    transport: Transport | None = None
