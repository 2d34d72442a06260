"""JSON documents in PostgreSQL with the file store's interface.

The connection-profile registries are written against
:class:`~pluma.server.storage.documents.JsonStore`; this class answers the
same calls, so they work unchanged on a shared database:

| call           | here                                                              |
|----------------|-------------------------------------------------------------------|
| ``read``       | the row's JSON, or the default when there is none                 |
| ``update(f)``  | ``SELECT … FOR UPDATE``, ``f`` mutates, written back with the     |
|                | version + 1, in one transaction: concurrent updates from any      |
|                | process or machine queue on the row lock and none is lost         |
| ``write``      | replace the whole document (version + 1)                          |
| ``stat_key``   | ``(version, 0, 0)``: changes whenever any process writes          |
| ``recover``    | ``read`` (JSONB is always valid JSON; a wrong shape is reported)  |
| ``sweep``      | nothing to sweep (no temp files)                                  |
| ``aread``,     | ``read`` and ``stat_key`` for the event loop: awaited, so a slow  |
| ``astat_key``  | database holds up only the request that waits for it             |

Every call is a coroutine on the database's async pool
(:meth:`~pluma.server.storage.postgres.database.Database.run`); the
synchronous ones wait for it in the calling thread, for the CLI and the
thread-pool routes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg.types.json import Jsonb

from pluma.server.storage.documents import CorruptStoreError, StoreProblem
from pluma.server.storage.postgres.database import Database

T = TypeVar("T")
Conn = psycopg.AsyncConnection[Any]


class PgDocumentStore:
    """Document ``name`` in ``database``; ``path`` is what messages call it."""

    remote = True
    """Reads cross the network: the registries read it only from async code
    on the event loop (see :meth:`ProfileRegistry.refresh`)."""

    def __init__(
        self,
        database: Database,
        name: str,
        *,
        default: Callable[[], Any] = dict,
        kind: type = dict,
    ) -> None:
        self.database = database
        self.name = name
        self._default = default
        self._kind = kind
        self.path = f"{name} (PostgreSQL)"

    def _check(self, value: Any) -> Any:
        if not isinstance(value, self._kind):
            raise CorruptStoreError(
                self.path,  # type: ignore[arg-type]
                f"expected a JSON {self._kind.__name__}, found {type(value).__name__}",
            )
        return value

    async def _read(self, conn: Conn) -> Any:
        cur = await conn.execute("SELECT doc FROM documents WHERE name = %s", (self.name,))
        row = await cur.fetchone()
        return self._default() if row is None else self._check(row[0])

    async def _stat_key(self, conn: Conn) -> tuple[int, int, int] | None:
        cur = await conn.execute("SELECT version FROM documents WHERE name = %s", (self.name,))
        row = await cur.fetchone()
        return None if row is None else (int(row[0]), 0, 0)

    async def aread(self) -> Any:
        return await self.database.run(self._read)

    async def astat_key(self) -> tuple[int, int, int] | None:
        return await self.database.run(self._stat_key)

    def read(self) -> Any:
        return self.database.run_sync(self._read)

    def stat_key(self) -> tuple[int, int, int] | None:
        return self.database.run_sync(self._stat_key)

    def update(self, mutate: Callable[[Any], T]) -> T:
        async def change(conn: Conn) -> T:
            # Make the row exist so there is something to lock, then lock it.
            await conn.execute(
                "INSERT INTO documents (name, doc, version) VALUES (%s, %s, 0)"
                " ON CONFLICT (name) DO NOTHING",
                (self.name, Jsonb(self._default())),
            )
            cur = await conn.execute(
                "SELECT doc FROM documents WHERE name = %s FOR UPDATE", (self.name,)
            )
            row = await cur.fetchone()
            doc = self._check(row[0]) if row is not None else self._default()
            before = copy.deepcopy(doc)
            result = mutate(doc)
            if doc != before:
                await conn.execute(
                    "UPDATE documents SET doc = %s, version = version + 1 WHERE name = %s",
                    (Jsonb(doc), self.name),
                )
            return result

        return self.database.run_sync(change)

    def write(self, doc: Any) -> None:
        async def replace(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO documents (name, doc, version) VALUES (%s, %s, 1)"
                " ON CONFLICT (name) DO UPDATE SET doc = EXCLUDED.doc,"
                " version = documents.version + 1",
                (self.name, Jsonb(doc)),
            )

        self.database.run_sync(replace)

    def recover(self) -> tuple[Any, StoreProblem | None]:
        return self.read(), None

    def sweep(self) -> int:
        return 0
