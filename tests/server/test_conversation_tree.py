"""Conversations as trees, on both stores: editing or regenerating adds a
sibling version, switching a branch moves the current leaf, nothing is lost;
files and databases from before the tree migrate in place, their linear list
becoming one chain; ``pluma storage migrate`` carries every branch."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import psycopg
import pytest

from pluma import llm
from pluma.server.storage.conversations import (
    FILENAME,
    SCHEMA_VERSION,
    ConversationNotFound,
    ConversationStore,
    ConversationStoreError,
    MessageNotFound,
)
from pluma.server.storage.postgres import Database
from pluma.server.storage.postgres.conversations import PgConversationStore
from pluma.server.storage.postgres.database import MIGRATIONS


@pytest.fixture
def store(conversation_store: ConversationStore) -> ConversationStore:
    return conversation_store  # each backend in turn (tests/server/conftest.py)


def _text(message: llm.Message) -> str:
    if isinstance(message, llm.UserMessage):
        return message.content if isinstance(message.content, str) else "?"
    assert isinstance(message, llm.AssistantMessage)
    return message.text


def _reply(text: str) -> llm.AssistantMessage:
    return llm.AssistantMessage(content=[llm.TextContent(text)])


def test_regenerate_and_edit_make_siblings_and_switching_shows_each(
    store: ConversationStore,
) -> None:
    c = store.create()
    q1 = store.add_message(c.id, llm.UserMessage("q1"))
    a1 = store.add_message(c.id, _reply("a1"))
    q2 = store.add_message(c.id, llm.UserMessage("q2"))
    store.add_message(c.id, _reply("a2"))
    # Regenerate a1: a sibling under q1, shown at once.
    a1b = store.add_message(c.id, _reply("a1 again"), q1)
    got = store.get(c.id)
    assert [_text(m) for m in got.messages] == ["q1", "a1 again"]
    path = got.path()
    assert path[1].sibling_ids == [a1, a1b] and path[1].sibling_index == 1
    # Edit the first message: a new root.
    q1b = store.add_message(c.id, llm.UserMessage("q1 edited"), None)
    got = store.get(c.id)
    assert [_text(m) for m in got.messages] == ["q1 edited"]
    assert got.path()[0].sibling_ids == [q1, q1b]
    assert got.summary.message_count == 6
    # Back to the first version of q1: its newest leaf is "a1 again".
    got = store.select_branch(c.id, q1)
    assert [_text(m) for m in got.messages] == ["q1", "a1 again"]
    # The older answer brings back its whole branch.
    got = store.select_branch(c.id, a1)
    assert [_text(m) for m in got.messages] == ["q1", "a1", "q2", "a2"]
    assert got.path()[2].node.id == q2
    # The choice is stored, not a view: a fresh read shows the same.
    assert [_text(m) for m in store.get(c.id).messages] == ["q1", "a1", "q2", "a2"]
    with pytest.raises(MessageNotFound):
        store.select_branch(c.id, "no-such-message")
    with pytest.raises(MessageNotFound):
        store.add_message(c.id, llm.UserMessage("x"), "no-such-message")


def test_showing_or_picking_a_missing_message_or_conversation_says_which(
    store: ConversationStore,
) -> None:
    c = store.create()
    q1 = store.add_message(c.id, llm.UserMessage("q1"))
    with pytest.raises(MessageNotFound):
        store.show(c.id, "no-such-message")
    with pytest.raises(MessageNotFound):
        store.select_branch(c.id, "no-such-message")
    store.delete(c.id)
    with pytest.raises(ConversationNotFound):
        store.show(c.id, q1)
    with pytest.raises(ConversationNotFound):
        store.select_branch(c.id, q1)
    assert store.list() == []  # the store still answers afterwards


def test_a_reply_that_ends_after_a_switch_is_kept_out_of_sight(store: ConversationStore) -> None:
    c = store.create()
    q1 = store.add_message(c.id, llm.UserMessage("q1"))
    a1 = store.add_message(c.id, _reply("a1"))
    other = store.add_message(c.id, llm.UserMessage("other"), None)
    late = store.add_message(c.id, _reply("late"), q1, follow=True)
    assert store.get(c.id).current_leaf == other
    # Following a sibling answer (Stop then Regenerate) it is shown.
    store.select_branch(c.id, a1)
    regenerated = store.add_message(c.id, _reply("again"), q1, follow=True)
    assert store.get(c.id).current_leaf == regenerated
    assert late in {n.id for n in store.get(c.id).nodes}


def test_settings_are_stored_with_the_conversation(store: ConversationStore) -> None:
    settings = {"temperature": 0.3, "max_tokens": 64, "top_p": 0.9, "stop": ["END"]}
    c = store.create(settings=settings)
    assert store.summary(c.id).settings == settings
    store.update(c.id, settings={"reasoning": "low"})
    assert store.get(c.id).summary.settings == {"reasoning": "low"}
    assert [s.settings for s in store.list()] == [{"reasoning": "low"}]


# -- migrations ---------------------------------------------------------------

_OLD_SQLITE = """
CREATE TABLE conversations (
    id TEXT PRIMARY KEY, title TEXT NOT NULL DEFAULT '', title_is_auto INTEGER NOT NULL DEFAULT 1,
    system_prompt TEXT NOT NULL DEFAULT '', model TEXT NOT NULL DEFAULT '',
    connection TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE messages (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    position INTEGER NOT NULL, data TEXT NOT NULL, created_at INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, position));
CREATE INDEX conversations_by_update ON conversations(updated_at DESC);
"""


def _old_rows() -> list[tuple[str, int, str]]:
    texts = ["q1", "a1", "q2", "a2"]
    return [
        (
            "c1",
            i,
            orjson.dumps(
                llm.message_to_dict(llm.UserMessage(t) if t[0] == "q" else _reply(t))
            ).decode(),
        )
        for i, t in enumerate(texts)
    ]


def test_a_file_from_before_the_tree_migrates_in_place(tmp_path: Path) -> None:
    path = tmp_path / FILENAME
    db = sqlite3.connect(path)
    db.executescript(_OLD_SQLITE)
    db.execute("INSERT INTO conversations VALUES ('c1', 'Old', 0, 'sys', 'm', 'p', 1, 2)")
    db.execute("INSERT INTO conversations VALUES ('c2', '', 1, '', '', '', 3, 4)")
    db.executemany("INSERT INTO messages VALUES (?, ?, ?, 5)", _old_rows())
    db.commit()
    assert db.execute("PRAGMA user_version").fetchone() == (0,)
    db.close()

    store = ConversationStore.open(tmp_path)
    try:
        assert store.schema_version() == SCHEMA_VERSION
        got = store.get("c1")
        assert [_text(m) for m in got.messages] == ["q1", "a1", "q2", "a2"]
        assert got.summary.title == "Old" and got.summary.system_prompt == "sys"
        path_entries = got.path()
        assert path_entries[0].node.parent_id is None
        assert all(e.sibling_ids == [e.node.id] for e in path_entries)
        assert got.current_leaf == path_entries[-1].node.id
        assert store.get("c2").messages == [] and store.get("c2").current_leaf is None
        # A migrated chain branches like any other.
        store.add_message("c1", _reply("a2 again"), path_entries[2].node.id)
        assert [_text(m) for m in store.get("c1").messages][-1] == "a2 again"
    finally:
        store.close()
    # Opening again changes nothing.
    again = ConversationStore.open(tmp_path)
    assert again.get("c1").summary.message_count == 5
    again.close()


def test_a_file_from_a_newer_pluma_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / FILENAME
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(ConversationStoreError, match="newer than this Pluma"):
        ConversationStore.open(tmp_path)
    db = sqlite3.connect(path)
    assert db.execute("SELECT name FROM sqlite_master").fetchall() == []
    db.close()


def test_a_database_at_version_1_migrates_in_place(pg_cluster: object) -> None:
    url = pg_cluster.database()  # type: ignore[attr-defined]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        conn.execute(MIGRATIONS[0][1])
        conn.execute("INSERT INTO schema_migrations (version) VALUES (1)")
        conn.execute(
            "INSERT INTO conversations (id, title, created_at, updated_at)"
            " VALUES ('c1', 'Old', 1, 2), ('c2', '', 3, 4)"
        )
        for cid, position, data in _old_rows():
            conn.execute(
                "INSERT INTO messages VALUES (%s, %s, %s::jsonb, 5)", (cid, position, data)
            )
    database = Database.open(url)
    try:
        # every later version applied too (3: the search index, filled from these rows)
        assert database.schema_version() == max(v for v, _ in MIGRATIONS)
        store = PgConversationStore(database)
        got = store.get("c1")
        assert [_text(m) for m in got.messages] == ["q1", "a1", "q2", "a2"]
        assert got.current_leaf == got.path()[-1].node.id
        assert all(len(e.sibling_ids) == 1 for e in got.path())
        assert store.get("c2").current_leaf is None
        store.add_message("c1", _reply("a1 again"), got.path()[0].node.id)
        assert [_text(m) for m in store.get("c1").messages] == ["q1", "a1 again"]
    finally:
        database.close()


def test_storage_migrate_carries_every_branch(tmp_path: Path, pg_cluster: object) -> None:
    from pluma.server.storage.migrate import migrate

    source = ConversationStore.open(tmp_path)
    c = source.create(settings={"temperature": 0.5})
    q1 = source.add_message(c.id, llm.UserMessage("q1"))
    source.add_message(c.id, _reply("a1"))
    source.add_message(c.id, _reply("a1 again"), q1)
    source.select_branch(c.id, q1)
    before = source.get(c.id)
    source.close()

    url = pg_cluster.database()  # type: ignore[attr-defined]
    report = migrate(tmp_path, url, "k" * 32, "file")
    assert report.ok and report.moved["messages"] == 3
    database = Database.open(url)
    try:
        after = PgConversationStore(database).get(c.id)
    finally:
        database.close()
    assert after.current_leaf == before.current_leaf
    assert [(n.id, n.parent_id, n.created_at) for n in after.nodes] == [
        (n.id, n.parent_id, n.created_at) for n in before.nodes
    ]
    assert after.summary.settings == {"temperature": 0.5}
    assert [_text(m) for m in after.messages] == ["q1", "a1 again"]
