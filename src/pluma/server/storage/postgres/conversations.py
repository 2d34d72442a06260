"""The page's chat history in PostgreSQL, with the SQLite store's interface
(:class:`pluma.server.storage.conversations.ConversationStore`): the same
methods, summaries and errors, so routes do not know which one they use.

Messages are the pluma.llm message JSON in a ``JSONB`` column, so a stored
history replays through any adapter unchanged, thinking signatures included.
Each call is one transaction on a pooled connection; ``add_message`` locks
the conversation's row, so two instances appending to one conversation at
once both land, one after the other.

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
    Conversation,
    ConversationNotFound,
    ConversationStore,
    ConversationSummary,
    title_from,
)
from pluma.server.storage.postgres.database import Database

_SUMMARY_SQL = """
    SELECT c.id, c.title, c.system_prompt, c.model, c.connection, c.created_at,
           c.updated_at, (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id)
    FROM conversations c
"""


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
        with self.database.transaction() as conn:
            mark = conn.execute(
                "SELECT 1 FROM storage_meta WHERE name = 'search_backfill' FOR UPDATE"
            ).fetchone()
            if mark is None:
                return
            for conversation_id, title in conn.execute("SELECT id, title FROM conversations"):
                self._index_row(conn, conversation_id, search.TITLE_POSITION, title)
            with conn.cursor() as cur:
                cur.execute("SELECT conversation_id, position, data FROM messages")
                for conversation_id, position, data in cur:
                    try:
                        text = search.message_text(llm.message_from_dict(data))
                    except (ValueError, TypeError):
                        continue
                    self._index_row(conn, conversation_id, position, text)
            conn.execute("DELETE FROM storage_meta WHERE name = 'search_backfill'")

    def close(self) -> None:
        """Nothing of its own to close: the pool belongs to the database."""

    @staticmethod
    def _stamp(conn: psycopg.Connection) -> int:
        """Unix ms, strictly after every stamp already stored, so "most recently
        updated first" has no ties even across instances in one millisecond."""
        row = conn.execute("SELECT COALESCE(MAX(updated_at), 0) FROM conversations").fetchone()
        last = int(row[0]) if row else 0
        return max(int(time.time() * 1000), last + 1)

    @staticmethod
    def _summary(row: Any) -> ConversationSummary:
        return ConversationSummary(*row)

    def _summary_in(self, conn: psycopg.Connection, conversation_id: str) -> ConversationSummary:
        row = conn.execute(_SUMMARY_SQL + " WHERE c.id = %s", (conversation_id,)).fetchone()
        if row is None:
            raise ConversationNotFound(conversation_id)
        return self._summary(row)

    # -- reading -----------------------------------------------------------

    def list(self) -> list[ConversationSummary]:
        with self.database.transaction() as conn:
            rows = conn.execute(_SUMMARY_SQL + " ORDER BY c.updated_at DESC, c.id").fetchall()
        return [self._summary(r) for r in rows]

    def exists(self, conversation_id: str) -> bool:
        with self.database.transaction() as conn:
            row = conn.execute(
                "SELECT 1 FROM conversations WHERE id = %s", (conversation_id,)
            ).fetchone()
        return row is not None

    def summary(self, conversation_id: str) -> ConversationSummary:
        with self.database.transaction() as conn:
            return self._summary_in(conn, conversation_id)

    def get(self, conversation_id: str) -> Conversation:
        with self.database.transaction() as conn:
            summary = self._summary_in(conn, conversation_id)
            rows = conn.execute(
                "SELECT data FROM messages WHERE conversation_id = %s ORDER BY position",
                (conversation_id,),
            ).fetchall()
        messages = [llm.message_from_dict(data, f"messages[{i}]") for i, (data,) in enumerate(rows)]
        return Conversation(summary, messages)

    def search(self, query: str, limit: int = search.MAX_RESULTS) -> search.SearchHits:
        words = search.query_words(query)
        if not words:
            return []
        with self.database.transaction() as conn:
            rows = conn.execute(
                """
                WITH q AS (SELECT to_tsquery('simple', %s) AS q),
                hits AS (
                    SELECT s.conversation_id AS cid, s.position AS pos,
                           ts_rank(s.words, q.q) AS score
                    FROM search_rows s, q WHERE s.words @@ q.q
                ), ranked AS (
                    SELECT cid, pos, score,
                           bool_or(pos = -1) OVER (PARTITION BY cid) AS title_hit,
                           row_number() OVER (PARTITION BY cid
                                              ORDER BY pos = -1, score DESC, pos) AS n
                    FROM hits
                )
                SELECT r.cid, r.pos FROM ranked r JOIN conversations c ON c.id = r.cid
                WHERE r.n = 1
                ORDER BY r.title_hit DESC, r.pos = -1, r.score DESC, c.updated_at DESC, c.id
                LIMIT %s
                """,
                (search.tsquery(words), max(1, min(limit, search.MAX_RESULTS))),
            ).fetchall()
            found: search.SearchHits = []
            for conversation_id, position in rows:
                summary = self._summary_in(conn, conversation_id)
                if position == search.TITLE_POSITION:
                    text, index = summary.title, None
                else:
                    stored = conn.execute(
                        "SELECT data FROM messages WHERE conversation_id = %s AND position = %s",
                        (conversation_id, position),
                    ).fetchone()
                    text = search.message_text(llm.message_from_dict(stored[0])) if stored else ""
                    index = position
                found.append(search.SearchHit(summary, search.snippet(text, words), index))
        return found

    def title_is_auto(self, conversation_id: str) -> bool:
        """Whether the title is still the automatic one (exports carry it)."""
        with self.database.transaction() as conn:
            row = conn.execute(
                "SELECT title_is_auto FROM conversations WHERE id = %s", (conversation_id,)
            ).fetchone()
        if row is None:
            raise ConversationNotFound(conversation_id)
        return bool(row[0])

    # -- writing -----------------------------------------------------------

    @staticmethod
    def _index_row(
        conn: psycopg.Connection, conversation_id: str, position: int, text: str
    ) -> None:
        """Make ``search_rows`` hold ``text`` as row ``position`` of the
        conversation (-1: its title). Every write path calls this (or
        :meth:`_unindex`) inside its own transaction."""
        words = search.words(text)
        if not words:
            conn.execute(
                "DELETE FROM search_rows WHERE conversation_id = %s AND position = %s",
                (conversation_id, position),
            )
            return
        conn.execute(
            "INSERT INTO search_rows (conversation_id, position, words)"
            " VALUES (%s, %s, to_tsvector('simple', %s))"
            " ON CONFLICT (conversation_id, position) DO UPDATE SET words = EXCLUDED.words",
            (conversation_id, position, words),
        )

    def _index_message(
        self, conn: psycopg.Connection, conversation_id: str, position: int, message: llm.Message
    ) -> None:
        self._index_row(conn, conversation_id, position, search.message_text(message))

    @staticmethod
    def _unindex(conn: psycopg.Connection, conversation_id: str, position: int) -> None:
        """Drop the conversation's index rows from ``position`` on."""
        conn.execute(
            "DELETE FROM search_rows WHERE conversation_id = %s AND position >= %s",
            (conversation_id, position),
        )

    new_id = staticmethod(ConversationStore.new_id)

    def create(
        self,
        title: str = "",
        system_prompt: str = "",
        model: str = "",
        connection: str = "",
    ) -> ConversationSummary:
        conversation_id = self.new_id()
        with self.database.transaction() as conn:
            now = self._stamp(conn)
            conn.execute(
                "INSERT INTO conversations (id, title, title_is_auto, system_prompt, model,"
                " connection, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (conversation_id, title, not title, system_prompt, model, connection, now, now),
            )
            self._index_row(conn, conversation_id, search.TITLE_POSITION, title)
            return self._summary_in(conn, conversation_id)

    def update(
        self,
        conversation_id: str,
        *,
        title: str | None = None,
        system_prompt: str | None = None,
        model: str | None = None,
        connection: str | None = None,
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
        sets.append("updated_at = %s")
        with self.database.transaction() as conn:
            values.append(self._stamp(conn))
            cur = conn.execute(
                f"UPDATE conversations SET {', '.join(sets)} WHERE id = %s",
                (*values, conversation_id),
            )
            if cur.rowcount == 0:
                raise ConversationNotFound(conversation_id)
            if title is not None:
                self._index_row(conn, conversation_id, search.TITLE_POSITION, title)
            return self._summary_in(conn, conversation_id)

    def rename(self, conversation_id: str, title: str) -> ConversationSummary:
        return self.update(conversation_id, title=title)

    def delete(self, conversation_id: str) -> bool:
        with self.database.transaction() as conn:
            cur = conn.execute("DELETE FROM conversations WHERE id = %s", (conversation_id,))
            return cur.rowcount > 0

    def add_message(self, conversation_id: str, message: llm.Message) -> None:
        data = llm.message_to_dict(message)
        title = title_from(message)
        with self.database.transaction() as conn:
            row = conn.execute(
                "SELECT title_is_auto, title FROM conversations WHERE id = %s FOR UPDATE",
                (conversation_id,),
            ).fetchone()
            if row is None:
                raise ConversationNotFound(conversation_id)
            now = self._stamp(conn)
            inserted = conn.execute(
                "INSERT INTO messages (conversation_id, position, data, created_at)"
                " SELECT %s, COALESCE(MAX(position) + 1, 0), %s, %s FROM messages"
                " WHERE conversation_id = %s RETURNING position",
                (conversation_id, Jsonb(data), now, conversation_id),
            ).fetchone()
            if inserted is not None:
                self._index_message(conn, conversation_id, int(inserted[0]), message)
            auto, current = row
            if auto and not current and title:
                conn.execute(
                    "UPDATE conversations SET title = %s, updated_at = %s WHERE id = %s",
                    (title, now, conversation_id),
                )
                self._index_row(conn, conversation_id, search.TITLE_POSITION, title)
            else:
                conn.execute(
                    "UPDATE conversations SET updated_at = %s WHERE id = %s",
                    (now, conversation_id),
                )

    def truncate(self, conversation_id: str, keep: int) -> ConversationSummary:
        if keep < 0:
            raise ValueError("keep must be 0 or more")
        with self.database.transaction() as conn:
            if (
                conn.execute(
                    "SELECT 1 FROM conversations WHERE id = %s FOR UPDATE", (conversation_id,)
                ).fetchone()
                is None
            ):
                raise ConversationNotFound(conversation_id)
            conn.execute(
                "DELETE FROM messages WHERE conversation_id = %s AND position >= %s",
                (conversation_id, min(keep, 2**31 - 1)),
            )
            self._unindex(conn, conversation_id, min(keep, 2**31 - 1))
            conn.execute(
                "UPDATE conversations SET updated_at = %s WHERE id = %s",
                (self._stamp(conn), conversation_id),
            )
            return self._summary_in(conn, conversation_id)

    def insert(self, conversation: Conversation, *, title_is_auto: bool) -> ConversationSummary:
        """Store a whole conversation as it is, id and timestamps included
        (``pluma storage migrate``; imports give it a new id first); the id
        must be new."""
        summary = conversation.summary
        with self.database.transaction() as conn:
            conn.execute(
                "INSERT INTO conversations (id, title, title_is_auto, system_prompt, model,"
                " connection, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    summary.id,
                    summary.title,
                    title_is_auto,
                    summary.system_prompt,
                    summary.model,
                    summary.connection,
                    summary.created_at,
                    summary.updated_at,
                ),
            )
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO messages (conversation_id, position, data, created_at)"
                    " VALUES (%s, %s, %s, %s)",
                    [
                        (summary.id, i, Jsonb(llm.message_to_dict(m)), summary.updated_at)
                        for i, m in enumerate(conversation.messages)
                    ],
                )
            self._index_row(conn, summary.id, search.TITLE_POSITION, summary.title)
            for position, message in enumerate(conversation.messages):
                self._index_message(conn, summary.id, position, message)
            return self._summary_in(conn, summary.id)

    def counts(self) -> tuple[int, int]:
        """(conversations, messages) stored."""
        with self.database.transaction() as conn:
            row = conn.execute(
                "SELECT (SELECT COUNT(*) FROM conversations), (SELECT COUNT(*) FROM messages)"
            ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)
