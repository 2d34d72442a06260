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

:func:`catalog` is the other direction: every name a client may send, as
``GET /v1/models`` lists them — the active profile's models as bare ids, then
every profile's models as ``<profile-name>/<model-id>``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from pluma import llm
from pluma.server.chat.providers.base import ChatRequest, ModelInfo, Provider
from pluma.server.chat.providers.bridge import events_for
from pluma.server.errors import HTTPError, UpstreamError
from pluma.server.profiles.chat import ConnectionProfile

if TYPE_CHECKING:
    from pluma.server.profiles.connections import ConnectionManager

log = logging.getLogger("pluma.server.models")

CATALOG_TIMEOUT = 5.0
"""Seconds each upstream gets to list its models for :func:`catalog`."""


@dataclass(slots=True)
class Target:
    provider: Provider
    profile: ConnectionProfile
    model: str


def resolve_target(
    connections: ConnectionManager | None,
    http: httpx.AsyncClient,
    model: str,
    connection: str | None = None,
) -> Target:
    """Raises the connection manager's ``NoConnection``/``ProfileNotFound`` or
    :class:`llm.ConfigurationError` (no model anywhere)."""
    from pluma.server.profiles.connections import NoConnection

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
    # The profile in hand is resolved directly: asking ``provider_for(id)``
    # would look it up (and copy it) a second time.
    provider = connections.make_provider(connections.resolve(profile), http)
    return Target(provider=provider, profile=profile, model=model_id)


def open_chat(
    connections: ConnectionManager | None,
    http: httpx.AsyncClient,
    request: ChatRequest,
    connection: str | None = None,
) -> llm.EventStream:
    """Route ``request`` to its connection and start its event stream.

    The one path every chat endpoint takes from a decoded request to neutral
    events. ``request.model`` is rewritten from what the client addressed
    (``<profile>/<model>``, a bare id, or empty for the default) to the
    upstream's id, so callers that echo the client's name read it first.
    Raises as :func:`resolve_target` does.
    """
    target = resolve_target(connections, http, request.model, connection)
    request.model = target.model
    return events_for(target.provider, request)


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One name a client may send as ``model``: ``id`` (a bare model id, or
    ``<profile-name>/<model-id>``), the model as its upstream describes it,
    and the profile it goes to. Routes encode these in their wire format."""

    id: str
    model: ModelInfo
    profile: ConnectionProfile


async def catalog(
    connections: ConnectionManager | None,
    http: httpx.AsyncClient,
    *,
    seconds: float = CATALOG_TIMEOUT,
) -> list[CatalogEntry]:
    """Every model a client may name.

    | entry                      | from                                    |
    |----------------------------|-----------------------------------------|
    | ``<model-id>``             | the active profile (or the fallback)    |
    | ``<profile-name>/<model-id>`` | every profile, the active one included |

    All upstreams are asked at once, each for at most ``seconds``.
    The active profile failing raises its error (401 without a key, else an
    upstream error naming the upstream): a client must learn that its default
    upstream is down. Another profile failing only leaves its models out,
    with a warning in the log, so one stopped local backend does not hide the
    others.
    """
    from pluma.server.profiles.connections import NoConnection

    if connections is None:
        raise NoConnection()
    active = connections.active()
    if active is None:
        raise NoConnection()
    profiles: list[ConnectionProfile] = connections.list()
    if all(p.id != active.id for p in profiles):
        profiles.insert(0, active)  # the --base-url fallback
    answers = await asyncio.gather(*(_models_of(connections, http, p, seconds) for p in profiles))
    active_models = next(a for p, a in zip(profiles, answers, strict=True) if p.id == active.id)
    if isinstance(active_models, Exception):
        raise active_models
    entries = [CatalogEntry(m.id, m, active) for m in active_models]
    for profile, answer in zip(profiles, answers, strict=True):
        if isinstance(answer, Exception):
            log.warning("models of connection %r left out of /v1/models: %s", profile.name, answer)
            continue
        entries += [CatalogEntry(f"{profile.name}/{m.id}", m, profile) for m in answer]
    return entries


async def _models_of(
    connections: ConnectionManager,
    http: httpx.AsyncClient,
    profile: ConnectionProfile,
    seconds: float,
) -> list[ModelInfo] | Exception:
    """The profile's models, or the failure (keys masked) as an error."""
    from pluma.server.errors import as_error
    from pluma.server.profiles.upstream import check_upstream

    try:
        resolved = connections.resolve(profile)
        provider = connections.make_provider(resolved, http)
    except Exception as exc:
        return as_error(exc)
    verdict = await check_upstream(provider, key=resolved.api_key, timeout=seconds)
    if verdict.ok:
        return verdict.models
    message = f"could not list the models of connection {profile.name!r}: {verdict.message}"
    if verdict.verdict == "no_key":
        return HTTPError(401, message, code="no_api_key")
    error = UpstreamError(message)
    error.code = (
        verdict.verdict if verdict.verdict.startswith("upstream") else f"upstream_{verdict.verdict}"
    )
    return error
