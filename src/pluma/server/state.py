"""ServerState: the long-lived objects one server process shares across
requests. Built once at start-up by :func:`pluma.server.app.create_app` and
reachable from routes as ``request.app.state.pluma`` (or the
:func:`get_state` dependency)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.requests import HTTPConnection


@dataclass
class ServerState:
    settings: Any
    """pluma.server.config.Settings"""
    http: httpx.AsyncClient
    """The shared upstream client (providers get this; pooled)."""
    connections: Any = None
    """pluma.server.profiles.connections.ConnectionManager"""
    secrets: Any = None
    """pluma.server.storage.secrets.SecretStore"""
    image_connections: Any = None
    """pluma.server.images.ImageConnectionManager (image backends)"""
    conversations: Any = None
    """pluma.server.storage.conversations.ConversationStore (the page's history)"""
    problems: list[str] = field(default_factory=list)
    """Configuration problems found at start-up, shown by /api/health."""
    discovery: Any = None
    """pluma.server.profiles.discovery.Discovery (first-run probe of local backends)"""
    extras: dict[str, Any] = field(default_factory=dict)
    """Room for other parts' long-lived objects, keyed by a name they own."""


def get_state(request: HTTPConnection) -> ServerState:
    """FastAPI dependency: ``state: ServerState = Depends(get_state)``."""
    state: ServerState = request.app.state.pluma
    return state
