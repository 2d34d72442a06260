"""ConversationStore: the web page's chat history, in SQLite in the data dir.

Why SQLite from the standard library: the server is a single local process,
conversations are small, and ``<datadir>/conversations.sqlite3`` survives
restarts with no service to run. Messages are stored as the pluma.llm message
JSON (:func:`pluma.llm.message_to_dict`), so a stored history replays through
any protocol adapter unchanged, thinking signatures included.

Schema (one file, created on first open):

| table           | columns                                                          |
|-----------------|------------------------------------------------------------------|
| ``conversations`` | ``id`` (hex), ``title``, ``system_prompt``, ``model``, ``connection``, |
|                 | ``created_at``, ``updated_at`` (Unix ms)                          |
| ``messages``    | ``conversation_id`` → conversations (cascade), ``position``      |
|                 | (0-based order), ``data`` (message JSON), ``created_at``         |
| ``search_rows`` | ``id``, ``conversation_id``, ``position`` (-1: the title)        |
| ``search_text`` | FTS5 over ``words`` (rowid = ``search_rows.id``)                 |

Search (:mod:`pluma.server.storage.search` says what matches): every write
path keeps the index in step through :meth:`ConversationStore._index_row`.
The two search tables are created ``IF NOT EXISTS``; when they were missing
(a database from before search), they are filled from the stored messages
on open, so an existing history is searchable at once.

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

FILENAME = "conversations.sqlite3"
TITLE_LENGTH = 60
"""Characters of the first user message kept as an automatic title."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id            TEXT PRIMARY KEY,
    title         TEXT NOT NULL DEFAULT '',
    title_is_auto INTEGER NOT NULL DEFAULT 1,
    system_prompt TEXT NOT NULL DEFAULT '',
    model         TEXT NOT NULL DEFAULT '',
    connection    TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    data            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, position)
);
CREATE INDEX IF NOT EXISTS conversations_by_update ON conversations(updated_at DESC);
"""

_SEARCH_SCHEMA = """
CREATE TABLE IF NOT EXISTS search_rows (
    id              INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    position        INTEGER NOT NULL,
    UNIQUE (conversation_id, position)
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


@dataclass(slots=True)
class Conversation:
    """A conversation with its messages, oldest first."""

    summary: ConversationSummary
    messages: list[llm.Message] = field(default_factory=list)


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
        self._db.executescript(_SCHEMA)
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
                    "SELECT id, -1, title FROM conversations UNION ALL"
                    " SELECT conversation_id, position, data FROM messages"
                ).fetchall()
                for conversation_id, position, value in rows:
                    text = value if position == search.TITLE_POSITION else _stored_text(value)
                    self._index_row(self._db, conversation_id, position, text)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return True

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
               c.updated_at, (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id)
        FROM conversations c
    """

    @staticmethod
    def _summary(row: tuple[Any, ...]) -> ConversationSummary:
        return ConversationSummary(*row)

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
        """The conversation and its messages; raises :class:`ConversationNotFound`."""
        with self._tx() as db:
            summary = self._summary_in(db, conversation_id)
            rows = db.execute(
                "SELECT data FROM messages WHERE conversation_id = ? ORDER BY position",
                (conversation_id,),
            ).fetchall()
        try:
            messages = [
                llm.message_from_dict(orjson.loads(data), f"messages[{i}]")
                for i, (data,) in enumerate(rows)
            ]
        except (ValueError, TypeError) as exc:  # a row that is not message JSON
            damage = sqlite3.DatabaseError(f"a stored message is unreadable: {exc}")
            raise self._damaged(damage) from None

        return Conversation(summary, messages)

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
                    SELECT r.conversation_id AS cid, r.position AS pos, h.score AS score,
                           MAX(r.position = -1) OVER (PARTITION BY r.conversation_id) AS title_hit,
                           ROW_NUMBER() OVER (PARTITION BY r.conversation_id
                                              ORDER BY r.position = -1, h.score, r.position) AS n
                    FROM hits h JOIN search_rows r ON r.id = h.id
                )
                SELECT ranked.cid, ranked.pos FROM ranked JOIN conversations c ON c.id = ranked.cid
                WHERE ranked.n = 1
                ORDER BY ranked.title_hit DESC, ranked.pos = -1, ranked.score,
                         c.updated_at DESC, c.rowid DESC
                LIMIT ?
                """,
                (search.fts5_query(words), max(1, min(limit, search.MAX_RESULTS))),
            ).fetchall()
            found: search.SearchHits = []
            for conversation_id, position in rows:
                summary = self._summary_in(db, conversation_id)
                if position == search.TITLE_POSITION:
                    text, index = summary.title, None
                else:
                    stored = db.execute(
                        "SELECT data FROM messages WHERE conversation_id = ? AND position = ?",
                        (conversation_id, position),
                    ).fetchone()
                    text, index = (_stored_text(stored[0]) if stored else ""), position
                found.append(search.SearchHit(summary, search.snippet(text, words), index))
        return found

    # -- writing -----------------------------------------------------------

    def _index_row(
        self, db: sqlite3.Connection, conversation_id: str, position: int, text: str
    ) -> None:
        """Make the search index hold ``text`` as row ``position`` of the
        conversation (-1: its title), replacing what it held. Every write path
        calls this (or :meth:`_unindex`) inside its own transaction."""
        if not self.searchable:
            return
        self._unindex(db, conversation_id, position, only=True)
        words = search.words(text)
        if not words:
            return
        cur = db.execute(
            "INSERT INTO search_rows (conversation_id, position) VALUES (?, ?)",
            (conversation_id, position),
        )
        db.execute("INSERT INTO search_text (rowid, words) VALUES (?, ?)", (cur.lastrowid, words))

    def _index_message(
        self, db: sqlite3.Connection, conversation_id: str, position: int, message: llm.Message
    ) -> None:
        self._index_row(db, conversation_id, position, search.message_text(message))

    def _unindex(
        self, db: sqlite3.Connection, conversation_id: str, position: int, *, only: bool = False
    ) -> None:
        """Drop index rows of the conversation from ``position`` on (or just
        that one row with ``only``)."""
        if not self.searchable:
            return
        where = "conversation_id = ? AND position " + ("= ?" if only else ">= ?")
        db.execute(
            f"DELETE FROM search_text WHERE rowid IN (SELECT id FROM search_rows WHERE {where})",
            (conversation_id, position),
        )
        db.execute(f"DELETE FROM search_rows WHERE {where}", (conversation_id, position))

    def insert(self, conversation: Conversation, *, title_is_auto: bool) -> ConversationSummary:
        """Store a whole conversation as it is, id and timestamps included
        (imports give it a new id first); the id must be new."""
        summary = conversation.summary
        with self._tx() as db:
            db.execute(
                "INSERT INTO conversations (id, title, title_is_auto, system_prompt, model,"
                " connection, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    summary.id,
                    summary.title,
                    1 if title_is_auto else 0,
                    summary.system_prompt,
                    summary.model,
                    summary.connection,
                    summary.created_at,
                    summary.updated_at,
                ),
            )
            self._index_row(db, summary.id, search.TITLE_POSITION, summary.title)
            for position, message in enumerate(conversation.messages):
                db.execute(
                    "INSERT INTO messages (conversation_id, position, data, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (
                        summary.id,
                        position,
                        orjson.dumps(llm.message_to_dict(message)).decode(),
                        summary.updated_at,
                    ),
                )
                self._index_message(db, summary.id, position, message)
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
    ) -> ConversationSummary:
        """A new, empty conversation. An empty ``title`` is filled from the
        first user message later."""
        conversation_id = self.new_id()
        with self._tx() as db:
            now = self._stamp()
            db.execute(
                "INSERT INTO conversations (id, title, title_is_auto, system_prompt, model,"
                " connection, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    title,
                    0 if title else 1,
                    system_prompt,
                    model,
                    connection,
                    now,
                    now,
                ),
            )
            self._index_row(db, conversation_id, search.TITLE_POSITION, title)
            return self._summary_in(db, conversation_id)

    def update(
        self,
        conversation_id: str,
        *,
        title: str | None = None,
        system_prompt: str | None = None,
        model: str | None = None,
        connection: str | None = None,
    ) -> ConversationSummary:
        """Change the given fields (None leaves one alone). Setting a title
        stops automatic titling; setting it to "" turns it back on."""
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
                self._index_row(db, conversation_id, search.TITLE_POSITION, title)
            return self._summary_in(db, conversation_id)

    def rename(self, conversation_id: str, title: str) -> ConversationSummary:
        return self.update(conversation_id, title=title)

    def delete(self, conversation_id: str) -> bool:
        """Remove a conversation and its messages; False when it did not exist."""
        with self._tx() as db:
            cur = db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            self._unindex(db, conversation_id, search.TITLE_POSITION)
            return cur.rowcount > 0

    def add_message(self, conversation_id: str, message: llm.Message) -> None:
        """Append one message (the chat relay calls this for the user's turn
        and for each finished or stopped assistant reply). Raises
        :class:`ConversationNotFound` when the conversation is gone."""
        data = orjson.dumps(llm.message_to_dict(message)).decode()
        title = title_from(message)
        with self._tx() as db:
            now = self._stamp()
            row = db.execute(
                "SELECT title_is_auto, title FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
            if row is None:
                raise ConversationNotFound(conversation_id)
            (position,) = db.execute(
                "SELECT COALESCE(MAX(position) + 1, 0) FROM messages WHERE conversation_id = ?",
                (conversation_id,),
            ).fetchone()
            db.execute(
                "INSERT INTO messages (conversation_id, position, data, created_at)"
                " VALUES (?, ?, ?, ?)",
                (conversation_id, position, data, now),
            )
            self._index_message(db, conversation_id, position, message)
            auto, current = row
            if auto and not current and title:
                db.execute(
                    "UPDATE conversations SET title = ?, updated_at = ? WHERE id = ?",
                    (title, now, conversation_id),
                )
                self._index_row(db, conversation_id, search.TITLE_POSITION, title)
            else:
                db.execute(
                    "UPDATE conversations SET updated_at = ? WHERE id = ?",
                    (now, conversation_id),
                )

    def truncate(self, conversation_id: str, keep: int) -> ConversationSummary:
        """Keep only the first ``keep`` messages (the page does this before
        Regenerate and edit-and-resend, which replace the tail)."""
        if keep < 0:
            raise ValueError("keep must be 0 or more")
        keep = min(keep, 2**63 - 1)  # SQLite integers are 64-bit: more keeps all anyway
        with self._tx() as db:
            if (
                db.execute(
                    "SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)
                ).fetchone()
                is None
            ):
                raise ConversationNotFound(conversation_id)
            db.execute(
                "DELETE FROM messages WHERE conversation_id = ? AND position >= ?",
                (conversation_id, keep),
            )
            self._unindex(db, conversation_id, keep)
            db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?",
                (self._stamp(), conversation_id),
            )
            return self._summary_in(db, conversation_id)
