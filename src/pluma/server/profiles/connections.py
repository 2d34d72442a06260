"""ConnectionManager: the chat connection profiles, the active one, and the
boot-time fallback.

``<datadir>/connections.json`` (keys are never in it; they are in the secret
store under ``connection:<id>``)::

    {"version": 1, "active": "<id>", "connections": [
        {"id": "...", "name": "...", "compat": "openai", "base_url": "...",
         "default_model": "", "headers": {}, "timeouts": {"connect": 10, ...},
         "generation": {"temperature": 0.7}}]}

The storage, the active profile, the fallback and the key's place in the
secret store are :class:`~pluma.server.profiles.registry.ProfileRegistry`'s
(its docstring has the rules both managers share). What is chat's own:

| rule                              | why                                                     |
|-----------------------------------|---------------------------------------------------------|
| ids generated, short, url-safe    | stable handle for URLs and the keyring name             |
| names have no ``/``               | clients address models as ``<profile-name>/<model>``    |
| credential headers refused        | ``Authorization`` etc. would put a key in the JSON file |
| ``compat`` must be registered     | the compat picks the provider factory                   |
| ``generation``: default settings  | the page pre-fills a new conversation's settings with   |
| checked like a conversation's     | them (:mod:`pluma.server.generation`)                    |

``provider()`` builds a fresh provider on every call (providers are cheap,
stateless wrappers around the shared HTTP client), with the key resolved into
``profile.api_key`` just before.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import pkgutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from pluma import llm
from pluma.server.chat.providers.adapted import AdapterProvider
from pluma.server.chat.providers.base import Provider, create_provider, provider_kinds
from pluma.server.errors import InvalidRequest
from pluma.server.generation import check_generation
from pluma.server.profiles.chat import ConnectionProfile, ProfileTimeouts
from pluma.server.profiles.registry import (
    NAME_MAX,
    UNSET,
    ConnectionsError,
    NoProfile,
    ProfileInvalid,
    ProfileKind,
    ProfileNameTaken,
    ProfileReadOnly,
    ProfileRegistry,
    UnknownProfile,
    check_base_url,
    check_changes,
    check_editable,
    check_name,
    check_secret,
    check_text,
    is_seconds,
    new_id,
)
from pluma.server.storage.documents import DocumentStore, StoreError
from pluma.server.storage.secrets import SecretStore, SecretStoreError, connection_secret

log = logging.getLogger("pluma.connections")

FALLBACK_ID = "fallback"
FALLBACK_NAME = "default"
CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie"}
)
CREDENTIAL_WORDS = ("auth", "key", "token", "secret", "password", "cookie", "session")
"""A header whose name holds one of these (``x-goog-api-key``, ``X-Auth-Token``)
carries a credential too, and would be saved in plain text."""


class ProfileNotFound(UnknownProfile):
    def __init__(self, ref: str) -> None:
        super().__init__(
            ref,
            f"no connection named or with id {ref!r}; list them with GET /api/connections "
            "or `pluma connections list`",
        )


class NameTaken(ProfileNameTaken):
    def __init__(self, name: str) -> None:
        super().__init__(f"a connection named {name!r} already exists (names are case-insensitive)")


class NoConnection(NoProfile):
    def __init__(self) -> None:
        super().__init__(
            "no connection is configured: add one (POST /api/connections, "
            "`pluma connections add`) or start the server with --base-url"
        )


class ReadOnlyProfile(ProfileReadOnly):
    def __init__(self) -> None:
        super().__init__(
            "the fallback connection comes from --base-url / PLUMA_BASE_URL and cannot be "
            "changed here; add a connection instead"
        )


def load_providers() -> list[str]:
    """Import the built-in provider modules and the ``pluma.providers`` entry
    points so their factories register. Returns problems found (a plugin that
    fails to import is reported, not fatal)."""
    problems: list[str] = []
    import pluma.server.chat.providers as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name == "base" or info.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"{package.__name__}.{info.name}")
        except Exception as exc:
            problems.append(f"built-in provider module {info.name!r} failed to load: {exc}")
    from pluma.extensions import CHAT_PROVIDERS, load
    from pluma.server.chat.providers.base import register_provider

    problems.extend(load(CHAT_PROVIDERS, register_provider))
    for problem in problems:
        log.warning("%s", problem)
    return problems


# -- (de)serialization ------------------------------------------------------


def profile_to_json(profile: ConnectionProfile) -> dict[str, Any]:
    """The stored form: everything but the key."""
    return {
        "id": profile.id,
        "name": profile.name,
        "compat": profile.compat,
        "base_url": profile.base_url,
        "default_model": profile.default_model,
        "headers": dict(profile.headers),
        "timeouts": dataclasses.asdict(profile.timeouts),
        "generation": dict(profile.generation),
    }


def profile_from_json(data: Mapping[str, Any]) -> ConnectionProfile:
    timeouts = data.get("timeouts") or {}
    return ConnectionProfile(
        id=str(data["id"]),
        name=str(data["name"]),
        compat=str(data["compat"]),
        base_url=str(data["base_url"]),
        default_model=str(data.get("default_model") or ""),
        headers={str(k): str(v) for k, v in (data.get("headers") or {}).items()},
        timeouts=ProfileTimeouts(
            **{k: timeouts[k] for k in ("connect", "first_byte", "idle") if k in timeouts}
        ),
        generation=_stored_generation(data.get("generation")),
    )


def _stored_generation(value: Any) -> dict[str, Any]:
    """Stored defaults; a hand-edited file with a bad value loses only them."""
    try:
        return check_generation(value, "generation")
    except InvalidRequest as exc:
        log.warning("connections.json: ignoring the generation defaults: %s", exc)
        return {}


# -- validation --------------------------------------------------------------


def _check_name(value: Any) -> str:
    name = check_name(value)
    if "/" in name:
        raise ProfileInvalid(
            "name", "must not contain '/' (models are addressed as <name>/<model>)"
        )
    return name


def _check_compat(value: Any) -> str:
    kinds = provider_kinds()
    if not isinstance(value, str) or not value:
        raise ProfileInvalid("compat", f"must be one of: {', '.join(kinds) or 'none registered'}")
    if value not in kinds:
        raise ProfileInvalid(
            "compat",
            f"{value!r} is not a registered provider (registered: {', '.join(kinds) or 'none'})",
        )
    return value


def _check_base_url(value: Any) -> str:
    return check_base_url(value, example="http://127.0.0.1:11434/v1", instead="api_key")


def _check_headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ProfileInvalid("headers", "must be an object of header name to string value")
    headers: dict[str, str] = {}
    for name, val in value.items():
        if not isinstance(name, str) or not name or any(c in name for c in " :\r\n\t"):
            raise ProfileInvalid("headers", f"{name!r} is not a valid header name")
        if not isinstance(val, str) or "\r" in val or "\n" in val:
            raise ProfileInvalid(f"headers.{name}", "must be a single-line string")
        if name.lower() in CREDENTIAL_HEADERS or any(w in name.lower() for w in CREDENTIAL_WORDS):
            raise ProfileInvalid(
                f"headers.{name}",
                "credentials do not belong in headers (they would be saved in plain text); "
                "set api_key, which is kept in the secret store",
            )
        headers[name] = val
    return headers


def _check_timeouts(value: Any, current: ProfileTimeouts | None = None) -> ProfileTimeouts:
    base = dataclasses.asdict(current or ProfileTimeouts())
    if value is None:
        return ProfileTimeouts(**base)
    if not isinstance(value, Mapping):
        raise ProfileInvalid(
            "timeouts", "must be an object with connect, first_byte, idle (seconds or null)"
        )
    for key, seconds in value.items():
        if key not in base:
            raise ProfileInvalid(f"timeouts.{key}", "unknown; use connect, first_byte or idle")
        if seconds is not None and not is_seconds(seconds):
            raise ProfileInvalid(f"timeouts.{key}", "must be a positive number of seconds or null")
        base[key] = float(seconds) if seconds is not None else None
    return ProfileTimeouts(**base)


def _check_model(value: Any) -> str:
    return check_text(value, "default_model")


def _check_key(value: Any) -> str | None:
    return check_secret(value, "api_key")


def _check_generation(value: Any) -> dict[str, Any]:
    return check_generation(value, "generation")


EDITABLE = (
    "name",
    "compat",
    "base_url",
    "default_model",
    "headers",
    "timeouts",
    "generation",
    "api_key",
)
UPDATE_CHECKS: dict[str, Callable[[Any], Any]] = {
    "name": _check_name,
    "compat": _check_compat,
    "base_url": _check_base_url,
    "default_model": _check_model,
    "headers": _check_headers,
    "generation": _check_generation,
}
"""The fields an update checks on their own (``timeouts`` merge with the
stored ones, ``api_key`` goes to the secret store)."""


# -- the manager -------------------------------------------------------------


def _with_key(profile: ConnectionProfile, key: str | None) -> ConnectionProfile:
    return dataclasses.replace(profile, api_key=key)


CONNECTIONS: ProfileKind[ConnectionProfile] = ProfileKind(
    noun="connection",
    file_name="connections.json",
    to_json=profile_to_json,
    from_json=profile_from_json,
    secret_name=connection_secret,
    with_secret=_with_key,
    not_found=ProfileNotFound,
    name_taken=NameTaken,
    read_only=ReadOnlyProfile,
    unconfigured=NoConnection,
    log=log,
)
"""What makes a :class:`ProfileRegistry` hold chat connections."""


class ConnectionManager(ProfileRegistry[ConnectionProfile]):
    """The chat profiles: storage, the active one and the fallback come from
    :class:`ProfileRegistry`; this adds their validation and providers."""

    def __init__(
        self,
        data_dir: Path,
        secrets: SecretStore,
        *,
        fallback: ConnectionProfile | None = None,
        fallback_key: str | None = None,
        http: httpx.AsyncClient | None = None,
        llm_client: Callable[[], llm.Client] | None = None,
        store: DocumentStore | None = None,
    ) -> None:
        self.llm_client = llm_client
        """Gives the client the built-in providers stream through (the
        services' own, built on first use; None: the library's default)."""
        super().__init__(
            CONNECTIONS,
            data_dir,
            secrets,
            fallback=fallback,
            fallback_secret=fallback_key,
            http=http,
            store=store,
        )

    def Active(self) -> tuple[ConnectionProfile, bool]:
        """The seed's ``Active() (ConnectionProfile, bool)``."""
        profile = self.active()
        if profile is None:
            return ConnectionProfile(id="", name="", compat="", base_url=""), False
        return profile, True

    def has_key(self, profile: ConnectionProfile | str) -> bool:
        return self._has_secret(profile if isinstance(profile, str) else profile.id)

    def describe(self, profile: ConnectionProfile, active_id: str | None) -> dict[str, Any]:
        """The one outward form of a profile (the HTTP API, ``/api/health``,
        ``pluma connections list --json``): its stored form, never the key,
        plus whether it has a key (None when the secret store cannot say: its
        problem is listed in ``/api/health``), is the active one, is the fallback."""
        try:
            has_key: bool | None = self.has_key(profile)
        except SecretStoreError:
            has_key = None
        return {
            **profile_to_json(profile),
            "has_key": has_key,
            "revision": self.revision(profile.id),
            "active": profile.id == active_id,
            "fallback": self.is_fallback(profile),
        }

    # -- providers -------------------------------------------------------------

    def provider(self, http: httpx.AsyncClient | None = None) -> Provider:
        """A fresh provider for the active profile (or the fallback)."""
        return self.provider_for(None, http)

    def provider_for(
        self, profile_id_or_name: str | None = None, http: httpx.AsyncClient | None = None
    ) -> Provider:
        """A fresh provider for the given profile (id or name), or the active one.

        Raises :class:`NoConnection`, :class:`ProfileNotFound`, or ValueError
        when the profile's compat has no registered provider.
        """
        profile = self._pick(profile_id_or_name)
        return self.make_provider(self.resolve(profile), http)

    def make_provider(
        self, resolved: ConnectionProfile, http: httpx.AsyncClient | None = None
    ) -> Provider:
        """A provider for a profile already resolved (its key filled in); the
        built-in ones stream through :attr:`llm_client`."""
        provider = create_provider(resolved, self._client(http))
        if self.llm_client is not None and isinstance(provider, AdapterProvider):
            provider.client = self.llm_client()
        return provider

    # -- writing ---------------------------------------------------------------

    def create(
        self,
        *,
        name: Any,
        base_url: Any,
        compat: Any = "openai",
        default_model: Any = "",
        headers: Any = None,
        timeouts: Any = None,
        generation: Any = None,
        api_key: Any = None,
        activate: bool | None = None,
    ) -> ConnectionProfile:
        """Add a profile. The first profile becomes active (or any, with
        ``activate=True``). The key goes to the secret store, never the file."""
        profile = ConnectionProfile(
            id=new_id(),
            name=_check_name(name),
            compat=_check_compat(compat),
            base_url=_check_base_url(base_url),
            default_model=_check_model(default_model),
            headers=_check_headers(headers),
            timeouts=_check_timeouts(timeouts),
            generation=_check_generation(generation),
        )
        return self._insert(profile, _check_key(api_key), activate)

    def update(
        self, profile_id: str, *, expected_revision: int | None = None, **changes: Any
    ) -> ConnectionProfile:
        """Change fields of a profile. ``api_key``: a string sets the key, None
        or "" clears it, absent (or :data:`UNSET`) leaves it.
        ``expected_revision``: refuse (409) unless the profile is still at the
        revision the caller read."""
        self._refuse_fallback(profile_id)
        check_editable(changes, EDITABLE)
        key = changes.pop("api_key", UNSET)
        checked = check_changes(changes, UPDATE_CHECKS)

        def revise(current: ConnectionProfile) -> ConnectionProfile:
            if "timeouts" in changes:
                # Only the given timeouts change: the others keep their values.
                checked["timeouts"] = _check_timeouts(changes["timeouts"], current.timeouts)
            return dataclasses.replace(current, **checked)

        return self._revise(
            profile_id,
            revise,
            name=checked.get("name"),
            secret=UNSET if key is UNSET else _check_key(key),
            expected_revision=expected_revision,
        )

    def set_key(self, profile_id: str, key: str | None) -> None:
        """Set (or with None, clear) the key of a stored profile."""
        profile = self.get(profile_id)
        if self.is_fallback(profile):
            raise ReadOnlyProfile()
        self._store_secret(profile.id, _check_key(key))


def fallback_profile(
    base_url: str | None, compat: str = "openai", default_model: str = ""
) -> ConnectionProfile | None:
    """The boot-time profile from ``--base-url`` (None without one)."""
    if not base_url:
        return None
    return ConnectionProfile(
        id=FALLBACK_ID,
        name=FALLBACK_NAME,
        compat=compat,
        base_url=base_url.rstrip("/"),
        default_model=default_model,
    )


__all__ = [
    "FALLBACK_ID",
    "NAME_MAX",
    "UNSET",
    "ConnectionManager",
    "ConnectionsError",
    "NameTaken",
    "NoConnection",
    "ProfileInvalid",
    "ProfileNotFound",
    "ReadOnlyProfile",
    "StoreError",
    "fallback_profile",
    "load_providers",
    "new_id",
    "profile_from_json",
    "profile_to_json",
]
