"""ProfileRegistry: the part the chat and image connection managers share —
a JSON file of profiles, the active one, the boot-time fallback, and each
profile's secret in the secret store.

Both managers keep the same document shape (only the profile fields differ)::

    {"version": 1, "active": "<id>", "connections": [{"id": "...", "name": "...", ...}]}

and follow the same rules, which live here so they cannot drift apart:

| rule                                          | why                                           |
|-----------------------------------------------|-----------------------------------------------|
| names unique (any case)                       | the CLI, page and clients address by name     |
| the secret goes to the secret store           | never in the JSON file, responses or logs     |
| every write is read-modify-write under the    | the CLI edits the same file while a server    |
| store's cross-process lock                    | runs                                          |
| the file is re-read when it changes on disk   | a running server sees CLI edits               |
| a malformed profile is skipped and reported   | one bad entry must not hide the others        |
| a file broken behind our back is kept aside   | a write then starts from the profiles loaded  |
| (``.corrupt-<time>``)                         | before, so none is lost; ``problems`` says so |
| the fallback serves only while no profile     | the seed's boot fallback (``--base-url``,     |
| exists, and is read-only                      | ``--image-url``) is not the user's to edit    |
| profiles handed out are copies                | callers may set a secret on them without      |
|                                               | changing the registry's view                  |

What differs between the two — the profile type, its JSON codec, the secret's
name, the wording of errors and log lines — is one :class:`ProfileKind`. Each
manager validates its own fields, with the checks here for the fields both
have (name, base URL, secret, seconds), so a rule is worded and enforced once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import secrets as _random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

import httpx

from pluma.server.errors import PlumaError
from pluma.server.storage.documents import (
    CorruptStoreError,
    DocumentStore,
    JsonStore,
    StoreError,
    StoreProblem,
)
from pluma.server.storage.secrets import KEYRING_CACHE_SECONDS, SecretStore


def _on_event_loop() -> bool:
    """Whether this thread is running an event loop (where nothing may block)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


UNSET: Any = object()
"""Marker for "leave the secret as it is" in an update."""
NAME_MAX = 64


class ConnectionsError(PlumaError):
    """Base class of the profile managers' errors (chat and image alike);
    ``str()`` is a message fit for the user."""

    status = 400
    kind = "invalid_request_error"
    code = "invalid_request"


class ProfileInvalid(ConnectionsError, ValueError):
    """A field has an unusable value; ``field`` names it."""

    status = 422
    code = "invalid_field"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.param = field


class UnknownProfile(ConnectionsError, LookupError):
    """No profile with that name or id; ``ref`` is what was asked for."""

    status = 404
    kind = "not_found_error"
    code = "unknown_connection"

    def __init__(self, ref: str, message: str) -> None:
        super().__init__(message)
        self.ref = ref


class ProfileNameTaken(ProfileInvalid):
    """Another profile of the same kind has that name."""

    code = "name_taken"

    def __init__(self, message: str) -> None:
        super().__init__("name", message)


class ProfileReadOnly(ConnectionsError):
    """The fallback profile comes from the command line and cannot be changed."""

    status = 409
    code = "read_only_connection"


class ProfileConflict(ConnectionsError):
    """An edit based on a revision of the profile that is no longer current:
    someone else (another tab, instance or the CLI) changed it meanwhile."""

    status = 409
    code = "edit_conflict"

    def __init__(self, noun: str, name: str, expected: int, current: int) -> None:
        super().__init__(
            f"the {noun} {name!r} was changed by someone else since you read it (your edit "
            f"is based on revision {expected}, it is at revision {current} now); nothing was "
            "changed: reload it and apply your change again"
        )
        self.expected = expected
        self.current = current


class NoProfile(ConnectionsError):
    """A provider is wanted and there is no profile nor fallback."""

    status = 409
    code = "no_connection"


def new_id(prefix: str = "") -> str:
    """A short, url-safe id: a stable handle for URLs and the keyring name."""
    return prefix + _random.token_urlsafe(6).replace("-", "x").replace("_", "y")


# -- the fields both kinds of profile have -------------------------------------


def check_name(value: Any) -> str:
    """A display name: non-empty, short, one line (uniqueness is checked on write)."""
    if not isinstance(value, str) or not value.strip():
        raise ProfileInvalid("name", "must be a non-empty string")
    name = value.strip()
    if len(name) > NAME_MAX:
        raise ProfileInvalid("name", f"must be at most {NAME_MAX} characters")
    if any(ord(c) < 32 for c in name):
        raise ProfileInvalid("name", "must not contain control characters")
    return name


def check_base_url(value: Any, *, example: str, instead: str) -> str:
    """An http(s) URL with a host, without a trailing ``/``. Credentials in it
    are refused (the file is plain text): ``instead`` says where they go."""
    if not isinstance(value, str) or not value.strip():
        raise ProfileInvalid("base_url", f"must be a URL such as {example}")
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProfileInvalid("base_url", f"{value!r} is not an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ProfileInvalid("base_url", f"must not contain credentials; set {instead} instead")
    return url


def check_secret(value: Any, field: str) -> str | None:
    """A key, password or token: None (or blank) for none. Surrounding
    whitespace (a pasted newline) is dropped; a line break inside is refused,
    it would break the header it is sent in."""
    if value is None:
        return None
    if not isinstance(value, str) or any(c in value.strip() for c in "\r\n"):
        raise ProfileInvalid(field, "must be a single-line string (or null to clear it)")
    return value.strip() or None


def check_text(value: Any, field: str) -> str:
    """An optional free-text field (a default model or checkpoint): "" for none."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ProfileInvalid(field, "must be a string")
    return value.strip()


def is_seconds(value: Any) -> bool:
    """A usable timeout: a finite number above zero (``True`` is not one)."""
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and value > 0
    )


def check_editable(changes: Mapping[str, Any], editable: tuple[str, ...]) -> None:
    """Refuse a field an update cannot change (a typo must not pass silently)."""
    unknown = set(changes) - set(editable)
    if unknown:
        raise ProfileInvalid(sorted(unknown)[0], f"unknown field; editable: {', '.join(editable)}")


def check_changes(
    changes: Mapping[str, Any], checks: Mapping[str, Callable[[Any], Any]]
) -> dict[str, Any]:
    """The given fields, each through its check. In the table's order, so
    which of several bad fields is named does not depend on the caller's."""
    return {field: check(changes[field]) for field, check in checks.items() if field in changes}


class StoredProfile(Protocol):
    """What the registry needs of a profile: a stable id and a display name."""

    id: str
    name: str


P = TypeVar("P", bound=StoredProfile)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ProfileKind(Generic[P]):
    """Everything that makes a registry hold chat or image profiles.

    The error factories are the managers' own exception classes, so callers
    (and the HTTP mapping in ``app.py``) keep catching what they always did.
    """

    noun: str
    """``"connection"`` or ``"image connection"``: in problems and log lines."""
    file_name: str
    """The file in the data directory, e.g. ``connections.json``."""
    to_json: Callable[[P], dict[str, Any]]
    """The stored form: everything but the secret."""
    from_json: Callable[[Mapping[str, Any]], P]
    """Raises KeyError, TypeError or ValueError on a malformed entry."""
    secret_name: Callable[[str], str]
    """The secret store's name for a profile id's secret."""
    with_secret: Callable[[P, str | None], P]
    """A copy of the profile carrying this secret (None: without one)."""
    not_found: Callable[[str], Exception]
    name_taken: Callable[[str], Exception]
    read_only: Callable[[], Exception]
    unconfigured: Callable[[], Exception]
    """Raised when a provider is wanted and there is no profile nor fallback."""
    log: logging.Logger


def _count_key_change(doc: dict[str, Any]) -> None:
    """Bump ``keys_changed`` (a count, never a key): the rewritten file is how
    other processes learn that a key changed."""
    count = doc.get("keys_changed")
    doc["keys_changed"] = (count if isinstance(count, int) else 0) + 1


class ProfileRegistry(Generic[P]):
    """Thread-safe; every change goes through the file store at once.

    Subclasses add the validated ``create``/``update`` and the provider
    factory; they call :meth:`_insert` and :meth:`_revise` for the writing.
    """

    def __init__(
        self,
        kind: ProfileKind[P],
        data_dir: Path,
        secrets: SecretStore,
        *,
        fallback: P | None = None,
        fallback_secret: str | None = None,
        http: httpx.AsyncClient | None = None,
        store: DocumentStore | None = None,
    ) -> None:
        self.kind = kind
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / kind.file_name
        self.secrets = secrets
        self.fallback = fallback
        self._fallback_secret = fallback_secret
        self.http = http
        self.store: DocumentStore = store if store is not None else JsonStore(self.path)
        self.problems: list[str] = []
        """What went wrong loading or saving, worded for the user (the server
        shows them on its status page, the CLI prints them)."""
        self.store_problem: StoreProblem | None = None
        self._lock = threading.RLock()
        self._doc: dict[str, Any] = {"version": 1, "active": None, "connections": []}
        self._stat: tuple[int, int, int] | None = None
        self._cache: list[P] = []
        if self.data_dir.is_dir():
            self.store.sweep()  # temp files of a writer that died mid-write
        key = self.store.stat_key()
        doc, problem = self.store.recover()
        if problem is not None:
            self.store_problem = problem
            self._report(problem.describe(), logging.ERROR)
            key = self.store.stat_key()
        self._accept(doc, key)

    def _report(self, message: str, level: int) -> None:
        """Log a problem and keep it (once) for the user to see."""
        if message not in self.problems:
            self.problems.append(message)
            self.kind.log.log(level, "%s", message)

    # -- loading -------------------------------------------------------------

    def _accept(self, doc: Any, key: tuple[int, int, int] | None) -> None:
        """Adopt ``doc`` (as read from the store) as the in-memory view;
        ``key`` is the store's change key read *before* ``doc``, so a write
        in between makes the next check read again rather than be missed."""
        connections = []
        for index, item in enumerate(doc.get("connections", []) if isinstance(doc, dict) else []):
            try:
                normal = self.kind.to_json(self.kind.from_json(item))
                if isinstance(item.get("revision"), int):
                    normal["revision"] = item["revision"]
                connections.append(normal)
            except (KeyError, TypeError, ValueError) as exc:
                self._report(
                    f"{self.path}: {self.kind.noun} #{index} is malformed ({exc}) and was skipped",
                    logging.WARNING,
                )
        self._doc = {
            "version": 1,
            "active": doc.get("active") if isinstance(doc, dict) else None,
            "connections": connections,
        }
        self._cache = [self.kind.from_json(c) for c in connections]
        self._stat = key

    def _refresh(self) -> None:
        """Re-read the file when another process replaced it (and forget
        cached secrets: that process may have changed a key, see
        :meth:`_store_secret`).

        On an event loop a remote store (PostgreSQL) is not read here: the
        server awaits :meth:`refresh` at the start of each request instead, so
        a slow database never blocks the loop, and this serves that view."""
        if self.store.remote and _on_event_loop():
            return
        key = self.store.stat_key()
        if key == self._stat:
            return
        self.secrets.forget()
        try:
            self._accept(self.store.read(), key)
        except CorruptStoreError as exc:
            self._report(f"{exc}; keeping the {self.kind.noun}s loaded before", logging.ERROR)

    async def refresh(self) -> None:
        """:meth:`_refresh` for async code, awaiting the store, then the keys
        of the profiles (one query for all, when the store caches them), so
        that the request's synchronous reads that follow find everything in
        memory. Only remote stores need it: a file's ``stat`` is cheaper than
        the await."""
        if not self.store.remote:
            return
        key = await self.store.astat_key()
        if key != self._stat:
            try:
                doc = await self.store.aread()
            except CorruptStoreError as exc:
                self._report(f"{exc}; keeping the {self.kind.noun}s loaded before", logging.ERROR)
            else:
                with self._lock:
                    self.secrets.forget()
                    self._accept(doc, key)
        await self.secrets.prefetch([self.kind.secret_name(p.id) for p in self._cache])

    def _profiles(self) -> list[P]:
        """The current profiles, shared: copy (:meth:`_copy`) what leaves."""
        with self._lock:
            self._refresh()
            return self._cache

    def _copy(self, profile: P) -> P:
        """A copy callers may change without touching the registry's view
        (the codec round trip copies nested values such as headers)."""
        return self.kind.from_json(self.kind.to_json(profile))

    def _fallback_view(self, profiles: list[P]) -> P | None:
        """The fallback (without its secret) while it serves: no profile exists."""
        if self.fallback is None or profiles:
            return None
        return self.kind.with_secret(self.fallback, None)

    # -- reading -------------------------------------------------------------

    def listing(self) -> tuple[str | None, list[P]]:
        """What a list shows: the active profile's id, and the stored profiles
        (or, while none exists, the fallback, which is read-only)."""
        active = self.active()
        profiles = self.list()
        if not profiles and active is not None:
            profiles = [active]
        return (active.id if active else None), profiles

    def list(self) -> list[P]:
        """The stored profiles (secrets not resolved)."""
        return [self._copy(p) for p in self._profiles()]

    def get(self, profile_id: str) -> P:
        profiles = self._profiles()
        fallback = self._fallback_view(profiles)
        if fallback is not None and profile_id == fallback.id:
            return fallback
        for profile in profiles:
            if profile.id == profile_id:
                return self._copy(profile)
        raise self.kind.not_found(profile_id)

    def get_by_name(self, name: str) -> P | None:
        """The profile called ``name`` (case-insensitive), or None."""
        folded = name.casefold()
        profiles = self._profiles()
        for profile in profiles:
            if profile.name.casefold() == folded:
                return self._copy(profile)
        fallback = self._fallback_view(profiles)
        if fallback is not None and fallback.name.casefold() == folded:
            return fallback
        return None

    def lookup(self, ref: str) -> P:
        """By id, else by name (case-insensitive)."""
        profiles = self._profiles()
        for profile in profiles:
            if profile.id == ref:
                return self._copy(profile)
        found = self.get_by_name(ref)
        if found is not None:
            return found
        fallback = self._fallback_view(profiles)
        if fallback is not None and fallback.id == ref:
            return fallback
        raise self.kind.not_found(ref)

    @property
    def active_id(self) -> str | None:
        active = self.active()
        return active.id if active else None

    def active(self) -> P | None:
        """The active profile; the first one when the stored choice is gone;
        the fallback when there are no profiles."""
        with self._lock:
            profiles = self._profiles()
            chosen = self._doc.get("active")
        for profile in profiles:
            if profile.id == chosen:
                return self._copy(profile)
        if profiles:
            return self._copy(profiles[0])
        return self._fallback_view(profiles)

    def is_fallback(self, profile: P) -> bool:
        return self.fallback is not None and profile.id == self.fallback.id

    def _has_secret(self, profile_id: str) -> bool:
        if self.fallback is not None and profile_id == self.fallback.id:
            return bool(self._fallback_secret)
        return self.secrets.has(self.kind.secret_name(profile_id))

    def resolve(self, profile: P) -> P:
        """A copy of ``profile`` with its secret from the secret store."""
        if self.is_fallback(profile):
            return self.kind.with_secret(profile, self._fallback_secret)
        secret = self.secrets.get(self.kind.secret_name(profile.id))
        return self.kind.with_secret(profile, secret)

    # -- providers -------------------------------------------------------------

    def _pick(self, ref: str | None) -> P:
        """The profile a provider is wanted for: ``ref`` (id or name), else
        the active one; raises the kind's ``unconfigured`` error when none."""
        if ref:
            return self.lookup(ref)
        active = self.active()
        if active is None:
            raise self.kind.unconfigured()
        return active

    def _client(self, http: httpx.AsyncClient | None = None) -> httpx.AsyncClient:
        """``http``, else the one given at construction, else the shared one."""
        if http is not None:
            return http
        if self.http is not None:
            return self.http
        from pluma.server.http.client import shared_http_client

        return shared_http_client()

    # -- writing ---------------------------------------------------------------

    def _write(self, change: Callable[[dict[str, Any]], T]) -> T:
        """Apply ``change`` to the stored document under the store's lock and
        return what it returns."""
        with self._lock:
            try:
                result = self.store.update(change)
            except CorruptStoreError:
                # The file was broken behind our back: keep it aside, start
                # over from the profiles we had (recovery alone would start
                # from an empty file and drop them all), and say so.
                _, problem = self.store.recover()
                if problem is not None:
                    self._report(problem.describe(), logging.ERROR)
                    known = json.loads(json.dumps(self._doc))

                    def restore(doc: dict[str, Any]) -> None:
                        doc.update(known)

                    self.store.update(restore)
                result = self.store.update(change)
            key = self.store.stat_key()
            self._accept(self.store.read(), key)
            return result

    def _name_free(self, doc: dict[str, Any], name: str, except_id: str | None = None) -> None:
        for item in doc.get("connections", []):
            if (
                item.get("id") != except_id
                and str(item.get("name", "")).casefold() == name.casefold()
            ):
                raise self.kind.name_taken(name)

    def _refuse_fallback(self, profile_id: str) -> None:
        """The fallback comes from the command line: it cannot be edited."""
        if self.fallback is not None and profile_id == self.fallback.id:
            raise self.kind.read_only()

    def _store_secret(self, profile_id: str, secret: str | None, *, announce: bool = True) -> None:
        """Set the secret, or with None (or ""), remove it.

        ``announce`` rewrites the profile file afterwards, so that other
        processes, which cache secrets, notice the change (see
        :mod:`pluma.server.storage.secrets`); a caller that writes the file next
        anyway passes False.
        """
        if secret:
            self.secrets.set(self.kind.secret_name(profile_id), secret)
        else:
            self.secrets.delete(self.kind.secret_name(profile_id))
        if announce:
            try:
                self._write(_count_key_change)
            except StoreError as exc:  # the key itself is stored: say what is late, not fail
                self.kind.log.warning(
                    "%s; other Pluma processes may use the previous key for up to %g s",
                    exc,
                    KEYRING_CACHE_SECONDS,
                )

    def _insert(self, profile: P, secret: str | None, activate: bool | None) -> P:
        """Add a validated profile. The first profile becomes active (or any,
        with ``activate=True``). The secret is stored first and taken back if
        the file cannot be written, so no secret outlives its profile."""

        def add(doc: dict[str, Any]) -> None:
            self._name_free(doc, profile.name)
            connections = doc.setdefault("connections", [])
            doc["version"] = 1
            connections.append(self.kind.to_json(profile))
            if activate or not doc.get("active") or len(connections) == 1:
                doc["active"] = profile.id

        if secret:
            self._store_secret(profile.id, secret, announce=False)  # the write below announces
        try:
            self._write(add)
        except BaseException:
            if secret:
                with contextlib.suppress(Exception):
                    self._store_secret(profile.id, None, announce=False)
            raise
        self.kind.log.info("%s %r (%s) added", self.kind.noun, profile.name, profile.id)
        return profile

    def revision(self, profile_id: str) -> int:
        """How many times the stored profile was edited (0 for the fallback or
        a profile never edited): what an edit names to be refused when stale."""
        self._refresh()
        for item in self._doc.get("connections", []):
            if item.get("id") == profile_id:
                return int(item.get("revision", 0))
        return 0

    def _revise(
        self,
        profile_id: str,
        revise: Callable[[P], P],
        *,
        name: str | None = None,
        secret: Any = UNSET,
        expected_revision: int | None = None,
    ) -> P:
        """Replace a stored profile by ``revise(current)``, in one
        read-modify-write, and count the revision. ``name``, when renaming, is
        checked to be free first; ``secret`` (unless :data:`UNSET`) is then set
        or cleared. An ``expected_revision`` that is not the stored one raises
        :class:`ProfileConflict` and changes nothing (optimistic versioning:
        two editors never silently overwrite each other)."""

        def edit(doc: dict[str, Any]) -> P:
            for item in doc.get("connections", []):
                if item.get("id") == profile_id:
                    current = int(item.get("revision", 0))
                    if expected_revision is not None and expected_revision != current:
                        raise ProfileConflict(
                            self.kind.noun, str(item.get("name")), expected_revision, current
                        )
                    if name is not None:
                        self._name_free(doc, name, except_id=profile_id)
                    updated = revise(self.kind.from_json(item))
                    item.clear()
                    item.update(self.kind.to_json(updated))
                    item["revision"] = current + 1
                    return updated
            raise self.kind.not_found(profile_id)

        updated = self._write(edit)
        if secret is not UNSET:
            self._store_secret(profile_id, secret)
        self.kind.log.info("%s %r (%s) updated", self.kind.noun, updated.name, updated.id)
        return updated

    def delete(self, profile_id: str) -> None:
        """Remove a profile and its secret."""
        if self.fallback is not None and profile_id == self.fallback.id and not self.list():
            raise self.kind.read_only()

        def remove(doc: dict[str, Any]) -> P:
            connections = doc.get("connections", [])
            for index, item in enumerate(connections):
                if item.get("id") == profile_id:
                    del connections[index]
                    if doc.get("active") == profile_id:
                        doc["active"] = connections[0]["id"] if connections else None
                    return self.kind.from_json(item)
            raise self.kind.not_found(profile_id)

        removed = self._write(remove)
        self._store_secret(profile_id, None)
        self.kind.log.info("%s %r (%s) removed", self.kind.noun, removed.name, removed.id)

    def activate(self, profile_id: str) -> P:
        """Make a stored profile the active one."""

        def choose(doc: dict[str, Any]) -> P:
            for item in doc.get("connections", []):
                if item.get("id") == profile_id:
                    doc["active"] = profile_id
                    return self.kind.from_json(item)
            raise self.kind.not_found(profile_id)

        chosen = self._write(choose)
        self.kind.log.info("%s %r (%s) is now active", self.kind.noun, chosen.name, chosen.id)
        return chosen


__all__ = [
    "NAME_MAX",
    "UNSET",
    "ConnectionsError",
    "ProfileInvalid",
    "ProfileKind",
    "ProfileRegistry",
    "StoredProfile",
    "check_base_url",
    "check_changes",
    "check_editable",
    "check_name",
    "check_secret",
    "check_text",
    "is_seconds",
    "new_id",
]
