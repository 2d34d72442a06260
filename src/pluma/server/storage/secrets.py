"""Where API keys live: the OS keyring, or an announced 0600 file.

Names inside service ``pluma``:

| name                    | holds                                   |
|-------------------------|-----------------------------------------|
| ``connection:<id>``     | the API key of chat connection ``<id>`` |
| ``image-connection:<id>``| the API key of image connection ``<id>``|

Choosing the store (``Settings.secrets`` / ``PLUMA_SECRETS``):

| mode      | store                                                                   |
|-----------|-------------------------------------------------------------------------|
| ``auto``  | the keyring backend ``keyring`` picks (``PYTHON_KEYRING_BACKEND`` is    |
|           | honoured); when none is usable (fail / null / an empty chainer, or the  |
|           | backend errors when probed) the file ``<datadir>/secrets.json`` (0600)  |
| ``keyring``| the keyring; refuse to start when it is unusable                       |
| ``file``  | the 0600 file, always                                                   |
| ``memory``| :class:`MemoryKeyring` (tests; lost when the process ends)              |

Using the file is never silent: :attr:`SecretStore.notice` says so and the
server logs it at start and shows it in ``/api/health``.

Reads are cached, because every chat request needs its connection's key and
a keyring read can cost milliseconds (the Secret Service backend opens a
D-Bus connection per call). What each cached value is kept until:

| store   | a cached value is dropped when                                          |
|---------|-------------------------------------------------------------------------|
| keyring | this process changes it; another Pluma process changes a key (it        |
|         | rewrites the profile file afterwards, and the registries then call      |
|         | :meth:`SecretStore.forget`); or it is :data:`KEYRING_CACHE_SECONDS` old   |
|         | (a key changed with other tools)                                        |
| file    | the file changes (its inode, size and mtime are compared on each read)  |

Values never leave this module except through :meth:`SecretStore.get`; errors
name the secret, never its value.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import keyring
import keyring.backend
import keyring.errors
from keyring.backends import chainer, fail, null
from keyring.compat import properties

from pluma.llm.redact import mask
from pluma.server.errors import PlumaError
from pluma.server.storage.documents import CorruptStoreError, JsonStore

SERVICE = "pluma"
KEYRING_CACHE_SECONDS = 30.0
MEMORY_KEYRING = "pluma.server.storage.secrets.MemoryKeyring"
log = logging.getLogger("pluma.secrets")


def connection_secret(profile_id: str) -> str:
    return f"connection:{profile_id}"


def image_connection_secret(profile_id: str) -> str:
    return f"image-connection:{profile_id}"


class SecretStoreError(PlumaError):
    """The secret store failed; the message says which secret and what to do."""

    status = 503
    kind = "api_error"
    code = "secret_store_unavailable"


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A process-local keyring for tests.

    Select it with ``PYTHON_KEYRING_BACKEND=pluma.server.storage.secrets.MemoryKeyring``
    (works for a subprocess server too) or ``--secrets memory``. All instances
    in one process share one dictionary, like a real keyring would.
    """

    @properties.classproperty
    def priority(cls) -> float:
        # Viable only when named in PYTHON_KEYRING_BACKEND: otherwise keyring's
        # automatic choice would prefer it to the "fail" backend on a headless
        # machine, and keys would silently vanish at exit.
        if os.environ.get("PYTHON_KEYRING_BACKEND") == MEMORY_KEYRING:
            return 0.5
        raise RuntimeError(
            "MemoryKeyring is for tests: select it with PYTHON_KEYRING_BACKEND or --secrets memory"
        )

    _data: ClassVar[dict[tuple[str, str], str]] = {}
    _guard: ClassVar[threading.Lock] = threading.Lock()

    def get_password(self, service: str, username: str) -> str | None:
        with self._guard:
            return self._data.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        with self._guard:
            self._data[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        with self._guard:
            try:
                del self._data[(service, username)]
            except KeyError:
                raise keyring.errors.PasswordDeleteError(username) from None


class SecretStore:
    """The interface the connection managers use."""

    backend: str = ""
    """Human-readable description, e.g. ``keyring (SecretService Keyring)``."""
    is_fallback: bool = False
    """True when keys are in the plain-file fallback rather than a keyring."""
    path: Path | None = None
    notice: str | None = None
    """A sentence to log at start and show in /api/health, when there is one."""
    process_local: bool = False
    """True when the keys live in this process only (the in-memory store):
    other processes (``--workers``) would not see them."""

    def get(self, name: str) -> str | None:
        raise NotImplementedError

    def set(self, name: str, value: str) -> None:
        raise NotImplementedError

    def delete(self, name: str) -> None:
        """Remove ``name``; removing a missing secret is not an error."""
        raise NotImplementedError

    def has(self, name: str) -> bool:
        return self.get(name) is not None

    def forget(self) -> None:
        """Drop cached values: another process may have changed them."""

    async def prefetch(self, names: list[str]) -> None:
        """Read ``names`` into the cache without blocking the event loop, so
        the :meth:`get` calls of the request that follows answer from memory.

        Only a store whose reads cross the network needs it (PostgreSQL). The
        keyring and the file stay synchronous: their reads are cached (see
        the module table) and local, so this does nothing for them."""

    def check(self) -> str | None:
        """What is wrong with the store, or None (cheap: no keyring call)."""
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "fallback": self.is_fallback,
            "path": str(self.path) if self.path else None,
            "notice": self.notice,
        }


class KeyringSecretStore(SecretStore):
    def __init__(
        self,
        backend: keyring.backend.KeyringBackend,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kr = backend
        self.backend = f"keyring ({_backend_name(backend)})"
        self.process_local = isinstance(backend, MemoryKeyring)
        self._clock = clock
        # name -> (value, when read); see the module table.
        self._cache: dict[str, tuple[str | None, float]] = {}

    def get(self, name: str) -> str | None:
        now = self._clock()
        cached = self._cache.get(name)
        if cached is not None and now - cached[1] < KEYRING_CACHE_SECONDS:
            return cached[0]
        try:
            value: str | None = _seen(self._kr.get_password(SERVICE, name))
        except keyring.errors.KeyringError as exc:
            raise SecretStoreError(
                f"the keyring could not read secret {name!r}: {type(exc).__name__}; "
                "unlock the keyring or start with --secrets file"
            ) from None
        self._cache[name] = (value, now)
        return value

    def forget(self) -> None:
        self._cache.clear()

    def set(self, name: str, value: str) -> None:
        if not value:
            raise SecretStoreError(f"refusing to store an empty secret for {name!r}")
        _seen(value)
        self._cache.pop(name, None)
        try:
            self._kr.set_password(SERVICE, name, value)
        except keyring.errors.KeyringError as exc:
            raise SecretStoreError(
                f"the keyring could not store secret {name!r}: {type(exc).__name__}; "
                "unlock the keyring or start with --secrets file"
            ) from None

    def delete(self, name: str) -> None:
        self._cache.pop(name, None)
        try:
            self._kr.delete_password(SERVICE, name)
        except keyring.errors.PasswordDeleteError:
            return
        except keyring.errors.KeyringError as exc:
            raise SecretStoreError(
                f"the keyring could not delete secret {name!r}: {type(exc).__name__}"
            ) from None


class FileSecretStore(SecretStore):
    """``{"service": "pluma", "secrets": {name: value}}`` in a 0600 file."""

    is_fallback = True

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._store = JsonStore(self.path, mode=0o600)
        self._seen_stat: tuple[int, int, int] | None = None
        self._seen_secrets: dict[str, str] = {}
        self.backend = f"file ({self.path})"
        self.notice = (
            f"no usable OS keyring: API keys are stored in {self.path} (readable only by "
            "this user, mode 0600); protect that file or install a keyring backend"
        )
        self._secrets_dir_ok()

    def _secrets_dir_ok(self) -> None:
        path = self._store.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.chmod(0o600)
        # A writer killed mid-write leaves its temp file, holding every key
        # as it was then (keys since replaced or deleted included).
        removed = self._store.sweep()
        if removed:
            log.info("removed %d temp file(s) a killed writer left next to %s", removed, path)

    def _all(self) -> dict[str, str]:
        stat = self._store.stat_key()
        if stat is not None and stat == self._seen_stat:
            return self._seen_secrets
        try:
            doc = self._store.read()
        except CorruptStoreError as exc:
            raise SecretStoreError(self._unreadable(exc.reason)) from None
        secrets = doc.get("secrets", {})
        secrets = secrets if isinstance(secrets, dict) else {}
        self._seen_stat, self._seen_secrets = stat, secrets
        return secrets

    def get(self, name: str) -> str | None:
        value = self._all().get(name)
        return _seen(value) if isinstance(value, str) else None

    def set(self, name: str, value: str) -> None:
        if not value:
            raise SecretStoreError(f"refusing to store an empty secret for {name!r}")
        _seen(value)

        def put(doc: dict[str, Any]) -> None:
            doc["service"] = SERVICE
            doc.setdefault("secrets", {})[name] = value

        self._update(put)

    def delete(self, name: str) -> None:
        def drop(doc: dict[str, Any]) -> None:
            doc.get("secrets", {}).pop(name, None)

        self._update(drop)

    def _update(self, change: Any) -> None:
        try:
            self._store.update(change)
        except CorruptStoreError as exc:
            raise SecretStoreError(self._unreadable(exc.reason)) from None

    def _unreadable(self, reason: str) -> str:
        return (
            f"the secret file {self.path} is unreadable ({reason}); Pluma leaves it untouched "
            "and connections that need a key fail until it is fixed: restore it from a "
            "backup, or move it aside and enter the API keys again"
        )

    def check(self) -> str | None:
        try:
            self._all()
        except SecretStoreError as exc:
            return str(exc)
        return None


def usable_keyring() -> tuple[keyring.backend.KeyringBackend | None, str]:
    """The configured keyring backend when it works, else None and why not."""
    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # a misconfigured PYTHON_KEYRING_BACKEND, say
        return None, f"the keyring could not be loaded ({type(exc).__name__}: {exc})"
    if isinstance(backend, fail.Keyring | null.Keyring):
        return None, f"no keyring backend is available ({_backend_name(backend)})"
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return None, "no keyring backend is available (empty chainer)"
    try:
        backend.get_password(SERVICE, "probe")
    except Exception as exc:
        return (
            None,
            f"the keyring backend {_backend_name(backend)} does not work ({type(exc).__name__})",
        )
    return backend, ""


def open_secret_store(mode: str, data_dir: Path) -> SecretStore:
    """The store for ``mode`` (see the module table)."""
    file_path = Path(data_dir) / "secrets.json"
    if mode == "file":
        store = FileSecretStore(file_path)
        store.notice = (
            f"API keys are stored in {file_path} (mode 0600) as configured (--secrets file)"
        )
        return store
    if mode == "memory":
        return KeyringSecretStore(MemoryKeyring())  # type: ignore[no-untyped-call]
    backend, why = usable_keyring()
    if backend is not None:
        return KeyringSecretStore(backend)
    if mode == "keyring":
        raise SecretStoreError(f"{why}; install a keyring backend or use --secrets file")
    store = FileSecretStore(file_path)
    store.notice = f"{why}. {store.notice}"
    return store


def _backend_name(backend: keyring.backend.KeyringBackend) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__name__}"


class RedactingFilter(logging.Filter):
    """Masks any secret handed to :meth:`add` in log records, with the same
    rule as every error message (:func:`pluma.llm.redact.mask`) — a last line
    of defence should a key ever reach a log message."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def add(self, secret: str | None) -> None:
        if secret:
            self._secrets.add(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        redacted = mask(message, self._secrets)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


redactor = RedactingFilter()
"""Every secret this process reads or stores is added here; ``pluma serve``
installs it on the log handler."""


def _seen(value: str | None) -> str | None:
    redactor.add(value)
    return value
