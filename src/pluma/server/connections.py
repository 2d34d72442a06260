"""ConnectionManager: the chat connection profiles, the active one, and the
boot-time fallback.

``<datadir>/connections.json`` (keys are never in it; they are in the secret
store under ``connection:<id>``)::

    {"version": 1, "active": "<id>", "connections": [
        {"id": "...", "name": "...", "compat": "openai", "base_url": "...",
         "default_model": "", "headers": {}, "timeouts": {"connect": 10, ...}}]}

Rules:

| rule                         | why                                                     |
|------------------------------|---------------------------------------------------------|
| ids generated, short, url-safe | stable handle for URLs and the keyring name           |
| names unique (any case), no ``/`` | clients address models as ``<profile-name>/<model>`` |
| credential headers refused   | ``Authorization`` etc. would put a key in the JSON file |
| every write read-modify-write under the store lock | other processes (the CLI) edit too |
| the file is re-read when it changes on disk | a running server sees CLI edits   |
| fallback (``--base-url``) serves only while no profile exists | seed semantics   |

``provider()`` builds a fresh provider on every call (providers are cheap,
stateless wrappers around the shared HTTP client), with the key resolved into
``profile.api_key`` just before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import logging
import math
import pkgutil
import secrets as _random
import threading
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from pluma.server.profiles import ConnectionProfile, ProfileTimeouts
from pluma.server.providers.base import Provider, create_provider, provider_kinds
from pluma.server.secrets import SecretStore, connection_secret
from pluma.server.store import CorruptStoreError, JsonStore, StoreError, StoreProblem

log = logging.getLogger("pluma.connections")

FALLBACK_ID = "fallback"
FALLBACK_NAME = "default"
NAME_MAX = 64
CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie"}
)
CREDENTIAL_WORDS = ("auth", "key", "token", "secret", "password", "cookie", "session")
"""A header whose name holds one of these (``x-goog-api-key``, ``X-Auth-Token``)
carries a credential too, and would be saved in plain text."""
UNSET: Any = object()
"""Marker for "leave the key as it is" in :meth:`ConnectionManager.update`."""


class ConnectionsError(Exception):
    """Base class; ``str()`` is a message fit for the user."""


class ProfileNotFound(ConnectionsError, LookupError):
    def __init__(self, ref: str) -> None:
        super().__init__(
            f"no connection named or with id {ref!r}; list them with GET /api/connections "
            "or `pluma connections list`"
        )
        self.ref = ref


class ProfileInvalid(ConnectionsError, ValueError):
    """A field has an unusable value; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NameTaken(ProfileInvalid):
    def __init__(self, name: str) -> None:
        super().__init__(
            "name", f"a connection named {name!r} already exists (names are case-insensitive)"
        )


class NoConnection(ConnectionsError):
    def __init__(self) -> None:
        super().__init__(
            "no connection is configured: add one (POST /api/connections, "
            "`pluma connections add`) or start the server with --base-url"
        )


class ReadOnlyProfile(ConnectionsError):
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
    import pluma.server.providers as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name == "base" or info.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"{package.__name__}.{info.name}")
        except Exception as exc:
            problems.append(f"built-in provider module {info.name!r} failed to load: {exc}")
    for ep in entry_points(group="pluma.providers"):
        try:
            loaded = ep.load()
            if callable(loaded) and not isinstance(loaded, type):
                loaded()
        except Exception as exc:
            problems.append(f"provider plugin {ep.name!r} ({ep.value}) failed to load: {exc}")
    for problem in problems:
        log.warning("%s", problem)
    return problems


def _copy(profile: ConnectionProfile) -> ConnectionProfile:
    """A copy callers may change (e.g. set ``api_key`` on) without touching
    the manager's view."""
    return ConnectionProfile(
        id=profile.id,
        name=profile.name,
        compat=profile.compat,
        base_url=profile.base_url,
        default_model=profile.default_model,
        headers=dict(profile.headers),
        timeouts=profile.timeouts,
    )


def new_id() -> str:
    return _random.token_urlsafe(6).replace("-", "x").replace("_", "y")


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
    )


# -- validation --------------------------------------------------------------


def _check_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProfileInvalid("name", "must be a non-empty string")
    name = value.strip()
    if len(name) > NAME_MAX:
        raise ProfileInvalid("name", f"must be at most {NAME_MAX} characters")
    if "/" in name:
        raise ProfileInvalid(
            "name", "must not contain '/' (models are addressed as <name>/<model>)"
        )
    if any(ord(c) < 32 for c in name):
        raise ProfileInvalid("name", "must not contain control characters")
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
    if not isinstance(value, str) or not value.strip():
        raise ProfileInvalid("base_url", "must be a URL such as http://127.0.0.1:11434/v1")
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProfileInvalid("base_url", f"{value!r} is not an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ProfileInvalid("base_url", "must not contain credentials; set api_key instead")
    return url


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
        if seconds is not None and (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds <= 0
        ):
            raise ProfileInvalid(f"timeouts.{key}", "must be a positive number of seconds or null")
        base[key] = float(seconds) if seconds is not None else None
    return ProfileTimeouts(**base)


def _check_model(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ProfileInvalid("default_model", "must be a string")
    return value.strip()


def _check_key(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProfileInvalid("api_key", "must be a string (or null to clear it)")
    key = value.strip()
    if any(c in key for c in "\r\n"):
        raise ProfileInvalid("api_key", "must be a single line")
    return key or None


EDITABLE = ("name", "compat", "base_url", "default_model", "headers", "timeouts", "api_key")


# -- the manager -------------------------------------------------------------


class ConnectionManager:
    """Thread-safe; every change goes through the file store at once."""

    def __init__(
        self,
        data_dir: Path,
        secrets: SecretStore,
        *,
        fallback: ConnectionProfile | None = None,
        fallback_key: str | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.path = Path(data_dir) / "connections.json"
        self.secrets = secrets
        self.fallback = fallback
        self._fallback_key = fallback_key
        self.http = http
        self.store = JsonStore(self.path)
        self.problems: list[str] = []
        self.store_problem: StoreProblem | None = None
        self._lock = threading.RLock()
        self._doc: dict[str, Any] = {"version": 1, "active": None, "connections": []}
        self._stat: tuple[int, int, int] | None = None
        self._cache: list[ConnectionProfile] = []
        if self.path.parent.is_dir():
            self.store.sweep()
        doc, problem = self.store.recover()
        if problem is not None:
            self.store_problem = problem
            self.problems.append(problem.describe())
            log.error("%s", problem.describe())
        self._accept(doc)

    # -- loading -------------------------------------------------------------

    def _accept(self, doc: Any) -> None:
        """Adopt ``doc`` (as read from disk) as the in-memory view."""
        connections = []
        for index, item in enumerate(doc.get("connections", []) if isinstance(doc, dict) else []):
            try:
                connections.append(profile_to_json(profile_from_json(item)))
            except (KeyError, TypeError, ValueError) as exc:
                message = f"{self.path}: connection #{index} is malformed ({exc}) and was skipped"
                if message not in self.problems:
                    self.problems.append(message)
                    log.warning("%s", message)
        self._doc = {
            "version": 1,
            "active": doc.get("active") if isinstance(doc, dict) else None,
            "connections": connections,
        }
        self._cache = [profile_from_json(c) for c in connections]
        self._stat = self.store.stat_key()

    def _refresh(self) -> None:
        """Re-read the file when another process replaced it."""
        if self.store.stat_key() == self._stat:
            return
        try:
            self._accept(self.store.read())
        except CorruptStoreError as exc:
            message = f"{exc}; keeping the connections loaded before"
            if message not in self.problems:
                self.problems.append(message)
                log.error("%s", message)

    def _profiles(self) -> list[ConnectionProfile]:
        """The current profiles, shared: copy (:func:`_copy`) what leaves."""
        with self._lock:
            self._refresh()
            return self._cache

    # -- reading -------------------------------------------------------------

    def list(self) -> list[ConnectionProfile]:
        """The stored profiles (keys not resolved)."""
        return [_copy(p) for p in self._profiles()]

    def get(self, profile_id: str) -> ConnectionProfile:
        if self.fallback is not None and profile_id == self.fallback.id and not self._profiles():
            return dataclasses.replace(self.fallback, api_key=None)
        for profile in self._profiles():
            if profile.id == profile_id:
                return _copy(profile)
        raise ProfileNotFound(profile_id)

    def get_by_name(self, name: str) -> ConnectionProfile | None:
        """The profile called ``name`` (case-insensitive), or None."""
        folded = name.casefold()
        profiles = self._profiles()
        for profile in profiles:
            if profile.name.casefold() == folded:
                return _copy(profile)
        if self.fallback is not None and not profiles and self.fallback.name.casefold() == folded:
            return dataclasses.replace(self.fallback, api_key=None)
        return None

    def lookup(self, ref: str) -> ConnectionProfile:
        """By id, else by name; raises :class:`ProfileNotFound`."""
        profiles = self._profiles()
        folded = ref.casefold()
        for profile in profiles:
            if profile.id == ref:
                return _copy(profile)
        for profile in profiles:
            if profile.name.casefold() == folded:
                return _copy(profile)
        if (
            self.fallback is not None
            and not profiles
            and ref in (self.fallback.id, self.fallback.name)
        ):
            return dataclasses.replace(self.fallback, api_key=None)
        raise ProfileNotFound(ref)

    @property
    def active_id(self) -> str | None:
        active = self.active()
        return active.id if active else None

    def active(self) -> ConnectionProfile | None:
        """The active profile; the first one when the stored choice is gone;
        the fallback when there are no profiles."""
        with self._lock:
            profiles = self._profiles()
            chosen = self._doc.get("active")
        for profile in profiles:
            if profile.id == chosen:
                return _copy(profile)
        if profiles:
            return _copy(profiles[0])
        if self.fallback is not None:
            return dataclasses.replace(self.fallback, api_key=None)
        return None

    def Active(self) -> tuple[ConnectionProfile, bool]:
        """The seed's ``Active() (ConnectionProfile, bool)``."""
        profile = self.active()
        if profile is None:
            return ConnectionProfile(id="", name="", compat="", base_url=""), False
        return profile, True

    def is_fallback(self, profile: ConnectionProfile) -> bool:
        return self.fallback is not None and profile.id == self.fallback.id

    def has_key(self, profile: ConnectionProfile | str) -> bool:
        profile_id = profile if isinstance(profile, str) else profile.id
        if self.fallback is not None and profile_id == self.fallback.id:
            return bool(self._fallback_key)
        return self.secrets.has(connection_secret(profile_id))

    def resolve(self, profile: ConnectionProfile) -> ConnectionProfile:
        """A copy of ``profile`` with its key from the secret store."""
        if self.is_fallback(profile):
            return dataclasses.replace(profile, api_key=self._fallback_key)
        return dataclasses.replace(profile, api_key=self.secrets.get(connection_secret(profile.id)))

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
        if profile_id_or_name:
            profile = self.lookup(profile_id_or_name)
        else:
            active = self.active()
            if active is None:
                raise NoConnection()
            profile = active
        return create_provider(self.resolve(profile), http or self._client())

    def _client(self) -> httpx.AsyncClient:
        if self.http is not None:
            return self.http
        from pluma.llm.transport.http import shared_client

        return shared_client()

    # -- writing ---------------------------------------------------------------

    def _write(self, change: Any) -> Any:
        with self._lock:
            try:
                result = self.store.update(change)
            except CorruptStoreError:
                # Someone broke the file while we ran: keep it aside, start over
                # from what we had, and say so.
                _, problem = self.store.recover()
                if problem is not None:
                    self.problems.append(problem.describe())
                    log.error("%s", problem.describe())

                    def restore(doc: dict[str, Any]) -> None:
                        doc.update(self._doc)

                    self.store.update(restore)
                result = self.store.update(change)
            self._accept(self.store.read())
            return result

    @staticmethod
    def _name_free(doc: dict[str, Any], name: str, except_id: str | None = None) -> None:
        for item in doc.get("connections", []):
            if (
                item.get("id") != except_id
                and str(item.get("name", "")).casefold() == name.casefold()
            ):
                raise NameTaken(name)

    def create(
        self,
        *,
        name: Any,
        base_url: Any,
        compat: Any = "openai",
        default_model: Any = "",
        headers: Any = None,
        timeouts: Any = None,
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
        )
        key = _check_key(api_key)

        def add(doc: dict[str, Any]) -> None:
            self._name_free(doc, profile.name)
            connections = doc.setdefault("connections", [])
            doc["version"] = 1
            connections.append(profile_to_json(profile))
            if activate or not doc.get("active") or len(connections) == 1:
                doc["active"] = profile.id

        if key:
            self.secrets.set(connection_secret(profile.id), key)
        try:
            self._write(add)
        except BaseException:
            if key:
                with contextlib.suppress(Exception):
                    self.secrets.delete(connection_secret(profile.id))
            raise
        log.info("connection %r (%s) added", profile.name, profile.id)
        return profile

    def update(self, profile_id: str, **changes: Any) -> ConnectionProfile:
        """Change fields of a profile. ``api_key``: a string sets the key, None
        or "" clears it, absent (or :data:`UNSET`) leaves it."""
        if self.fallback is not None and profile_id == self.fallback.id:
            raise ReadOnlyProfile()
        unknown = set(changes) - set(EDITABLE)
        if unknown:
            raise ProfileInvalid(
                sorted(unknown)[0], f"unknown field; editable: {', '.join(EDITABLE)}"
            )
        key = changes.pop("api_key", UNSET)
        checked: dict[str, Any] = {}
        if "name" in changes:
            checked["name"] = _check_name(changes["name"])
        if "compat" in changes:
            checked["compat"] = _check_compat(changes["compat"])
        if "base_url" in changes:
            checked["base_url"] = _check_base_url(changes["base_url"])
        if "default_model" in changes:
            checked["default_model"] = _check_model(changes["default_model"])
        if "headers" in changes:
            checked["headers"] = _check_headers(changes["headers"])
        new_key = UNSET if key is UNSET else _check_key(key)

        def edit(doc: dict[str, Any]) -> ConnectionProfile:
            for item in doc.get("connections", []):
                if item.get("id") == profile_id:
                    current = profile_from_json(item)
                    if "name" in checked:
                        self._name_free(doc, checked["name"], except_id=profile_id)
                    if "timeouts" in changes:
                        checked["timeouts"] = _check_timeouts(changes["timeouts"], current.timeouts)
                    updated = dataclasses.replace(current, **checked)
                    item.clear()
                    item.update(profile_to_json(updated))
                    return updated
            raise ProfileNotFound(profile_id)

        updated: ConnectionProfile = self._write(edit)
        if new_key is not UNSET:
            if new_key:
                self.secrets.set(connection_secret(profile_id), new_key)
            else:
                self.secrets.delete(connection_secret(profile_id))
        log.info("connection %r (%s) updated", updated.name, updated.id)
        return updated

    def set_key(self, profile_id: str, key: str | None) -> None:
        """Set (or with None, clear) the key of a stored profile."""
        profile = self.get(profile_id)
        if self.is_fallback(profile):
            raise ReadOnlyProfile()
        checked = _check_key(key)
        if checked:
            self.secrets.set(connection_secret(profile.id), checked)
        else:
            self.secrets.delete(connection_secret(profile.id))

    def delete(self, profile_id: str) -> None:
        """Remove a profile and its key."""
        if self.fallback is not None and profile_id == self.fallback.id and not self.list():
            raise ReadOnlyProfile()

        def remove(doc: dict[str, Any]) -> ConnectionProfile:
            connections = doc.get("connections", [])
            for index, item in enumerate(connections):
                if item.get("id") == profile_id:
                    del connections[index]
                    if doc.get("active") == profile_id:
                        doc["active"] = connections[0]["id"] if connections else None
                    return profile_from_json(item)
            raise ProfileNotFound(profile_id)

        removed: ConnectionProfile = self._write(remove)
        self.secrets.delete(connection_secret(profile_id))
        log.info("connection %r (%s) removed", removed.name, removed.id)

    def activate(self, profile_id: str) -> ConnectionProfile:
        def choose(doc: dict[str, Any]) -> ConnectionProfile:
            for item in doc.get("connections", []):
                if item.get("id") == profile_id:
                    doc["active"] = profile_id
                    return profile_from_json(item)
            raise ProfileNotFound(profile_id)

        chosen: ConnectionProfile = self._write(choose)
        log.info("connection %r (%s) is now active", chosen.name, chosen.id)
        return chosen


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
    "profile_from_json",
    "profile_to_json",
]
