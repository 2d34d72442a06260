"""Connection profiles: how to reach one chat upstream.

A profile is what ``connections.json`` stores (never its key). The connection
manager resolves the key from the secret store into ``api_key`` just before
building a provider; providers use it as a plain string and never touch the
keyring themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ProfileTimeouts:
    """Seconds; None waits forever (see :class:`pluma.llm.Timeouts`)."""

    connect: float | None = 10.0
    first_byte: float | None = 600.0
    idle: float | None = 120.0


@dataclass(slots=True)
class ConnectionProfile:
    id: str
    name: str
    compat: str
    base_url: str
    default_model: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    timeouts: ProfileTimeouts = field(default_factory=ProfileTimeouts)
    generation: dict[str, Any] = field(default_factory=dict)
    """Default generation settings for new conversations on this connection
    (see :mod:`pluma.server.generation`)."""
    api_key: str | None = field(default=None, repr=False)
    """Resolved from the secret store at use; never persisted, never logged."""
