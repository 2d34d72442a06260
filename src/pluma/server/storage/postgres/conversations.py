"""The page's chat history in PostgreSQL, with the SQLite store's interface
(:class:`pluma.server.storage.conversations.ConversationStore`): the same
methods, summaries and errors, so routes do not know which one they use.

Messages are the pluma.llm message JSON in a ``JSONB`` column, so a stored
history replays through any adapter unchanged, thinking signatures included.
They form a tree (``id``, ``parent_id``, the conversation's ``current_leaf``;
the rules are :mod:`pluma.server.storage.tree`'s, shared with SQLite).
Each call is one transaction on the database's one asynchronous pool
(:meth:`~pluma.server.storage.postgres.database.Database.run_sync`): the
interface stays synchronous, like SQLite's, because every caller runs it off
the event loop (FastAPI's thread pool, ``/api/chat`` through
``anyio.to_thread``, the CLI), and the query itself runs on the pool's own
loop. ``add_message`` locks the conversation's row, so two instances
appending to one conversation at once both land, one after the other.

Search: ``search_rows`` holds each title and message as a ``tsvector`` of
the words :mod:`pluma.server.storage.search` cuts (GIN-indexed, matched with
prefix ``to_tsquery``), kept in step by every write path through
:meth:`PgConversationStore._index_row`; rows go with their conversation
(``ON DELETE CASCADE``). Migration 3 leaves a ``search_backfill`` mark, and the
first store opened on the database indexes what was stored before it.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pluma import llm
from pluma.server.storage import search
from pluma.server.storage.conversations import (
    LEAF,
    SELECT_NEWEST_LEAF_BELOW,
    Conversation,
    ConversationNotFound,
    ConversationStore,
    ConversationSummary,
    Leaf,
    MessageNotFound,
    Parent,
    title_from,
)
from pluma.server.storage.postgres.database import Database
from pluma.server.storage.tree import MessageNode

_SELECT_NEWEST_LEAF_BELOW = SELECT_NEWEST_LEAF_BELOW.replace(
    ":conversation", "%(conversation)s"
).replace(":message", "%(message)s")

_SUMMARY_SQL = """
    SELECT c.id, c.title, c.system_prompt, c.model, c.connection, c.created_at,
           c.updated_at, (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id),
           c.settings
    FROM conversations c
"""


Conn = psycopg.AsyncConnection[Any]
"""The connection each transaction's ``work`` is given."""


class PgConversationStore:
    """Conversations in ``database`` (see the module docstring)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.path = "conversations (PostgreSQL)"
        self.searchable = True
        self._backfill()

    def _backfill(self) -> None:
        """Index the conversations stored before search existed, once: the
        mark is taken under a row lock, so of several processes starting
        together one indexes and the others find the mark gone."""

        async def work(conn: Conn) -> None:
            cur = await conn.execute(
                "SELECT 1 FROM storage_meta WHERE name = 'search_backfill' FOR UPDATE"
            )
            if await cur.fetchone() is None:
                return
            cur = await conn.execute("SELECT id, title FROM conversations")
            for conversation_id, title in await cur.fetchall():
                await self._index_row(conn, conversation_id, search.TITLE_KEY, title)
            async with conn.cursor() as messages:
                await messages.execute("SELECT conversation_id, id, data FROM messages")
                async for conversation_id, message_id, data in messages:
                    try:
                        text = search.message_text(llm.message_from_dict(data))
                    except (ValueError, TypeError):
                        continue
                    await self._index_row(conn, conversation_id, message_id, text)
            await conn.execute("DELETE FROM storage_meta WHERE name = 'search_backfill'")

        self.database.run_sync(work)

    def close(self) -> None:
        """Nothing of its own to close: the pool belongs to the database."""

    @staticmethod
    async def _fetchone(conn: Conn, sql: str, params: tuple[Any, ...] = ()) -> Any:
        """The first row ``sql`` returns, or None."""
        cur = await conn.execute(sql, params)
        return await cur.fetchone()

    @staticmethod
    async def _fetchall(conn: Conn, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        cur = await conn.execute(sql, params)
        return await cur.fetchall()

    @classmethod
    async def _stamp(cls, conn: Conn) -> int:
        """Unix ms, strictly after every stamp already stored, so "most recently
        updated first" has no ties even across instances in one millisecond."""
        row = await cls._fetchone(conn, "SELECT COALESCE(MAX(updated_at), 0) FROM conversations")
        last = int(row[0]) if row else 0
        return max(int(time.time() * 1000), last + 1)

    @staticmethod
    def _summary(row: Any) -> ConversationSummary:
        settings = row[8] if isinstance(row[8], dict) else {}
        (cid, title, system, model, connection, created, updated, count) = row[:8]
        return ConversationSummary(
            cid, title, system, model, connection, created, updated, count, settings
        )

    async def _summary_in(self, conn: Conn, conversation_id: str) -> ConversationSummary:
        row = await self._fetchone(conn, _SUMMARY_SQL + " WHERE c.id = %s", (conversation_id,))
        if row is None:
            raise ConversationNotFound(conversation_id)
        return self._summary(row)

    # -- reading -----------------------------------------------------------

    def list(self) -> list[ConversationSummary]:
        async def work(conn: Conn) -> list[Any]:
            return await self._fetchall(conn, _SUMMARY_SQL + " ORDER BY c.updated_at DESC, c.id")

        return [self._summary(r) for r in self.database.run_sync(work)]

    def exists(self, conversation_id: str) -> bool:
        async def work(conn: Conn) -> bool:
            return await self._exists_in(conn, conversation_id)

        return self.database.run_sync(work)

    async def _exists_in(self, conn: Conn, conversation_id: str) -> bool:
        row = await self._fetchone(
            conn, "SELECT 1 FROM conversations WHERE id = %s", (conversation_id,)
        )
        return row is not None

    def summary(self, conversation_id: str) -> ConversationSummary:
        async def work(conn: Conn) -> ConversationSummary:
            return await self._summary_in(conn, conversation_id)

        return self.database.run_sync(work)

    def get(self, conversation_id: str) -> Conversation:
        async def work(conn: Conn) -> tuple[ConversationSummary, Any, list[Any]]:
            summary = await self._summary_in(conn, conversation_id)
            leaf_row = await self._fetchone(
                conn, "SELECT current_leaf FROM conversations WHERE id = %s", (conversation_id,)
            )
            rows = await self._fetchall(
                conn,
                "SELECT id, parent_id, data, created_at FROM messages"
                " WHERE conversation_id = %s ORDER BY created_at, position, id",
                (conversation_id,),
            )
            return summary, leaf_row, rows

        summary, leaf_row, rows = self.database.run_sync(work)
        nodes = [
            MessageNode(node_id, parent, llm.message_from_dict(data, "message"), int(created))
            for node_id, parent, data, created in rows
        ]
        return Conversation.from_nodes(summary, nodes, leaf_row[0] if leaf_row else None)

    def search(self, query: str, limit: int = search.MAX_RESULTS) -> search.SearchHits:
        words = search.query_words(query)
        if not words:
            return []

        async def work(conn: Conn) -> search.SearchHits:
            rows = await self._fetchall(
                conn,
                """
                WITH q AS (SELECT to_tsquery('simple', %s) AS q),
                hits AS (
                    SELECT s.conversation_id AS cid, s.message_id AS key,
                           ts_rank(s.words, q.q) AS score
                    FROM search_rows s, q WHERE s.words @@ q.q
                ), ranked AS (
                    SELECT cid, key, score,
                           bool_or(key = '') OVER (PARTITION BY cid) AS title_hit,
                           row_number() OVER (PARTITION BY cid
                                              ORDER BY key = '', score DESC, key) AS n
                    FROM hits
                )
                SELECT r.cid, r.key FROM ranked r JOIN conversations c ON c.id = r.cid
                WHERE r.n = 1
                ORDER BY r.title_hit DESC, r.key = '', r.score DESC, c.updated_at DESC, c.id
                LIMIT %s
                """,
                (search.tsquery(words), max(1, min(limit, search.MAX_RESULTS))),
            )
            found: search.SearchHits = []
            for conversation_id, key in rows:
                summary = await self._summary_in(conn, conversation_id)
                if key == search.TITLE_KEY:
                    text, message_id = summary.title, None
                else:
                    stored = await self._fetchone(
                        conn, "SELECT data FROM messages WHERE id = %s", (key,)
                    )
                    text = search.message_text(llm.message_from_dict(stored[0])) if stored else ""
                    message_id = key
                found.append(search.SearchHit(summary, search.snippet(text, words), message_id))
            return found

        return self.database.run_sync(work)

    def title_is_auto(self, conversation_id: str) -> bool:
        """Whether the title is still the automatic one (exports carry it)."""

        async def work(conn: Conn) -> Any:
            return await self._fetchone(
                conn, "SELECT title_is_auto FROM conversations WHERE id = %s", (conversation_id,)
            )

        row = self.database.run_sync(work)
        if row is None:
            raise ConversationNotFound(conversation_id)
        return bool(row[0])

    # -- writing -----------------------------------------------------------

    @staticmethod
    async def _index_row(conn: Conn, conversation_id: str, key: str, text: str) -> None:
        """Make ``search_rows`` hold ``text`` for ``key`` of the conversation (a
        message id, or :data:`~pluma.server.storage.search.TITLE_KEY` for its
        title). Every write path calls this inside its own transaction; rows
        go with their conversation (``ON DELETE CASCADE``)."""
        words = search.words(text)
        if not words:
            await conn.execute(
                "DELETE FROM search_rows WHERE conversation_id = %s AND message_id = %s",
                (conversation_id, key),
            )
            return
        await conn.execute(
            "INSERT INTO search_rows (conversation_id, message_id, words)"
            " VALUES (%s, %s, to_tsvector('simple', %s))"
            " ON CONFLICT (conversation_id, message_id) DO UPDATE SET words = EXCLUDED.words",
            (conversation_id, key, words),
        )

    async def _index_message(
        self, conn: Conn, conversation_id: str, key: str, message: llm.Message
    ) -> None:
        await self._index_row(conn, conversation_id, key, search.message_text(message))

    new_id = staticmethod(ConversationStore.new_id)

    def create(
        self,
        title: str = "",
        system_prompt: str = "",
        model: str = "",
        connection: str = "",
        settings: dict[str, Any] | None = None,
    ) -> ConversationSummary:
        conversation_id = self.new_id()

        async def work(conn: Conn) -> ConversationSummary:
            now = await self._stamp(conn)
            await conn.execute(
                "INSERT INTO conversations (id, title, title_is_auto, system_prompt, model,"
                " connection, created_at, updated_at, settings)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    conversation_id,
                    title,
                    not title,
                    system_prompt,
                    model,
                    connection,
                    now,
                    now,
                    Jsonb(settings or {}),
                ),
            )
            await self._index_row(conn, conversation_id, search.TITLE_KEY, title)
            return await self._summary_in(conn, conversation_id)

        return self.database.run_sync(work)

    def update(
        self,
        conversation_id: str,
        *,
        title: str | None = None,
        system_prompt: str | None = None,
        model: str | None = None,
        connection: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> ConversationSummary:
        sets: list[str] = []
        values: list[Any] = []
        if title is not None:
            sets += ["title = %s", "title_is_auto = %s"]
            values += [title, not title]
        for name, value in (
            ("system_prompt", system_prompt),
            ("model", model),
            ("connection", connection),
        ):
            if value is not None:
                sets.append(f"{name} = %s")
                values.append(value)
        if settings is not None:
            sets.append("settings = %s")
            values.append(Jsonb(settings))
        sets.append("updated_at = %s")

        async def work(conn: Conn) -> ConversationSummary:
            stamp = await self._stamp(conn)
            cur = await conn.execute(
                f"UPDATE conversations SET {', '.join(sets)} WHERE id = %s",
                (*values, stamp, conversation_id),
            )
            if cur.rowcount == 0:
                raise ConversationNotFound(conversation_id)
            if title is not None:
                await self._index_row(conn, conversation_id, search.TITLE_KEY, title)
            return await self._summary_in(conn, conversation_id)

        return self.database.run_sync(work)

    def rename(self, conversation_id: str, title: str) -> ConversationSummary:
        return self.update(conversation_id, title=title)

    def delete(self, conversation_id: str) -> bool:
        async def work(conn: Conn) -> bool:
            cur = await conn.execute("DELETE FROM conversations WHERE id = %s", (conversation_id,))
            return cur.rowcount > 0

        return self.database.run_sync(work)

    def add_message(
        self,
        conversation_id: str,
        message: llm.Message,
        parent_id: Parent = LEAF,
        *,
        follow: bool = False,
    ) -> str:
        data = llm.message_to_dict(message)
        title = title_from(message)
        message_id: str = self.new_id()

        async def work(conn: Conn) -> None:
            row = await self._fetchone(
                conn,
                "SELECT title_is_auto, title, current_leaf FROM conversations"
                " WHERE id = %s FOR UPDATE",
                (conversation_id,),
            )
            if row is None:
                raise ConversationNotFound(conversation_id)
            auto, current, leaf = row
            parent = leaf if isinstance(parent_id, Leaf) else parent_id
            depth = 0
            if parent is not None:
                found = await self._fetchone(
                    conn,
                    "SELECT position FROM messages WHERE id = %s AND conversation_id = %s",
                    (parent, conversation_id),
                )
                if found is None:
                    raise MessageNotFound(conversation_id, parent)
                depth = int(found[0]) + 1
            now = await self._stamp(conn)
            await conn.execute(
                "INSERT INTO messages (id, conversation_id, parent_id, position, data, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (message_id, conversation_id, parent, depth, Jsonb(data), now),
            )
            await self._index_message(conn, conversation_id, message_id, message)
            new_leaf = message_id
            if follow and leaf != parent:
                sibling = await self._fetchone(
                    conn,
                    "SELECT 1 FROM messages WHERE id = %s AND parent_id IS NOT DISTINCT FROM %s",
                    (leaf, parent),
                )
                new_leaf = message_id if sibling is not None else leaf
            new_title = title if auto and not current and title else current
            await conn.execute(
                "UPDATE conversations SET title = %s, current_leaf = %s, updated_at = %s"
                " WHERE id = %s",
                (new_title, new_leaf, now, conversation_id),
            )
            if new_title != current:
                await self._index_row(conn, conversation_id, search.TITLE_KEY, new_title)

        self.database.run_sync(work)
        return message_id

    def select_branch(self, conversation_id: str, message_id: str) -> Conversation:
        async def work(conn: Conn) -> None:
            cur = await conn.execute(
                _SELECT_NEWEST_LEAF_BELOW, {"conversation": conversation_id, "message": message_id}
            )
            if cur.rowcount == 0:
                if not await self._exists_in(conn, conversation_id):
                    raise ConversationNotFound(conversation_id)
                raise MessageNotFound(conversation_id, message_id)

        self.database.run_sync(work)
        return self.get(conversation_id)

    def show(self, conversation_id: str, message_id: str) -> None:
        """Make ``message_id`` the current leaf exactly (a regenerated answer
        then follows it)."""

        async def work(conn: Conn) -> None:
            cur = await conn.execute(
                "UPDATE conversations SET current_leaf = %s WHERE id = %s"
                " AND EXISTS (SELECT 1 FROM messages WHERE id = %s AND conversation_id = %s)",
                (message_id, conversation_id, message_id, conversation_id),
            )
            if cur.rowcount == 0:
                if not await self._exists_in(conn, conversation_id):
                    raise ConversationNotFound(conversation_id)
                raise MessageNotFound(conversation_id, message_id)

        self.database.run_sync(work)

    def truncate(self, conversation_id: str, keep: int) -> ConversationSummary:
        if keep < 0:
            raise ValueError("keep must be 0 or more")
        path = self.get(conversation_id).path()
        if keep >= len(path):
            return self.summary(conversation_id)
        leaf = path[keep - 1].node.id if keep else None

        async def work(conn: Conn) -> ConversationSummary:
            cur = await conn.execute(
                "UPDATE conversations SET current_leaf = %s, updated_at = %s WHERE id = %s",
                (leaf, await self._stamp(conn), conversation_id),
            )
            if cur.rowcount == 0:
                raise ConversationNotFound(conversation_id)
            return await self._summary_in(conn, conversation_id)

        return self.database.run_sync(work)

    def insert(self, conversation: Conversation, *, title_is_auto: bool) -> ConversationSummary:
        """Store a whole conversation as it is, ids, branches and timestamps
        included (``pluma storage migrate``; imports give it new ids first);
        the ids must be new."""
        summary = conversation.summary
        nodes, leaf = conversation.tree()
        depth: dict[str | None, int] = {None: -1}
        rows = []
        for node in nodes:  # creation order: a parent always comes before its children
            depth[node.id] = depth.get(node.parent_id, -1) + 1
            rows.append(
                (
                    node.id,
                    summary.id,
                    node.parent_id,
                    depth[node.id],
                    Jsonb(llm.message_to_dict(node.message)),
                    node.created_at,
                )
            )

        async def work(conn: Conn) -> ConversationSummary:
            await conn.execute(
                "INSERT INTO conversations (id, title, title_is_auto, system_prompt, model,"
                " connection, created_at, updated_at, current_leaf, settings)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    summary.id,
                    summary.title,
                    title_is_auto,
                    summary.system_prompt,
                    summary.model,
                    summary.connection,
                    summary.created_at,
                    summary.updated_at,
                    leaf,
                    Jsonb(summary.settings),
                ),
            )
            async with conn.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO messages (id, conversation_id, parent_id, position, data,"
                    " created_at) VALUES (%s, %s, %s, %s, %s, %s)",
                    rows,
                )
            await self._index_row(conn, summary.id, search.TITLE_KEY, summary.title)
            for node in nodes:
                await self._index_message(conn, summary.id, node.id, node.message)
            return await self._summary_in(conn, summary.id)

        return self.database.run_sync(work)

    def counts(self) -> tuple[int, int]:
        """(conversations, messages) stored."""

        async def work(conn: Conn) -> Any:
            return await self._fetchone(
                conn,
                "SELECT (SELECT COUNT(*) FROM conversations), (SELECT COUNT(*) FROM messages)",
            )

        row = self.database.run_sync(work)
        return (int(row[0]), int(row[1])) if row else (0, 0)
