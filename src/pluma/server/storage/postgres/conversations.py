"""The page's chat history in PostgreSQL, with the SQLite store's interface
(:class:`pluma.server.storage.conversations.ConversationStore`): the same
methods, summaries and errors, so routes do not know which one they use.

Messages are the pluma.llm message JSON in a ``JSONB`` column, so a stored
history replays through any adapter unchanged, thinking signatures included.
They form a tree (``id``, ``parent_id``, the conversation's ``current_leaf``;
the rules are :mod:`pluma.server.storage.tree`'s, shared with SQLite).
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
    LEAF,
    Conversation,
    ConversationNotFound,
    ConversationSummary,
    Leaf,
    MessageNotFound,
    Parent,
    title_from,
)
from pluma.server.storage.postgres.database import Database
from pluma.server.storage.tree import MessageNode, newest_leaf_below

_SUMMARY_SQL = """
    SELECT c.id, c.title, c.system_prompt, c.model, c.connection, c.created_at,
           c.updated_at, (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id),
           c.settings
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
        settings = row[8] if isinstance(row[8], dict) else {}
        (cid, title, system, model, connection, created, updated, count) = row[:8]
        return ConversationSummary(
            cid, title, system, model, connection, created, updated, count, settings
        )

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
            leaf_row = conn.execute(
                "SELECT current_leaf FROM conversations WHERE id = %s", (conversation_id,)
            ).fetchone()
            rows = conn.execute(
                "SELECT id, parent_id, data, created_at FROM messages"
                " WHERE conversation_id = %s ORDER BY created_at, position, id",
                (conversation_id,),
            ).fetchall()
        nodes = [
            MessageNode(node_id, parent, llm.message_from_dict(data, "message"), int(created))
            for node_id, parent, data, created in rows
        ]
        return Conversation.from_nodes(summary, nodes, leaf_row[0] if leaf_row else None)

    # -- writing -----------------------------------------------------------

    def create(
        self,
        title: str = "",
        system_prompt: str = "",
        model: str = "",
        connection: str = "",
        settings: dict[str, Any] | None = None,
    ) -> ConversationSummary:
        conversation_id = uuid.uuid4().hex
        with self.database.transaction() as conn:
            now = self._stamp(conn)
            conn.execute(
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
            return self._summary_in(conn, conversation_id)

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
        message_id = uuid.uuid4().hex
        with self.database.transaction() as conn:
            row = conn.execute(
                "SELECT title_is_auto, title, current_leaf FROM conversations"
                " WHERE id = %s FOR UPDATE",
                (conversation_id,),
            ).fetchone()
            if row is None:
                raise ConversationNotFound(conversation_id)
            auto, current, leaf = row
            parent = leaf if isinstance(parent_id, Leaf) else parent_id
            depth = 0
            if parent is not None:
                found = conn.execute(
                    "SELECT position FROM messages WHERE id = %s AND conversation_id = %s",
                    (parent, conversation_id),
                ).fetchone()
                if found is None:
                    raise MessageNotFound(conversation_id, parent)
                depth = int(found[0]) + 1
            now = self._stamp(conn)
            conn.execute(
                "INSERT INTO messages (id, conversation_id, parent_id, position, data, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (message_id, conversation_id, parent, depth, Jsonb(data), now),
            )
            new_leaf = message_id
            if follow and leaf != parent:
                sibling = conn.execute(
                    "SELECT 1 FROM messages WHERE id = %s AND parent_id IS NOT DISTINCT FROM %s",
                    (leaf, parent),
                ).fetchone()
                new_leaf = message_id if sibling is not None else leaf
            new_title = title if auto and not current and title else current
            conn.execute(
                "UPDATE conversations SET title = %s, current_leaf = %s, updated_at = %s"
                " WHERE id = %s",
                (new_title, new_leaf, now, conversation_id),
            )
        return message_id

    def select_branch(self, conversation_id: str, message_id: str) -> Conversation:
        conversation = self.get(conversation_id)
        if not any(node.id == message_id for node in conversation.nodes):
            raise MessageNotFound(conversation_id, message_id)
        leaf = newest_leaf_below(conversation.nodes, message_id)
        with self.database.transaction() as conn:
            conn.execute(
                "UPDATE conversations SET current_leaf = %s WHERE id = %s",
                (leaf, conversation_id),
            )
        return self.get(conversation_id)

    def show(self, conversation_id: str, message_id: str) -> None:
        """Make ``message_id`` the current leaf exactly (a regenerated answer
        then follows it)."""
        with self.database.transaction() as db:
            cur = db.execute(
                "UPDATE conversations SET current_leaf = %s WHERE id = %s"
                " AND EXISTS (SELECT 1 FROM messages WHERE id = %s AND conversation_id = %s)",
                (message_id, conversation_id, message_id, conversation_id),
            )
            if cur.rowcount == 0:
                if not self.exists(conversation_id):
                    raise ConversationNotFound(conversation_id)
                raise MessageNotFound(conversation_id, message_id)

    def truncate(self, conversation_id: str, keep: int) -> ConversationSummary:
        if keep < 0:
            raise ValueError("keep must be 0 or more")
        path = self.get(conversation_id).path()
        if keep >= len(path):
            return self.summary(conversation_id)
        leaf = path[keep - 1].node.id if keep else None
        with self.database.transaction() as conn:
            cur = conn.execute(
                "UPDATE conversations SET current_leaf = %s, updated_at = %s WHERE id = %s",
                (leaf, self._stamp(conn), conversation_id),
            )
            if cur.rowcount == 0:
                raise ConversationNotFound(conversation_id)
            return self._summary_in(conn, conversation_id)

    def insert(self, conversation: Conversation, *, title_is_auto: bool) -> None:
        """Store a whole conversation as it is, ids, branches and timestamps
        included (``pluma storage migrate``); the id must be new."""
        summary = conversation.summary
        nodes, leaf = conversation.tree()
        with self.database.transaction() as conn:
            conn.execute(
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
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO messages (id, conversation_id, parent_id, position, data,"
                    " created_at) VALUES (%s, %s, %s, %s, %s, %s)",
                    rows,
                )

    def counts(self) -> tuple[int, int]:
        """(conversations, messages) stored."""
        with self.database.transaction() as conn:
            row = conn.execute(
                "SELECT (SELECT COUNT(*) FROM conversations), (SELECT COUNT(*) FROM messages)"
            ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)
