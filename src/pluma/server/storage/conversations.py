"""ConversationStore: the web page's chat history, in SQLite in the data dir.

Why SQLite from the standard library: the server is a single local process,
conversations are small, and ``<datadir>/conversations.sqlite3`` survives
restarts with no service to run. Messages are stored as the pluma.llm message
JSON (:func:`pluma.llm.message_to_dict`), so a stored history replays through
any protocol adapter unchanged, thinking signatures included.

Schema (one file, created on first open; ``PRAGMA user_version`` says which
version a file has, and opening an older file migrates it in place, in one
transaction):

| table           | columns                                                          |
|-----------------|------------------------------------------------------------------|
| ``conversations`` | ``id`` (hex), ``title``, ``system_prompt``, ``model``, ``connection``, |
|                 | ``created_at``, ``updated_at`` (Unix ms), ``current_leaf`` (the  |
|                 | message the visible path ends at), ``settings`` (generation      |
|                 | settings JSON, see :mod:`pluma.server.generation`)               |
| ``messages``    | ``id`` (hex), ``conversation_id`` → conversations (cascade),     |
|                 | ``parent_id`` (None for the first message), ``position`` (depth  |
|                 | on its path), ``data`` (message JSON), ``created_at``            |
| ``search_rows`` | ``id``, ``conversation_id``, ``message_id`` ('' for the title)   |
| ``search_text`` | FTS5 over ``words`` (rowid = ``search_rows.id``)                 |

| version | change                                                              |
|---------|---------------------------------------------------------------------|
| 0       | a file from before versioning: one linear ``messages`` list, ordered by ``position`` |
| 1       | the same tables, now marked                                          |
| 2       | messages form a tree (ids, parent ids, the current leaf); the old list becomes one chain; ``settings`` |

Messages are a tree (see :mod:`pluma.server.storage.tree`): editing or
regenerating adds a sibling and moves the current leaf; nothing is deleted
except with the whole conversation.

Search (:mod:`pluma.server.storage.search` says what matches) covers every
message of every branch: each write path keeps the index in step through
:meth:`ConversationStore._index_row`. The two search tables are created
``IF NOT EXISTS``, outside the schema versions; when they were missing (a
database from before search), they are filled from the stored messages on
open, so an existing history is searchable at once.

Concurrency: one connection shared by the whole process, guarded by a lock.
Each call is one short transaction (sub-millisecond for these sizes), so the
async routes call it directly; WAL journaling keeps a reader from ever seeing
half a write, and a crash mid-write rolls back to the last committed state.

Titles come from the first user message unless someone set one explicitly.

A damaged file (pages overwritten, truncated by a disk error) is never
repaired or replaced here: it holds the user's history, and a repair is a
decision for them. Start-up runs SQLite's ``quick_check``; any SQLite error
from then on becomes a :class:`ConversationStoreError` whose message says
what to do, and :attr:`ConversationStore.problem` keeps it for
``/api/health``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from pluma import llm
from pluma.server.errors import PlumaError
from pluma.server.storage import search
from pluma.server.storage.tree import (
    MessageNode,
    PathEntry,
    path_to,
    visible_path,
)

FILENAME = "conversations.sqlite3"
TITLE_LENGTH = 60
"""Characters of the first user message kept as an automatic title."""

SCHEMA_VERSION = 2
"""The ``PRAGMA user_version`` this Pluma writes (see the module table)."""

_SCHEMA_V1 = (
    """CREATE TABLE IF NOT EXISTS conversations (
        id            TEXT PRIMARY KEY,
        title         TEXT NOT NULL DEFAULT '',
        title_is_auto INTEGER NOT NULL DEFAULT 1,
        system_prompt TEXT NOT NULL DEFAULT '',
        model         TEXT NOT NULL DEFAULT '',
        connection    TEXT NOT NULL DEFAULT '',
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS messages (
        conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        position        INTEGER NOT NULL,
        data            TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        PRIMARY KEY (conversation_id, position)
    )""",
    "CREATE INDEX IF NOT EXISTS conversations_by_update ON conversations(updated_at DESC)",
)

# Version 2: the linear list becomes one chain of a tree. SQLite cannot change
# a primary key in place, so the table is rebuilt; rowids are kept, so an
# index keyed by message rowid stays valid.
_SCHEMA_V2 = (
    """CREATE TABLE messages_v2 (
        id              TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        parent_id       TEXT,
        position        INTEGER NOT NULL,
        data            TEXT NOT NULL,
        created_at      INTEGER NOT NULL
    )""",
    """INSERT INTO messages_v2 (rowid, id, conversation_id, parent_id, position, data, created_at)
       SELECT rowid, lower(hex(randomblob(16))), conversation_id, NULL,
              ROW_NUMBER() OVER (PARTITION BY conversation_id ORDER BY position) - 1,
              data, created_at
       FROM messages""",
    """UPDATE messages_v2 SET parent_id = (
           SELECT p.id FROM messages_v2 p
           WHERE p.conversation_id = messages_v2.conversation_id
             AND p.position = messages_v2.position - 1)""",
    "DROP TABLE messages",
    "ALTER TABLE messages_v2 RENAME TO messages",
    "CREATE INDEX messages_by_conversation ON messages(conversation_id, created_at)",
    "ALTER TABLE conversations ADD COLUMN current_leaf TEXT",
    "ALTER TABLE conversations ADD COLUMN settings TEXT NOT NULL DEFAULT '{}'",
    """UPDATE conversations SET current_leaf = (
           SELECT m.id FROM messages m WHERE m.conversation_id = conversations.id
           ORDER BY m.position DESC LIMIT 1)""",
)

MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = ((1, _SCHEMA_V1), (2, _SCHEMA_V2))

_SEARCH_SCHEMA = """
CREATE TABLE IF NOT EXISTS search_rows (
    id              INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    UNIQUE (conversation_id, message_id)
);
CREATE VIRTUAL TABLE IF NOT EXISTS search_text
    USING fts5(words, tokenize = 'unicode61 remove_diacritics 0');
"""


class SearchUnavailable(PlumaError):
    """This Python's SQLite was built without FTS5 (a 501: everything else
    works)."""

    status = 501
    kind = "api_error"
    code = "search_unavailable"

    def __init__(self) -> None:
        super().__init__(
            "conversation search needs SQLite's FTS5 extension, which this Python's sqlite3 "
            "module lacks; install a Python built with a standard SQLite (or use PostgreSQL "
            "storage) to search"
        )


SELECT_NEWEST_LEAF_BELOW = """
UPDATE conversations SET current_leaf = (
    WITH RECURSIVE below(id) AS (
        SELECT id FROM messages WHERE id = :message AND conversation_id = :conversation
        UNION ALL
        SELECT m.id FROM messages m JOIN below b ON m.parent_id = b.id
        WHERE m.conversation_id = :conversation
    )
    SELECT m.id FROM below b JOIN messages m ON m.id = b.id
    WHERE NOT EXISTS (
        SELECT 1 FROM messages c WHERE c.parent_id = b.id AND c.conversation_id = :conversation
    )
    ORDER BY m.created_at DESC, m.id DESC LIMIT 1
)
WHERE id = :conversation
  AND EXISTS (SELECT 1 FROM messages WHERE id = :message AND conversation_id = :conversation)
"""
"""``select_branch`` in one statement: the most recently created leaf below a
message (itself when it has none; ties by id), read and written at once, so
a message added meanwhile is not missed. No row changes when the
conversation or the message is not there. Named parameters; the PostgreSQL
store rewrites them to psycopg's form."""


class ConversationStoreError(PlumaError):
    """The database failed (damaged, unreadable, full disk); the message says
    which file and what to do (a 503: chat works on, without history)."""

    status = 503
    kind = "api_error"
    code = "conversations_unavailable"


def damage_advice(path: Path, detail: str) -> str:
    return (
        f"the conversation history database {path} is damaged or unreadable ({detail}); "
        "Pluma leaves the file untouched and chat works without history meanwhile. "
        "To fix it: stop the server, keep a copy of the file, then either recover what "
        f"SQLite can read (sqlite3 {path} .recover | sqlite3 {path}.recovered, then move "
        f"{path.name}.recovered into its place) or move the file aside to start an empty "
        "history, and start the server again"
    )


class ConversationsUnavailable(PlumaError):
    """The conversations database did not open at start-up (a 503: chat
    works on, without history)."""

    status = 503
    kind = "api_error"
    code = "conversations_unavailable"

    def __init__(self) -> None:
        super().__init__(
            "the conversation store is not open (see the server log for why, e.g. an "
            "unwritable data dir); chat still works, but history is not saved"
        )


class ConversationNotFound(PlumaError, KeyError):
    """No conversation with that id (deleted, or never created)."""

    status = 404
    kind = "not_found_error"
    code = "conversation_not_found"

    def __init__(self, conversation_id: str) -> None:
        super().__init__(conversation_id)
        self.conversation_id = conversation_id

    def __str__(self) -> str:
        return (
            f"no conversation with id {self.conversation_id!r}: it does not exist (deleted?); "
            "list them with GET /api/conversations or create one with POST /api/conversations"
        )


class MessageNotFound(PlumaError, KeyError):
    """No message with that id in the conversation."""

    status = 404
    kind = "not_found_error"
    code = "message_not_found"

    def __init__(self, conversation_id: str, message_id: str) -> None:
        super().__init__(message_id)
        self.conversation_id = conversation_id
        self.message_id = message_id

    def __str__(self) -> str:
        return (
            f"conversation {self.conversation_id!r} has no message with id {self.message_id!r}; "
            "GET /api/conversations/{id} lists the ids of the messages shown"
        )


class Leaf:
    """The type of :data:`LEAF`."""

    def __repr__(self) -> str:
        return "LEAF"


LEAF = Leaf()
"""``parent_id`` for :meth:`ConversationStore.add_message`: under the current leaf."""

Parent = str | None | Leaf
"""Where a new message goes: a message id, None (a new first message), or :data:`LEAF`."""


@dataclass(slots=True)
class ConversationSummary:
    """One row of the conversation list (no messages)."""

    id: str
    title: str
    system_prompt: str
    model: str
    connection: str
    created_at: int
    updated_at: int
    message_count: int = 0
    """Messages stored, in every branch."""
    settings: dict[str, Any] = field(default_factory=dict)
    """Generation settings (see :mod:`pluma.server.generation`)."""


@dataclass(slots=True)
class Conversation:
    """A conversation: its visible path (``messages``, oldest first) and
    every stored message (``nodes``, in creation order)."""

    summary: ConversationSummary
    messages: list[llm.Message] = field(default_factory=list)
    nodes: list[MessageNode] = field(default_factory=list)
    current_leaf: str | None = None

    @classmethod
    def from_nodes(
        cls, summary: ConversationSummary, nodes: list[MessageNode], leaf: str | None
    ) -> Conversation:
        messages = [node.message for node in path_to(nodes, leaf)]
        return cls(summary, messages, nodes, leaf)

    def path(self) -> list[PathEntry]:
        """The visible path with each message's id and siblings."""
        return visible_path(self.nodes, self.current_leaf)

    def tree(self) -> tuple[list[MessageNode], str | None]:
        """Every node and the current leaf; a conversation built from a plain
        message list (no nodes) is one chain with fresh ids."""
        if self.nodes or not self.messages:
            return self.nodes, self.current_leaf
        nodes: list[MessageNode] = []
        parent: str | None = None
        for i, message in enumerate(self.messages):
            node = MessageNode(uuid.uuid4().hex, parent, message, self.summary.updated_at + i)
            nodes.append(node)
            parent = node.id
        return nodes, parent


def settings_from_json(text: str | bytes | None) -> dict[str, Any]:
    """Stored settings JSON → dict (anything unreadable reads as no settings)."""
    if not text:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _stored_text(data: str) -> str:
    """The searchable text of a stored message's JSON ('' when unreadable:
    reading it back reports the damage, indexing does not)."""
    try:
        return search.message_text(llm.message_from_dict(orjson.loads(data)))
    except (ValueError, TypeError):
        return ""


def title_from(message: llm.Message) -> str:
    """An automatic title: the message's text on one line, cut at a word
    boundary near :data:`TITLE_LENGTH` characters."""
    if not isinstance(message, llm.UserMessage):
        return ""
    if isinstance(message.content, str):
        text = message.content
    else:
        text = " ".join(b.text for b in message.content if isinstance(b, llm.TextContent))
    text = " ".join(text.split())
    if len(text) <= TITLE_LENGTH:
        return text
    cut = text[:TITLE_LENGTH]
    space = cut.rfind(" ")
    if space > TITLE_LENGTH // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


class ConversationStore:
    """Conversations persisted in ``<datadir>/conversations.sqlite3``.

    Build with :meth:`open` (creates the directory and schema) and
    :meth:`close` at shutdown. Every method is safe to call from any thread.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problem: str | None = None
        """Set once the database is found damaged (shown by /api/health)."""
        self._lock = threading.Lock()
        self._last_stamp = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        try:
            self._upgrade()
        except BaseException:
            self._db.close()
            raise
        self.searchable = False
        """Whether search works (False when SQLite lacks FTS5)."""
        self.searchable = self._open_search()

    def _open_search(self) -> bool:
        """Create the search tables when missing and fill them from the stored
        messages; False when SQLite lacks FTS5 (search is then refused)."""
        had = self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'search_text'").fetchone()
        try:
            self._db.executescript(_SEARCH_SCHEMA)
        except sqlite3.OperationalError as exc:
            if "fts5" not in str(exc):
                raise
            return False
        self.searchable = True
        if had is None:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM search_rows")
                rows = self._db.execute(
                    "SELECT id, '', title FROM conversations UNION ALL"
                    " SELECT conversation_id, id, data FROM messages"
                ).fetchall()
                for conversation_id, key, value in rows:
                    text = value if key == search.TITLE_KEY else _stored_text(value)
                    self._index_row(self._db, conversation_id, key, text)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return True

    def _upgrade(self) -> None:
        """Bring the file to :data:`SCHEMA_VERSION` in one transaction (a new
        file gets every step; a crash midway leaves the old version intact).
        A file from a newer Pluma is refused rather than written to."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")  # the check and the steps, under one write lock
        try:
            (version,) = db.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise ConversationStoreError(
                    f"the conversation history database {self.path} has schema version "
                    f"{version}, newer than this Pluma knows ({SCHEMA_VERSION}); upgrade "
                    "Pluma to use it (the file is left untouched)"
                )
            for step, statements in MIGRATIONS:
                if step <= version:
                    continue
                for statement in statements:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {step:d}")
        except BaseException:
            with suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def schema_version(self) -> int:
        with self._locked() as db:
            (version,) = db.execute("PRAGMA user_version").fetchone()
        return int(version)

    @classmethod
    def open(cls, datadir: Path | str) -> ConversationStore:
        return cls(Path(datadir) / FILENAME)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def check(self) -> str | None:
        """Run SQLite's ``quick_check``; the problem (also kept in
        :attr:`problem`) or None when the file is sound."""
        try:
            with self._lock:
                rows = self._db.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as exc:
            return str(self._damaged(exc))
        findings = [str(r[0]) for r in rows]
        if findings == ["ok"]:
            return None
        return str(self._damaged(sqlite3.DatabaseError("; ".join(findings[:3]))))

    def _damaged(self, exc: sqlite3.Error) -> ConversationStoreError:
        message = damage_advice(self.path, str(exc) or type(exc).__name__)
        if self.problem is None:
            self.problem = message
        return ConversationStoreError(message)

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        """The connection under the lock; SQLite errors become
        :class:`ConversationStoreError` (never a bare 500)."""
        with self._lock:
            try:
                yield self._db
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as exc:
                raise self._damaged(exc) from exc

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One locked transaction: committed on success, rolled back on error."""
        with self._locked() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                with suppress(sqlite3.Error):  # a damaged file may refuse even this
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _stamp(self) -> int:
        """Unix ms, strictly increasing within this store, so "most recently
        updated first" has no ties even for changes in the same millisecond.
        Called with the lock held."""
        self._last_stamp = max(_now_ms(), self._last_stamp + 1)
        return self._last_stamp

    # -- reading -----------------------------------------------------------

    _SUMMARY_SQL = """
        SELECT c.id, c.title, c.system_prompt, c.model, c.connection, c.created_at,
               c.updated_at, (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id),
               c.settings
        FROM conversations c
    """

    @staticmethod
    def _summary(row: tuple[Any, ...]) -> ConversationSummary:
        (cid, title, system, model, connection, created, updated, count) = row[:8]
        return ConversationSummary(
            cid,
            title,
            system,
            model,
            connection,
            created,
            updated,
            count,
            settings_from_json(row[8]),
        )

    def list(self) -> list[ConversationSummary]:
        """All conversations, most recently updated first."""
        with self._tx() as db:
            rows = db.execute(self._SUMMARY_SQL + " ORDER BY c.updated_at DESC, c.rowid DESC")
            return [self._summary(r) for r in rows.fetchall()]

    def exists(self, conversation_id: str) -> bool:
        with self._locked() as db:
            row = db.execute(
                "SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
        return row is not None

    def title_is_auto(self, conversation_id: str) -> bool:
        """Whether the title is still the automatic one (``pluma storage migrate``
        carries this over)."""
        with self._lock:
            row = self._db.execute(
                "SELECT title_is_auto FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
        if row is None:
            raise ConversationNotFound(conversation_id)
        return bool(row[0])

    def summary(self, conversation_id: str) -> ConversationSummary:
        with self._tx() as db:
            return self._summary_in(db, conversation_id)

    def _summary_in(self, db: sqlite3.Connection, conversation_id: str) -> ConversationSummary:
        row = db.execute(self._SUMMARY_SQL + " WHERE c.id = ?", (conversation_id,)).fetchone()
        if row is None:
            raise ConversationNotFound(conversation_id)
        return self._summary(row)

    def get(self, conversation_id: str) -> Conversation:
        """The conversation, its visible path and every message; raises
        :class:`ConversationNotFound`."""
        with self._tx() as db:
            summary = self._summary_in(db, conversation_id)
            (leaf,) = db.execute(
                "SELECT current_leaf FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
            rows = db.execute(
                "SELECT id, parent_id, data, created_at FROM messages"
                " WHERE conversation_id = ? ORDER BY created_at, rowid",
                (conversation_id,),
            ).fetchall()
        try:
            nodes = [
                MessageNode(
                    node_id, parent, llm.message_from_dict(orjson.loads(data), "message"), created
                )
                for node_id, parent, data, created in rows
            ]
        except (ValueError, TypeError) as exc:  # a row that is not message JSON
            damage = sqlite3.DatabaseError(f"a stored message is unreadable: {exc}")
            raise self._damaged(damage) from None

        return Conversation.from_nodes(summary, nodes, leaf)

    def search(self, query: str, limit: int = search.MAX_RESULTS) -> search.SearchHits:
        """Conversations matching ``query``, best first (see
        :mod:`pluma.server.storage.search` for what matches and the order)."""
        words = search.query_words(query)
        if not words:
            return []
        if not self.searchable:
            raise SearchUnavailable
        with self._tx() as db:
            rows = db.execute(
                """
                WITH hits AS (
                    SELECT rowid AS id, bm25(search_text) AS score
                    FROM search_text WHERE search_text MATCH ?
                ), ranked AS (
                    SELECT r.conversation_id AS cid, r.message_id AS key, h.score AS score,
                           MAX(r.message_id = '') OVER (PARTITION BY r.conversation_id) AS title_hit,
                           ROW_NUMBER() OVER (PARTITION BY r.conversation_id
                                              ORDER BY r.message_id = '', h.score, r.id) AS n
                    FROM hits h JOIN search_rows r ON r.id = h.id
                )
                SELECT ranked.cid, ranked.key FROM ranked JOIN conversations c ON c.id = ranked.cid
                WHERE ranked.n = 1
                ORDER BY ranked.title_hit DESC, ranked.key = '', ranked.score,
                         c.updated_at DESC, c.rowid DESC
                LIMIT ?
                """,
                (search.fts5_query(words), max(1, min(limit, search.MAX_RESULTS))),
            ).fetchall()
            found: search.SearchHits = []
            for conversation_id, key in rows:
                summary = self._summary_in(db, conversation_id)
                if key == search.TITLE_KEY:
                    text, message_id = summary.title, None
                else:
                    stored = db.execute("SELECT data FROM messages WHERE id = ?", (key,)).fetchone()
                    text, message_id = (_stored_text(stored[0]) if stored else ""), key
                found.append(search.SearchHit(summary, search.snippet(text, words), message_id))
        return found

    # -- writing -----------------------------------------------------------

    def _index_row(self, db: sqlite3.Connection, conversation_id: str, key: str, text: str) -> None:
        """Make the search index hold ``text`` for ``key`` of the conversation
        (a message id, or :data:`~pluma.server.storage.search.TITLE_KEY` for
        its title), replacing what it held. Every write path calls this (or
        :meth:`_unindex`) inside its own transaction."""
        if not self.searchable:
            return
        self._unindex(db, conversation_id, key)
        words = search.words(text)
        if not words:
            return
        cur = db.execute(
            "INSERT INTO search_rows (conversation_id, message_id) VALUES (?, ?)",
            (conversation_id, key),
        )
        db.execute("INSERT INTO search_text (rowid, words) VALUES (?, ?)", (cur.lastrowid, words))

    def _index_message(
        self, db: sqlite3.Connection, conversation_id: str, key: str, message: llm.Message
    ) -> None:
        self._index_row(db, conversation_id, key, search.message_text(message))

    def _unindex(self, db: sqlite3.Connection, conversation_id: str, key: str | None) -> None:
        """Drop the conversation's index row for ``key`` (None: all of them)."""
        if not self.searchable:
            return
        where, args = "conversation_id = ?", [conversation_id]
        if key is not None:
            where, args = where + " AND message_id = ?", [conversation_id, key]
        db.execute(
            f"DELETE FROM search_text WHERE rowid IN (SELECT id FROM search_rows WHERE {where})",
            args,
        )
        db.execute(f"DELETE FROM search_rows WHERE {where}", args)

    def insert(self, conversation: Conversation, *, title_is_auto: bool) -> ConversationSummary:
        """Store a whole conversation as it is: ids, every branch, the current
        leaf, settings and timestamps (imports give it new ids first); the ids
        must be new."""
        summary = conversation.summary
        nodes, leaf = conversation.tree()
        with self._tx() as db:
            db.execute(
                "INSERT INTO conversations (id, title, title_is_auto, system_prompt, model,"
                " connection, created_at, updated_at, current_leaf, settings)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    summary.id,
                    summary.title,
                    1 if title_is_auto else 0,
                    summary.system_prompt,
                    summary.model,
                    summary.connection,
                    summary.created_at,
                    summary.updated_at,
                    leaf,
                    orjson.dumps(summary.settings).decode(),
                ),
            )
            self._index_row(db, summary.id, search.TITLE_KEY, summary.title)
            depth: dict[str | None, int] = {None: -1}
            for node in nodes:  # creation order: a parent comes before its children
                depth[node.id] = depth.get(node.parent_id, -1) + 1
                db.execute(
                    "INSERT INTO messages (id, conversation_id, parent_id, position, data,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        node.id,
                        summary.id,
                        node.parent_id,
                        depth[node.id],
                        orjson.dumps(llm.message_to_dict(node.message)).decode(),
                        node.created_at,
                    ),
                )
                self._index_message(db, summary.id, node.id, node.message)
            return self._summary_in(db, summary.id)

    @staticmethod
    def new_id() -> str:
        """A fresh conversation id (what :meth:`create` gives)."""
        return uuid.uuid4().hex

    def create(
        self,
        title: str = "",
        system_prompt: str = "",
        model: str = "",
        connection: str = "",
        settings: dict[str, Any] | None = None,
    ) -> ConversationSummary:
        """A new, empty conversation. An empty ``title`` is filled from the
        first user message later."""
        conversation_id = self.new_id()
        with self._tx() as db:
            now = self._stamp()
            db.execute(
                "INSERT INTO conversations (id, title, title_is_auto, system_prompt, model,"
                " connection, created_at, updated_at, settings)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    title,
                    0 if title else 1,
                    system_prompt,
                    model,
                    connection,
                    now,
                    now,
                    orjson.dumps(settings or {}).decode(),
                ),
            )
            self._index_row(db, conversation_id, search.TITLE_KEY, title)
            return self._summary_in(db, conversation_id)

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
        """Change the given fields (None leaves one alone). Setting a title
        stops automatic titling; setting it to "" turns it back on.
        ``settings`` replaces the generation settings whole."""
        sets: list[str] = []
        values: list[Any] = []
        if title is not None:
            sets += ["title = ?", "title_is_auto = ?"]
            values += [title, 0 if title else 1]
        for name, value in (
            ("system_prompt", system_prompt),
            ("model", model),
            ("connection", connection),
        ):
            if value is not None:
                sets.append(f"{name} = ?")
                values.append(value)
        if settings is not None:
            sets.append("settings = ?")
            values.append(orjson.dumps(settings).decode())
        sets.append("updated_at = ?")
        with self._tx() as db:
            values.append(self._stamp())
            cur = db.execute(
                f"UPDATE conversations SET {', '.join(sets)} WHERE id = ?",
                (*values, conversation_id),
            )
            if cur.rowcount == 0:
                raise ConversationNotFound(conversation_id)
            if title is not None:
                self._index_row(db, conversation_id, search.TITLE_KEY, title)
            return self._summary_in(db, conversation_id)

    def rename(self, conversation_id: str, title: str) -> ConversationSummary:
        return self.update(conversation_id, title=title)

    def delete(self, conversation_id: str) -> bool:
        """Remove a conversation and its messages; False when it did not exist."""
        with self._tx() as db:
            cur = db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            self._unindex(db, conversation_id, None)
            return cur.rowcount > 0

    def add_message(
        self,
        conversation_id: str,
        message: llm.Message,
        parent_id: Parent = LEAF,
        *,
        follow: bool = False,
    ) -> str:
        """Store one message under ``parent_id`` (the current leaf by default;
        None starts a new first message) and return its id. The new message
        becomes the current leaf, or with ``follow`` only when the current
        leaf is still its parent or a sibling of it (a reply that finished
        after the reader switched branch stays stored but out of sight).
        Raises :class:`ConversationNotFound` / :class:`MessageNotFound`."""
        data = orjson.dumps(llm.message_to_dict(message)).decode()
        title = title_from(message)
        message_id = uuid.uuid4().hex
        with self._tx() as db:
            now = self._stamp()
            row = db.execute(
                "SELECT title_is_auto, title, current_leaf FROM conversations WHERE id = ?",
                (conversation_id,),
            ).fetchone()
            if row is None:
                raise ConversationNotFound(conversation_id)
            auto, current, leaf = row
            parent = leaf if isinstance(parent_id, Leaf) else parent_id
            depth = 0
            if parent is not None:
                found = db.execute(
                    "SELECT position FROM messages WHERE id = ? AND conversation_id = ?",
                    (parent, conversation_id),
                ).fetchone()
                if found is None:
                    raise MessageNotFound(conversation_id, parent)
                depth = found[0] + 1
            db.execute(
                "INSERT INTO messages (id, conversation_id, parent_id, position, data, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (message_id, conversation_id, parent, depth, data, now),
            )
            self._index_message(db, conversation_id, message_id, message)
            if follow and leaf != parent:
                sibling = db.execute(
                    "SELECT 1 FROM messages WHERE id = ? AND parent_id IS ?", (leaf, parent)
                ).fetchone()
                new_leaf = message_id if sibling is not None else leaf
            else:
                new_leaf = message_id
            new_title = title if auto and not current and title else current
            db.execute(
                "UPDATE conversations SET title = ?, current_leaf = ?, updated_at = ? WHERE id = ?",
                (new_title, new_leaf, now, conversation_id),
            )
            if new_title != current:
                self._index_row(db, conversation_id, search.TITLE_KEY, new_title)
        return message_id

    def select_branch(self, conversation_id: str, message_id: str) -> Conversation:
        """Show the branch through ``message_id``: the current leaf becomes
        the newest leaf below it. The conversation as it now reads."""
        with self._tx() as db:
            cur = db.execute(
                SELECT_NEWEST_LEAF_BELOW, {"conversation": conversation_id, "message": message_id}
            )
            if cur.rowcount == 0:
                found = db.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,))
                if found.fetchone() is None:
                    raise ConversationNotFound(conversation_id)
                raise MessageNotFound(conversation_id, message_id)
        return self.get(conversation_id)

    def show(self, conversation_id: str, message_id: str) -> None:
        """Make ``message_id`` the current leaf exactly (a regenerated answer
        then follows it)."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE conversations SET current_leaf = ? WHERE id = ?"
                " AND EXISTS (SELECT 1 FROM messages WHERE id = ? AND conversation_id = ?)",
                (message_id, conversation_id, message_id, conversation_id),
            )
            if cur.rowcount == 0:
                # Asked on this connection: self.exists() would take the lock
                # this transaction already holds, and wait forever.
                found = db.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,))
                if found.fetchone() is None:
                    raise ConversationNotFound(conversation_id)
                raise MessageNotFound(conversation_id, message_id)

    def truncate(self, conversation_id: str, keep: int) -> ConversationSummary:
        """Show only the first ``keep`` messages of the visible path: the
        current leaf moves back to the ``keep``-th; nothing is deleted, so the
        next message starts a new branch beside the ones after it."""
        if keep < 0:
            raise ValueError("keep must be 0 or more")
        path = self.get(conversation_id).path()
        if keep >= len(path):
            return self.summary(conversation_id)
        leaf = path[keep - 1].node.id if keep else None
        with self._tx() as db:
            cur = db.execute(
                "UPDATE conversations SET current_leaf = ?, updated_at = ? WHERE id = ?",
                (leaf, self._stamp(), conversation_id),
            )
            if cur.rowcount == 0:
                raise ConversationNotFound(conversation_id)
            return self._summary_in(db, conversation_id)
