"""Which provider and model a client's ``model`` (and optional connection)
names.

| request                                   | provider                   | model id                |
|-------------------------------------------|----------------------------|-------------------------|
| ``connection`` given (id or name)         | that profile               | ``model`` or its default|
| ``model = "<profile-name>/<rest>"``, a profile has that name | that profile | ``rest``           |
| any other ``model`` (``meta-llama/Llama-3`` included) | the active profile | ``model`` as given      |
| no ``model``                              | the active profile         | its default model       |

The profile-name prefix is tried first, and only a name that exists counts,
so model ids that themselves contain ``/`` pass through untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from pluma import llm
from pluma.server.profiles import ConnectionProfile
from pluma.server.providers.base import Provider


@dataclass(slots=True)
class Target:
    provider: Provider
    profile: ConnectionProfile
    model: str


def resolve_target(
    connections: Any, http: httpx.AsyncClient, model: str, connection: str | None = None
) -> Target:
    """Raises the connection manager's ``NoConnection``/``ProfileNotFound`` or
    :class:`llm.ConfigurationError` (no model anywhere)."""
    from pluma.server.connections import NoConnection

    if connections is None:
        raise NoConnection()
    profile: ConnectionProfile | None = None
    model_id = model
    if connection:
        profile = connections.lookup(connection)
    elif "/" in model:
        prefix, rest = model.split("/", 1)
        named = connections.get_by_name(prefix)
        if named is not None and rest:
            profile, model_id = named, rest
    if profile is None:
        profile = connections.active()
        if profile is None:
            raise NoConnection()
    model_id = model_id or profile.default_model
    if not model_id:
        raise llm.ConfigurationError(
            f"no model given and connection {profile.name} has no default model — "
            "name a model in the request or set the connection's default model"
        )
    provider = connections.provider_for(profile.id, http)
    return Target(provider=provider, profile=profile, model=model_id)
