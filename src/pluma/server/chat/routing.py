"""Which provider and model a client's ``model`` (and optional connection)
names.

| request                                   | provider                   | model id                |
|-------------------------------------------|----------------------------|-------------------------|
| ``connection`` given (id or name)         | that profile               | ``model`` or its default|
| ``model = "<profile-name>/<rest>"``, a profile has that name | that profile | ``rest``           |
| ``model = "<prefix>/<rest>"``, no profile named ``prefix``, the active upstream lists the whole string | the active profile | ``model`` as given |
| ``model = "<prefix>/<rest>"`` otherwise   | refused (404 ``model_not_found``, naming the connections) | |
| any other ``model``                       | the active profile         | ``model`` as given      |
| no ``model``                              | the profile (as above)     | its default model; with none, the upstream's only model; with several, refused (400 ``model_required``, listing them) |

The profile-name prefix is tried first, and only a name that exists counts,
so model ids that themselves contain ``/`` (``meta-llama/Llama-3``) reach an
upstream that lists them, while a mistyped connection name
(``Nope/gpt-4o-mini``) is refused instead of silently going to the active
connection. Routing that needs an upstream's list reads it through
:class:`ModelLists`, which keeps each answer for :data:`MODEL_LIST_TTL`
seconds, so a chat request does not cost a model-list call each time.

:func:`catalog` is the other direction: every name a client may send, as
``GET /v1/models`` lists them — the active profile's models as bare ids, then
every profile's models as ``<profile-name>/<model-id>``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from pluma import llm
from pluma.llm.redact import secrets_of
from pluma.server.chat.providers.base import ChatRequest, ModelInfo, Provider
from pluma.server.chat.providers.bridge import events_for
from pluma.server.errors import HTTPError, PlumaError, UpstreamError
from pluma.server.profiles.chat import ConnectionProfile

if TYPE_CHECKING:
    from pluma.server.profiles.connections import ConnectionManager

log = logging.getLogger("pluma.server.models")

CATALOG_TIMEOUT = 5.0
"""Seconds each upstream gets to list its models for :func:`catalog`."""


MODEL_LIST_TTL = 30.0
"""Seconds an upstream's model list is reused for routing decisions."""


class ModelRequired(llm.ConfigurationError, PlumaError):
    """No model named, no default on the connection, and the upstream does
    not offer exactly one (a 400 ``model_required``; the page then asks)."""

    status = 400
    kind = "invalid_request_error"
    code = "model_required"

    def __init__(self, profile: ConnectionProfile, models: list[str], problem: str = "") -> None:
        self.profile_name = profile.name
        self.models = models
        if models:
            shown = ", ".join(models[:20]) + (", …" if len(models) > 20 else "")
            offer = f"its upstream offers {len(models)} models ({shown})"
        else:
            offer = f"its upstream lists no models{f' ({problem})' if problem else ''}"
        super().__init__(
            f"no model given, connection {profile.name!r} has no default model and {offer}: "
            "name a model in the request (the page's Model menu), or set the connection's "
            "default model"
        )


class UnknownModelPrefix(llm.ConfigurationError, PlumaError):
    """``<prefix>/<model>`` where no connection is named ``prefix`` and the
    active upstream does not list the whole string (a 404 ``model_not_found``)."""

    status = 404
    kind = "not_found_error"
    code = "model_not_found"

    def __init__(self, model: str, prefix: str, active: str, names: list[str]) -> None:
        self.model = model
        super().__init__(
            f"no connection is named {prefix!r} (connections: {', '.join(names) or 'none'}) "
            f"and connection {active!r} does not list a model {model!r}: address a model as "
            "<connection>/<model id>, or use an id from GET /v1/models"
        )


@dataclass(slots=True)
class Target:
    provider: Provider
    profile: ConnectionProfile
    model: str


@dataclass(frozen=True, slots=True)
class Routed:
    """Where the current request was routed, for error messages made after
    the stream failed (far from the routing): the connection to name in
    ``pluma keys set NAME`` and the URL chat was sent to."""

    connection: str
    compat: str
    upstream: str
    chat_url: str


routed: ContextVar[Routed | None] = ContextVar("pluma_routed", default=None)
"""Set by :func:`resolve_target` for the rest of the request's task (and the
tasks it starts), read by :func:`pluma.server.errors.as_error`."""


class ModelLists:
    """Recent model lists, per profile, upstream and key (failures are not kept)."""

    def __init__(self, ttl: float = MODEL_LIST_TTL) -> None:
        self.ttl = ttl
        self._lists: dict[tuple[str, ...], tuple[float, list[str]]] = {}

    async def ids(self, provider: Provider, profile: ConnectionProfile) -> list[str]:
        """The model ids ``provider`` lists; raises what ``list_models`` raises."""
        key = profile.api_key or ""
        cache_key = (
            profile.id,
            provider.id,
            provider.upstream,
            hashlib.sha256(key.encode()).hexdigest()[:16],
        )
        hit = self._lists.get(cache_key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        async with asyncio.timeout(CATALOG_TIMEOUT):
            ids = [m.id for m in await provider.list_models()]
        if len(self._lists) > 64:
            self._lists.clear()
        self._lists[cache_key] = (time.monotonic(), ids)
        return ids


recent_models = ModelLists()
"""The process's model lists for routing (the server and ``pluma chat``)."""


async def resolve_target(
    connections: ConnectionManager | None,
    http: httpx.AsyncClient,
    model: str,
    connection: str | None = None,
    *,
    lists: ModelLists | None = None,
) -> Target:
    """Raises the connection manager's ``NoConnection``/``ProfileNotFound``,
    :class:`UnknownModelPrefix` or :class:`ModelRequired`."""
    from pluma.server.profiles.connections import NoConnection

    if connections is None:
        raise NoConnection()
    await connections.refresh()  # a database store: read without blocking the loop
    lists = lists or recent_models
    profile: ConnectionProfile | None = None
    model_id = model
    unmatched_prefix = ""
    if connection:
        profile = connections.lookup(connection)
    elif "/" in model:
        prefix, rest = model.split("/", 1)
        named = connections.get_by_name(prefix)
        if named is not None and rest:
            profile, model_id = named, rest
        else:
            unmatched_prefix = prefix
    if profile is None:
        profile = connections.active()
        if profile is None:
            raise NoConnection()
    # The profile in hand is resolved directly: asking ``provider_for(id)``
    # would look it up (and copy it) a second time.
    resolved = connections.resolve(profile)
    provider = connections.make_provider(resolved, http)
    if unmatched_prefix and model_id != profile.default_model:
        offered = await _listed(lists, provider, resolved)
        if offered is not None and model_id not in offered:
            names = [p.name for p in connections.list()] or [profile.name]
            raise UnknownModelPrefix(model_id, unmatched_prefix, profile.name, names)
    upstream = provider.upstream
    routed.set(
        Routed(
            profile.name, profile.compat, upstream, upstream + getattr(provider, "chat_path", "")
        )
    )
    model_id = model_id or profile.default_model
    if not model_id:
        model_id = await _only_model(lists, provider, resolved)
    return Target(provider=provider, profile=profile, model=model_id)


async def _listed(
    lists: ModelLists, provider: Provider, profile: ConnectionProfile
) -> list[str] | None:
    """The upstream's ids, or None when it cannot list them (the upstream
    then judges the name itself, and its answer reaches the client)."""
    try:
        return await lists.ids(provider, profile)
    except Exception as exc:
        log.info("could not list the models of connection %r: %s", profile.name, exc)
        return None


async def _only_model(lists: ModelLists, provider: Provider, profile: ConnectionProfile) -> str:
    """The model to use when nothing names one: the upstream's only model."""
    from pluma.server.chat.providers.adapted import NoAPIKeyError

    try:
        offered = await lists.ids(provider, profile)
    except NoAPIKeyError:
        raise
    except llm.ProviderError as exc:
        if exc.status is None or exc.status in (401, 403):
            raise  # unreachable, or the key: the problem to report, not the model
        raise ModelRequired(profile, [], str(exc)) from None
    except Exception as exc:
        raise ModelRequired(profile, [], f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
    if len(offered) == 1:
        return offered[0]
    raise ModelRequired(profile, offered)


async def open_chat(
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
    target = await resolve_target(connections, http, request.model, connection)
    request.model = target.model
    profile = target.profile
    return events_for(target.provider, request, secrets_of(profile.api_key, profile.headers))


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
    The active profile failing raises its error (401 without a key, the
    upstream's 401 / 403 for a rejected key, else 502, message naming the
    upstream): a client must learn that its default upstream is down. Another
    profile failing only leaves its models out, with a warning in the log, so
    one stopped local backend does not hide the others.
    """
    from pluma.server.profiles.connections import NoConnection

    if connections is None:
        raise NoConnection()
    await connections.refresh()  # a database store: read without blocking the loop
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
    from pluma.server.profiles.upstream import check_upstream, listing_failure

    try:
        resolved = connections.resolve(profile)
        provider = connections.make_provider(resolved, http)
    except Exception as exc:
        return as_error(exc)
    verdict = await check_upstream(provider, key=resolved.api_key, timeout=seconds)
    if verdict.ok:
        return verdict.models
    status, message = listing_failure(profile.name, verdict)
    if verdict.verdict == "no_key":
        return HTTPError(401, message, code="no_api_key")
    if status in (401, 403):
        rejected = HTTPError(status, message, code="upstream_key_rejected")
        rejected.final = True
        return rejected
    error = UpstreamError(message)
    error.code = (
        verdict.verdict if verdict.verdict.startswith("upstream") else f"upstream_{verdict.verdict}"
    )
    return error
