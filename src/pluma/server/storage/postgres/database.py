"""The pool and the schema.

Migrations are a numbered list applied in order at start, each in its own
transaction, under an advisory lock so several processes starting at once
apply each exactly once. ``schema_migrations`` records what is applied; a
database newer than this Pluma (a version it does not know) is refused rather
than written to.

| version | what it adds                                                        |
|---------|---------------------------------------------------------------------|
| 1       | ``documents`` (name, JSON, version), ``secrets`` (name, ciphertext),|
|         | ``storage_meta`` (the key check), ``conversations``, ``messages``    |
| 2       | messages form a tree: ``messages.id``, ``parent_id`` (the old list  |
|         | becomes one chain), ``conversations.current_leaf`` and ``settings`` |
|         | (generation settings JSON)                                          |
| 3       | ``search_rows`` (conversation, message id or '' for the title,     |
|         | ``words`` tsvector, GIN index) for search; a ``search_backfill``    |
|         | mark in ``storage_meta`` that makes the conversation store index    |
|         | what is already stored                                              |
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from pluma.server.errors import PlumaError

log = logging.getLogger("pluma.storage")

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
        3,
        """
        CREATE TABLE search_rows (
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            message_id      TEXT NOT NULL,
            words           TSVECTOR NOT NULL,
            PRIMARY KEY (conversation_id, message_id)
        );
        CREATE INDEX search_rows_words ON search_rows USING GIN (words);
        INSERT INTO storage_meta (name, value) VALUES ('search_backfill', '\\x01');
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


class Database:
    """A connection pool on one database, its schema migrated on :meth:`open`."""

    def __init__(self, url: str, pool: ConnectionPool) -> None:
        self.url = url
        self.pool = pool

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
        pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            timeout=timeout,
            # A connection broken by a database restart is replaced, not handed out.
            check=ConnectionPool.check_connection,
            name="pluma",
        )
        try:
            pool.open(wait=True, timeout=timeout)
        except PoolTimeout:
            pool.close()
            raise DatabaseError(
                f"cannot connect to the database at {safe_url(url)} within {timeout:g} s; check that "
                "it is running and that the URL (host, port, user, database) is right"
            ) from None
        database = cls(url, pool)
        try:
            database.migrate()
        except BaseException:
            pool.close()
            raise
        return database

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """One transaction on a pooled connection: committed on success,
        rolled back on error. Connection failures become :class:`DatabaseError`."""
        try:
            with self.pool.connection() as conn, conn.transaction():
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise DatabaseError(
                f"the database at {safe_url(self.url)} is unreachable "
                f"({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}); "
                "the request was not saved — retry when it is back"
            ) from None

    def schema_version(self) -> int:
        with self.transaction() as conn:
            row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
        return int(row[0]) if row else 0

    def migrate(self) -> list[int]:
        """Apply the migrations this database lacks; the versions applied."""
        applied: list[int] = []
        known = max(version for version, _ in MIGRATIONS)
        with self.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
            current = int(row[0]) if row else 0
            if current > known:
                raise DatabaseError(
                    f"the database at {safe_url(self.url)} has schema version {current}, newer "
                    f"than this Pluma knows ({known}); upgrade Pluma before using it"
                )
            for version, sql in MIGRATIONS:
                if version <= current:
                    continue
                conn.execute(sql)
                conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
                applied.append(version)
        if applied:
            log.info("database schema migrated to version %d", applied[-1])
        return applied
