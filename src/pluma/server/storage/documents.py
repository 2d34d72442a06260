"""A JSON document on disk that several processes can edit safely.

Why each piece is here:

| concern                          | how                                                        |
|----------------------------------|------------------------------------------------------------|
| a crash mid-write (kill -9)      | write a temp file in the same directory, fsync it, then    |
|                                  | ``os.replace`` it over the document (atomic on POSIX), and |
|                                  | fsync the directory so the rename itself is durable        |
| two processes editing at once    | every read-modify-write holds a cross-process file lock    |
|                                  | (``<name>.lock``, via ``filelock``) from read to rename    |
| a corrupt or unreadable document | never overwritten: :meth:`JsonStore.recover` moves it to   |
|                                  | ``<name>.corrupt-<timestamp>`` and reports path and reason |
| secrets in the file (fallback    | ``mode`` sets the permissions of every version written     |
| secret store)                    | (0600 there)                                               |
| temp files of a writer killed    | every write removes them first (the lock is held, so no    |
| mid-write                        | live writer owns one), and :meth:`JsonStore.sweep` at start|

The image connection manager and the secret-store fallback reuse this class.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import filelock

from pluma.server.errors import PlumaError

T = TypeVar("T")


class StoreError(PlumaError):
    """The document could not be read or written; the message says which file
    and why."""

    status = 500
    kind = "api_error"
    code = "store_error"


class CorruptStoreError(StoreError):
    """The document exists but is not valid JSON of the expected shape."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path} is unreadable: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StoreProblem:
    """A corrupt document found and moved aside."""

    path: Path
    reason: str
    kept_at: Path | None

    def describe(self) -> str:
        where = f"; the bad file was kept as {self.kept_at}" if self.kept_at else ""
        return f"{self.path} could not be read ({self.reason}){where}; starting with an empty one"


class DocumentStore(Protocol):
    """What the profile registries need of a document store: this module's
    :class:`JsonStore`, or the PostgreSQL one
    (:class:`~pluma.server.storage.postgres.documents.PgDocumentStore`)."""

    @property
    def path(self) -> Any:
        """What messages call the document (a file path, or a table row)."""
        ...

    @property
    def remote(self) -> bool:
        """True when a read crosses the network (PostgreSQL): the registries
        then read only through :meth:`aread`/:meth:`astat_key` on an event
        loop, never blocking it."""
        ...

    def read(self) -> Any: ...

    async def aread(self) -> Any: ...

    async def astat_key(self) -> tuple[int, int, int] | None: ...

    def stat_key(self) -> tuple[int, int, int] | None: ...

    def update(self, mutate: Callable[[Any], T]) -> T: ...

    def write(self, doc: Any) -> None: ...

    def recover(self) -> tuple[Any, StoreProblem | None]: ...

    def sweep(self) -> int: ...


class JsonStore:
    """One JSON document (``path``) holding a value of ``kind`` (dict by default).

    Every method takes the lock itself; none keeps the document in memory, so
    changes made by other processes are always seen.

    The async readers run the sync ones in place: a ``stat`` and a read of a
    small local file cost microseconds, less than handing them to a thread.
    """

    remote = False

    def __init__(
        self,
        path: Path,
        *,
        default: Callable[[], Any] = dict,
        kind: type = dict,
        mode: int = 0o644,
        lock_timeout: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self._default = default
        self._kind = kind
        self._mode = mode
        self._lock = filelock.FileLock(str(self.path) + ".lock", timeout=lock_timeout)

    # -- reading -----------------------------------------------------------

    def read(self) -> Any:
        """The document, or the default when the file does not exist yet.

        Raises :class:`CorruptStoreError` when it exists but cannot be parsed.
        """
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return self._default()
        except OSError as exc:
            raise CorruptStoreError(self.path, exc.strerror or str(exc)) from None
        return self._parse(raw)

    async def aread(self) -> Any:
        return self.read()

    async def astat_key(self) -> tuple[int, int, int] | None:
        return self.stat_key()

    def _parse(self, raw: bytes) -> Any:
        try:
            value = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorruptStoreError(self.path, f"not valid JSON: {exc}") from None
        if not isinstance(value, self._kind):
            raise CorruptStoreError(
                self.path,
                f"expected a JSON {_json_kind(self._kind)}, found {_json_kind(type(value))}",
            )
        return value

    def stat_key(self) -> tuple[int, int, int] | None:
        """Changes whenever the file is replaced (cheap change detection)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    # -- writing -----------------------------------------------------------

    def update(self, mutate: Callable[[Any], T]) -> T:
        """Read, let ``mutate`` change the document in place, write it back,
        all under the lock. If ``mutate`` raises, nothing is written.

        A corrupt document raises :class:`CorruptStoreError` rather than being
        replaced; call :meth:`recover` to move it aside first.
        """
        with self._lock:
            doc = self.read()
            before = copy.deepcopy(doc)
            result = mutate(doc)
            if doc != before or not self.path.exists():
                self._sweep_locked()
                self._write(doc)
            return result

    def write(self, doc: Any) -> None:
        with self._lock:
            self._sweep_locked()
            self._write(doc)

    def recover(self) -> tuple[Any, StoreProblem | None]:
        """Read the document; when it is corrupt, move it aside and return the
        default together with a description of what happened."""
        try:
            return self.read(), None
        except CorruptStoreError:
            pass
        with self._lock:
            try:  # another process may have recovered it meanwhile
                return self.read(), None
            except CorruptStoreError as exc:
                kept = self._quarantine()
                return self._default(), StoreProblem(self.path, exc.reason, kept)

    def sweep(self) -> int:
        """Remove temp files left by a writer that died mid-write (kill -9,
        power loss). Safe while others run: writers only hold a temp file
        while holding the lock, which this takes too. Returns how many."""
        with self._lock:
            return self._sweep_locked()

    def _sweep_locked(self) -> int:
        removed = 0
        for leftover in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                leftover.unlink()
                removed += 1
        return removed

    def _quarantine(self) -> Path | None:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        try:
            os.replace(self.path, target)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(
                f"{self.path} is corrupt and could not be moved aside to {target}: {exc.strerror}"
            ) from None
        return target

    def _write(self, doc: Any) -> None:
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            data = json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=False).encode() + b"\n"
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        except OSError as exc:
            raise StoreError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        try:
            with os.fdopen(fd, "wb") as handle:
                if hasattr(os, "fchmod"):  # POSIX; mkstemp already made it 0600
                    os.fchmod(handle.fileno(), self._mode)
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(exc, OSError):
                raise StoreError(f"cannot write {self.path}: {exc.strerror or exc}") from None
            raise
        _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _json_kind(kind: type) -> str:
    return {
        dict: "object",
        list: "array",
        str: "string",
        int: "number",
        float: "number",
        bool: "boolean",
        type(None): "null",
    }.get(kind, kind.__name__)
