"""The page's chat history in PostgreSQL, with the SQLite store's interface
(:class:`pluma.server.storage.conversations.ConversationStore`): the same
methods, summaries and errors, so routes do not know which one they use.

Messages are the pluma.llm message JSON in a ``JSONB`` column, so a stored
history replays through any adapter unchanged, thinking signatures included.
Each call is one transaction on a pooled connection; ``add_message`` locks
the conversation's row, so two instances appending to one conversation at
once both land, one after the other.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pluma import llm
from pluma.server.storage.conversations import (
    Conversation,
    ConversationNotFound,
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

    # -- writing -----------------------------------------------------------

    def create(
        self,
        title: str = "",
        system_prompt: str = "",
        model: str = "",
        connection: str = "",
    ) -> ConversationSummary:
        conversation_id = uuid.uuid4().hex
        with self.database.transaction() as conn:
            now = self._stamp(conn)
            conn.execute(
                "INSERT INTO conversations (id, title, title_is_auto, system_prompt, model,"
                " connection, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (conversation_id, title, not title, system_prompt, model, connection, now, now),
            )
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
            conn.execute(
                "INSERT INTO messages (conversation_id, position, data, created_at)"
                " SELECT %s, COALESCE(MAX(position) + 1, 0), %s, %s FROM messages"
                " WHERE conversation_id = %s",
                (conversation_id, Jsonb(data), now, conversation_id),
            )
            auto, current = row
            if auto and not current and title:
                conn.execute(
                    "UPDATE conversations SET title = %s, updated_at = %s WHERE id = %s",
                    (title, now, conversation_id),
                )
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
            conn.execute(
                "UPDATE conversations SET updated_at = %s WHERE id = %s",
                (self._stamp(conn), conversation_id),
            )
            return self._summary_in(conn, conversation_id)

    def insert(self, conversation: Conversation, *, title_is_auto: bool) -> None:
        """Store a whole conversation as it is, id and timestamps included
        (``pluma storage migrate``); the id must be new."""
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

    def counts(self) -> tuple[int, int]:
        """(conversations, messages) stored."""
        with self.database.transaction() as conn:
            row = conn.execute(
                "SELECT (SELECT COUNT(*) FROM conversations), (SELECT COUNT(*) FROM messages)"
            ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)
