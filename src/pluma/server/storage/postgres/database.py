"""The pool and the schema.

Migrations are a numbered list applied in order at start, each in its own
transaction, under an advisory lock so several processes starting at once
apply each exactly once. ``schema_migrations`` records what is applied, and
every listed version missing there is applied (not only those above the
highest), so a version numbered below one already applied still runs. A
database newer than this Pluma (a version above any it knows) is refused
rather than written to.

| version | what it adds                                                        |
|---------|---------------------------------------------------------------------|
| 1       | ``documents`` (name, JSON, version), ``secrets`` (name, ciphertext),|
|         | ``storage_meta`` (the key check), ``conversations``, ``messages``    |
| 2       | messages form a tree: ``messages.id``, ``parent_id`` (the old list  |
|         | becomes one chain), ``conversations.current_leaf`` and ``settings`` |
|         | (generation settings JSON)                                          |
| 4       | ``images``: the gallery, one row per image (its record as JSONB and |
|         | its bytes as ``bytea``, stored out of line without compression)     |

Why the image bytes are a ``bytea`` column and not large objects: a
generated picture is 0.5–3 MB, far under ``bytea``'s 1 GB limit, and read
whole (the page shows it, the server sends it in one response). A ``bytea``
value is part of its row: one transaction saves a batch's records and bytes
together, ``DELETE`` frees them, and ``pg_dump`` and replication carry them
with nothing else to do. Large objects would need their own clean-up
(``lo_unlink``, ``vacuumlo``) and permissions for a streaming API a 3 MB
picture does not need. ``STORAGE EXTERNAL`` keeps PostgreSQL from trying to
compress PNG/JPEG/WebP data that is compressed already, and keeps the bytes
out of the row, so listing the gallery never reads them.

How the driver is used: psycopg 3's asynchronous API, one
:class:`~psycopg_pool.AsyncConnectionPool` per process. The pool lives on
an event loop of its own, in a daemon thread (``pluma-db``), because its
callers live on several loops and threads: the server's event loop awaits
:meth:`Database.run` (a slow or restarting database then holds up only the
requests waiting on it; every other request and stream keeps flowing), while
the CLI, FastAPI's thread pool and the start-up code call
:meth:`Database.run_sync`. A pool belongs to the loop that opened it, so one
loop of its own lets every caller share one pool.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from pluma.server.errors import PlumaError

log = logging.getLogger("pluma.storage")

T = TypeVar("T")
Work = Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]
"""What runs in one transaction: given the connection, returns the result."""

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE documents (
            name    TEXT PRIMARY KEY,
            doc     JSONB NOT NULL,
            version BIGINT NOT NULL
        );
        CREATE TABLE secrets (
            name       TEXT PRIMARY KEY,
            ciphertext BYTEA NOT NULL
        );
        CREATE TABLE storage_meta (
            name  TEXT PRIMARY KEY,
            value BYTEA NOT NULL
        );
        CREATE TABLE conversations (
            id            TEXT PRIMARY KEY,
            title         TEXT NOT NULL DEFAULT '',
            title_is_auto BOOLEAN NOT NULL DEFAULT TRUE,
            system_prompt TEXT NOT NULL DEFAULT '',
            model         TEXT NOT NULL DEFAULT '',
            connection    TEXT NOT NULL DEFAULT '',
            created_at    BIGINT NOT NULL,
            updated_at    BIGINT NOT NULL
        );
        CREATE TABLE messages (
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            position        INTEGER NOT NULL,
            data            JSONB NOT NULL,
            created_at      BIGINT NOT NULL,
            PRIMARY KEY (conversation_id, position)
        );
        CREATE INDEX conversations_by_update ON conversations (updated_at DESC, id);
        """,
    ),
    (
        2,
        """
        ALTER TABLE messages DROP CONSTRAINT messages_pkey;
        ALTER TABLE messages ADD COLUMN id TEXT, ADD COLUMN parent_id TEXT;
        UPDATE messages m SET position = r.depth
          FROM (SELECT conversation_id, position,
                       ROW_NUMBER() OVER (PARTITION BY conversation_id ORDER BY position) - 1
                         AS depth
                FROM messages) r
          WHERE m.conversation_id = r.conversation_id AND m.position = r.position;
        UPDATE messages SET id = md5(conversation_id || ':' || position::text);
        UPDATE messages m SET parent_id = p.id
          FROM messages p
          WHERE p.conversation_id = m.conversation_id AND p.position = m.position - 1;
        ALTER TABLE messages ALTER COLUMN id SET NOT NULL, ADD PRIMARY KEY (id);
        CREATE INDEX messages_by_conversation ON messages (conversation_id, created_at);
        ALTER TABLE conversations ADD COLUMN current_leaf TEXT,
          ADD COLUMN settings JSONB NOT NULL DEFAULT '{}';
        UPDATE conversations c SET current_leaf = (
          SELECT m.id FROM messages m WHERE m.conversation_id = c.id
          ORDER BY m.position DESC LIMIT 1);
        """,
    ),
    (
        4,
        """
        CREATE TABLE images (
            id        TEXT PRIMARY KEY,
            batch     TEXT NOT NULL,
            position  INTEGER NOT NULL,
            mime_type TEXT NOT NULL,
            record    JSONB NOT NULL,
            data      BYTEA NOT NULL
        );
        ALTER TABLE images ALTER COLUMN data SET STORAGE EXTERNAL;
        CREATE INDEX images_newest_first ON images (batch DESC, position);
        """,
    ),
)

# Any constant: the advisory lock migrations take (one migrator at a time).
_MIGRATION_LOCK = 0x706C756D61


class DatabaseError(PlumaError):
    """The database cannot be used; the message says why and what to do (a
    503: the request was not served, nothing was half-saved)."""

    status = 503
    kind = "api_error"
    code = "database_unavailable"


def safe_url(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class _LoopThread:
    """An event loop running in a daemon thread: the pool's home (see the
    module docstring)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="pluma-db", daemon=True)
        self.thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        if not self.thread.is_alive():
            self.loop.close()


def _unreachable(url: str, exc: BaseException) -> DatabaseError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DatabaseError(
        f"the database at {safe_url(url)} is unreachable ({first}); "
        "the request was not saved — retry when it is back"
    )


class Database:
    """An asynchronous connection pool on one database, its schema migrated
    on :meth:`open`. Await :meth:`run` on an event loop; call
    :meth:`run_sync` anywhere else."""

    def __init__(self, url: str, pool: AsyncConnectionPool, home: _LoopThread) -> None:
        self.url = url
        self.pool = pool
        self._home = home
        self._timeout = pool.timeout
        self._sync_pool: ConnectionPool | None = None
        self._sync_lock = threading.Lock()

    @classmethod
    def open(
        cls, url: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 10.0
    ) -> Database:
        """Connect and migrate. ``timeout`` bounds waiting for a connection,
        at start and for every later request."""
        if not url.startswith(("postgresql://", "postgres://")):
            raise DatabaseError(
                f"PLUMA_DATABASE_URL must be a postgresql:// URL, got {safe_url(url)!r}"
            )
        home = _LoopThread()

        async def start() -> AsyncConnectionPool:
            pool = AsyncConnectionPool(
                url,
                min_size=min_size,
                max_size=max_size,
                open=False,
                timeout=timeout,
                # A connection broken by a database restart is replaced, not handed out.
                check=AsyncConnectionPool.check_connection,
                name="pluma",
            )
            try:
                await pool.open(wait=True, timeout=timeout)
            except PoolTimeout:
                await pool.close()
                raise DatabaseError(
                    f"cannot connect to the database at {safe_url(url)} within {timeout:g} s; "
                    "check that it is running and that the URL (host, port, user, database) "
                    "is right"
                ) from None
            return pool

        try:
            pool = home.submit(start()).result()
        except BaseException:
            home.stop()
            raise
        database = cls(url, pool, home)
        try:
            database.migrate()
        except BaseException:
            database.close()
            raise
        return database

    def close(self) -> None:
        try:
            self._home.submit(self.pool.close()).result(timeout=30)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass
        finally:
            self._home.stop()
        with self._sync_lock:
            if self._sync_pool is not None:
                self._sync_pool.close()
                self._sync_pool = None

    async def _transaction(self, work: Work[T]) -> T:
        try:
            async with self.pool.connection() as conn, conn.transaction():
                return await work(conn)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise _unreachable(self.url, exc) from None

    async def run(self, work: Work[T]) -> T:
        """Run ``work`` in one transaction on a pooled connection (committed on
        success, rolled back on error), without blocking the caller's event
        loop. A connection failure becomes :class:`DatabaseError`."""
        return await asyncio.wrap_future(self._home.submit(self._transaction(work)))

    def run_sync(self, work: Work[T]) -> T:
        """:meth:`run` for code that is not on an event loop (the CLI, FastAPI's
        thread pool, start-up): waits in this thread."""
        if threading.current_thread() is self._home.thread:
            raise RuntimeError("run_sync called on the database's own loop; await run() there")
        return self._home.submit(self._transaction(work)).result()

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """One transaction on a synchronous connection, for the conversation
        store until it moves to :meth:`run` (its own small pool, opened on
        first use). Connection failures become :class:`DatabaseError`."""
        with self._sync_lock:
            if self._sync_pool is None:
                self._sync_pool = ConnectionPool(
                    self.url,
                    min_size=1,
                    max_size=4,
                    open=True,
                    timeout=self._timeout,
                    check=ConnectionPool.check_connection,
                    name="pluma-sync",
                )
            pool = self._sync_pool
        try:
            with pool.connection() as conn, conn.transaction():
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise _unreachable(self.url, exc) from None

    def schema_version(self) -> int:
        async def read(conn: psycopg.AsyncConnection[Any]) -> int:
            cur = await conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            row = await cur.fetchone()
            return int(row[0]) if row else 0

        return self.run_sync(read)

    def migrate(self) -> list[int]:
        """Apply the migrations this database lacks; the versions applied."""
        known = max(version for version, _ in MIGRATIONS)

        async def apply(conn: psycopg.AsyncConnection[Any]) -> list[int]:
            applied: list[int] = []
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            cur = await conn.execute("SELECT version FROM schema_migrations")
            done = {int(version) for (version,) in await cur.fetchall()}
            current = max(done, default=0)
            if current > known:
                raise DatabaseError(
                    f"the database at {safe_url(self.url)} has schema version {current}, newer "
                    f"than this Pluma knows ({known}); upgrade Pluma before using it"
                )
            for version, sql in MIGRATIONS:
                if version in done:
                    continue
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version) VALUES (%s)", (version,)
                )
                applied.append(version)
            return applied

        applied = self.run_sync(apply)
        if applied:
            log.info("database schema migrated to version %d", applied[-1])
        return applied
