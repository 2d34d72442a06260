"""The conversation store, against both backends: a real SQLite file in a temp
dir, and a real PostgreSQL database (a throwaway cluster the tests start).
The same tests run on both: routes cannot tell them apart."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.support.postgres import Cluster

from pluma import llm
from pluma.server.errors import InvalidRequest
from pluma.server.storage import search, transfer
from pluma.server.storage.conversations import (
    FILENAME,
    TITLE_LENGTH,
    ConversationNotFound,
    ConversationStore,
    title_from,
)


@pytest.fixture
def store(conversation_store: ConversationStore) -> ConversationStore:
    return conversation_store  # each backend in turn (tests/server/conftest.py)


def _assistant(text: str, stop: llm.StopReason = "stop") -> llm.AssistantMessage:
    return llm.AssistantMessage(
        content=[
            llm.ThinkingContent("let me think", signature="sig-1"),
            llm.TextContent(text),
            llm.ToolCall("call_1", "lookup", {"q": "x"}),
        ],
        protocol="openai-completions",
        provider="openai",
        model="m1",
        usage=llm.Usage(input=3, output=5),
        stop_reason=stop,
        error_message="stopped by the user" if stop == "aborted" else None,
    )


def test_file_lives_in_the_data_dir(tmp_path: Path) -> None:
    s = ConversationStore.open(tmp_path / "nested" / "data")
    s.close()
    assert (tmp_path / "nested" / "data" / FILENAME).is_file()


def test_create_list_get_rename_delete(store: ConversationStore) -> None:
    a = store.create()
    b = store.create(title="Planning", system_prompt="Be brief.", model="m", connection="c1")
    assert a.id != b.id
    assert (b.title, b.system_prompt, b.model, b.connection) == ("Planning", "Be brief.", "m", "c1")
    assert [c.id for c in store.list()] == [b.id, a.id]

    store.rename(a.id, "Renamed")
    assert store.summary(a.id).title == "Renamed"
    assert store.list()[0].id == a.id  # renaming counts as an update

    got = store.get(b.id)
    assert got.summary.id == b.id and got.messages == []

    assert store.delete(a.id) is True
    assert store.delete(a.id) is False
    assert not store.exists(a.id)
    assert store.exists(b.id)
    with pytest.raises(ConversationNotFound):
        store.get(a.id)
    with pytest.raises(ConversationNotFound):
        store.rename(a.id, "x")


def test_messages_round_trip_in_order(store: ConversationStore) -> None:
    c = store.create()
    user = llm.UserMessage("Hello there")
    reply = _assistant("Hi!")
    tool = llm.ToolResultMessage("call_1", "lookup", [llm.TextContent("42")])
    for m in (user, reply, tool):
        store.add_message(c.id, m)
    got = store.get(c.id)
    assert got.summary.message_count == 3
    assert [llm.message_to_dict(m) for m in got.messages] == [
        llm.message_to_dict(m) for m in (user, reply, tool)
    ]
    thinking = got.messages[1].content[0]  # type: ignore[union-attr]
    assert isinstance(thinking, llm.ThinkingContent) and thinking.signature == "sig-1"


def test_aborted_partial_reply_is_kept(store: ConversationStore) -> None:
    c = store.create()
    store.add_message(c.id, llm.UserMessage("Tell me a story"))
    store.add_message(c.id, _assistant("Once upon", stop="aborted"))
    last = store.get(c.id).messages[-1]
    assert isinstance(last, llm.AssistantMessage)
    assert last.stop_reason == "aborted" and last.text == "Once upon"


def test_add_message_to_missing_conversation_raises(store: ConversationStore) -> None:
    with pytest.raises(ConversationNotFound) as info:
        store.add_message("nope", llm.UserMessage("x"))
    assert "does not exist" in str(info.value)


def test_title_from_first_user_message_only(store: ConversationStore) -> None:
    c = store.create()
    store.add_message(c.id, llm.UserMessage("  What is\n the   capital of France?  "))
    store.add_message(c.id, _assistant("Paris"))
    store.add_message(c.id, llm.UserMessage("And of Spain?"))
    assert store.summary(c.id).title == "What is the capital of France?"


def test_explicit_title_is_not_overwritten_and_empty_title_reenables_auto(
    store: ConversationStore,
) -> None:
    c = store.create(title="Mine")
    store.add_message(c.id, llm.UserMessage("first"))
    assert store.summary(c.id).title == "Mine"
    d = store.create()
    store.rename(d.id, "")
    store.add_message(d.id, llm.UserMessage("auto please"))
    assert store.summary(d.id).title == "auto please"


def test_long_titles_are_cut_at_a_word() -> None:
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi"
    title = title_from(llm.UserMessage(words * 2))
    assert len(title) <= TITLE_LENGTH + 1 and title.endswith("…")
    assert (words * 2).startswith(title[:-1])
    blocks = llm.UserMessage(
        [llm.TextContent("from"), llm.ImageContent("AA==", "image/png"), llm.TextContent("blocks")]
    )
    assert title_from(blocks) == "from blocks"


def test_truncate_shows_the_head_and_keeps_the_rest_as_a_branch(
    store: ConversationStore,
) -> None:
    c = store.create()
    for text in ("q1", "a1", "q2", "a2"):
        store.add_message(c.id, llm.UserMessage(text) if text[0] == "q" else _assistant(text))
    assert store.truncate(c.id, 2).message_count == 4  # nothing deleted
    assert len(store.get(c.id).messages) == 2
    store.add_message(c.id, llm.UserMessage("q2 edited"))
    assert store.get(c.id).path()[2].sibling_ids[0] != store.get(c.id).current_leaf
    texts = [
        m.content if isinstance(m, llm.UserMessage) else m.text  # type: ignore[union-attr]
        for m in store.get(c.id).messages
    ]
    assert texts == ["q1", "a1", "q2 edited"]
    with pytest.raises(ValueError):
        store.truncate(c.id, -1)
    with pytest.raises(ConversationNotFound):
        store.truncate("missing", 0)
    # beyond SQLite's 64-bit integers: keeps everything (it raised OverflowError)
    assert store.truncate(c.id, 2**64).message_count == 5
    assert len(store.get(c.id).messages) == 3


def test_delete_removes_messages(tmp_path: Path) -> None:
    store = ConversationStore.open(tmp_path)
    c = store.create()
    store.add_message(c.id, llm.UserMessage("x"))
    store.delete(c.id)
    with sqlite3.connect(tmp_path / FILENAME) as db:
        assert db.execute("SELECT COUNT(*) FROM messages").fetchone() == (0,)
    store.close()


def test_survives_reopen(tmp_path: Path) -> None:
    s = ConversationStore.open(tmp_path)
    c = s.create(system_prompt="sys")
    s.add_message(c.id, llm.UserMessage("persist me"))
    s.close()
    s2 = ConversationStore.open(tmp_path)
    got = s2.get(c.id)
    s2.close()
    assert got.summary.title == "persist me" and got.summary.system_prompt == "sys"
    assert isinstance(got.messages[0], llm.UserMessage)


def test_concurrent_appends_keep_every_message(store: ConversationStore) -> None:
    c = store.create()
    start = threading.Barrier(4)

    def worker(n: int) -> None:
        start.wait()
        for i in range(25):
            store.add_message(c.id, llm.UserMessage(f"{n}-{i}"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    messages = store.get(c.id).messages
    assert len(messages) == 100
    assert {m.content for m in messages} == {f"{n}-{i}" for n in range(4) for i in range(25)}  # type: ignore[union-attr]


# -- search ------------------------------------------------------------------


def _found(store: ConversationStore, query: str) -> list[str]:
    return [hit.summary.id for hit in store.search(query)]


def _marked(hit: search.SearchHit) -> list[str]:
    return [text for text, matched in hit.snippet if matched]


def test_search_finds_message_text_and_titles(store: ConversationStore) -> None:
    paris = store.create()
    store.add_message(paris.id, llm.UserMessage("Where is the Eiffel tower?"))
    answer = store.add_message(paris.id, _assistant("It stands in Paris, on the Champ de Mars."))
    titled = store.create(title="Paris trip")
    store.add_message(titled.id, llm.UserMessage("Hotels near the station"))
    other = store.create()
    store.add_message(other.id, llm.UserMessage("Rome, then Madrid"))

    # the title match comes first, then the message match
    assert _found(store, "paris") == [titled.id, paris.id]
    hit = store.search("PARIS")[1]
    assert hit.message_id == answer
    assert _marked(hit) == ["Paris"]
    assert "".join(t for t, _ in hit.snippet).startswith("It stands in Paris, on the")
    title_hit = store.search("paris")[0]
    assert title_hit.message_id is None and _marked(title_hit) == ["Paris"]

    # every word is a prefix, all words must be in one message
    assert _found(store, "eiff tow") == [paris.id]
    assert _found(store, "eiffel madrid") == []
    assert _found(store, "rome madrid") == [other.id]
    assert _found(store, "nowhere") == []
    assert store.search("") == [] and store.search("  ... ") == []


def test_search_words_are_letters_and_digits(store: ConversationStore) -> None:
    c = store.create()
    store.add_message(c.id, llm.UserMessage("Fix the bug in src/main.py before v2.1 ships"))
    for query in ("main", "main.py", "py", "src/main", "v2", "ships!", "BUG"):
        assert _found(store, query) == [c.id], query
    hit = store.search("main.py")[0]
    assert _marked(hit) == ["main", "py"]


def test_search_skips_reasoning_and_tool_results(store: ConversationStore) -> None:
    c = store.create()
    store.add_message(c.id, llm.UserMessage("hello"))
    store.add_message(c.id, _assistant("visible answer"))  # thinking "let me think"
    store.add_message(
        c.id, llm.ToolResultMessage("call_1", "lookup", [llm.TextContent("secretword")])
    )
    assert _found(store, "visible") == [c.id]
    assert _found(store, "think") == []
    assert _found(store, "secretword") == []
    assert _found(store, "lookup") == []  # the tool call's name is not text either


def test_search_follows_every_write_path(store: ConversationStore) -> None:
    c = store.create()
    question = store.add_message(c.id, llm.UserMessage("alpha question"))  # auto title
    store.add_message(c.id, _assistant("beta answer"))
    assert _found(store, "alpha") == [c.id] and store.search("alpha")[0].message_id == question
    assert _found(store, "beta") == [c.id]

    store.rename(c.id, "gamma")
    assert store.search("gamma")[0].message_id is None
    assert [h.message_id for h in store.search("alpha")] == [question]  # the message now

    # a new version beside the answer: both versions are searched
    store.truncate(c.id, 1)
    store.add_message(c.id, _assistant("delta answer"))
    assert _found(store, "delta") == [c.id] and _found(store, "beta") == [c.id]
    edited = store.add_message(c.id, llm.UserMessage("epsilon question"), None)
    assert [h.message_id for h in store.search("epsilon")] == [edited]

    store.update(c.id, title="")  # automatic titling back on: the title row goes
    assert [h.message_id for h in store.search("gamma")] == []

    store.delete(c.id)
    for word in ("alpha", "beta", "delta", "epsilon", "gamma"):
        assert _found(store, word) == []


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '"unclosed',
        "a AND",
        "OR",
        "NOT NOT",
        "NEAR(a b",
        "col:value",
        "*",
        "a*b",
        "^start",
        "(",
        ")",
        "-",
        "a & b | !c",
        "x:* & (",
        "'; DROP TABLE conversations; --",
        "\x00",
        "\u202e\ufeff",
        "{}[]<>",
        "words" * 90,
    ],
)
def test_hostile_queries_are_plain_words(store: ConversationStore, query: str) -> None:
    c = store.create()
    store.add_message(
        c.id, llm.UserMessage("a b c start col value words and or not near drop table")
    )
    store.search(query)  # no engine syntax error, whatever the input
    assert store.exists(c.id)


def test_a_query_too_long_is_refused(store: ConversationStore) -> None:
    with pytest.raises(InvalidRequest) as info:
        store.search("x " * 400)
    assert "at most" in str(info.value) and info.value.param == "q"


def test_search_snippet_is_plain_segments(store: ConversationStore) -> None:
    c = store.create()
    body = "intro " * 20 + "<script>alert(1)</script> needle <b>bold</b> " + "tail " * 30
    store.add_message(c.id, llm.UserMessage(body))
    hit = store.search("needle")[0]
    assert _marked(hit) == ["needle"]
    text = "".join(t for t, _ in hit.snippet)
    assert text.startswith("… ") and text.endswith(" …")
    assert "<script>alert(1)</script> needle <b>bold</b>" in text  # text, for textContent


def test_inserted_conversations_are_searchable(store: ConversationStore) -> None:
    source = store.create(title="Imported title")
    store.add_message(source.id, llm.UserMessage("kiwi question"))
    [item] = transfer.parse(
        transfer.to_json([transfer.Portable(store.get(source.id), False)]), max_messages=10
    )
    item.conversation.summary.id = store.new_id()
    summary = store.insert(item.conversation, title_is_auto=False)
    assert summary.message_count == 1 and summary.title == "Imported title"
    assert set(_found(store, "kiwi")) == {source.id, summary.id}
    assert set(_found(store, "imported")) == {source.id, summary.id}


def test_sqlite_database_from_before_search_is_indexed_on_open(tmp_path: Path) -> None:
    s = ConversationStore.open(tmp_path)
    c = s.create(title="Old title")
    s.add_message(c.id, llm.UserMessage("an old message about walruses"))
    s.close()
    with sqlite3.connect(tmp_path / FILENAME) as db:  # as a database before search was
        db.execute("DROP TABLE search_text")
        db.execute("DROP TABLE search_rows")
    s = ConversationStore.open(tmp_path)
    try:
        assert _found(s, "walrus") == [c.id] and _found(s, "old title") == [c.id]
    finally:
        s.close()
    s = ConversationStore.open(tmp_path)  # opening again does not index twice
    try:
        assert len(s.search("walrus")) == 1
        with sqlite3.connect(tmp_path / FILENAME) as db:
            assert db.execute("SELECT COUNT(*) FROM search_rows").fetchone() == (2,)
    finally:
        s.close()


def test_postgres_database_from_before_search_is_indexed_once(
    pg_cluster: Cluster,
) -> None:
    from pluma.server.storage.postgres import Database
    from pluma.server.storage.postgres.conversations import PgConversationStore

    database = Database.open(pg_cluster.database())
    try:
        store = PgConversationStore(database)
        c = store.create(title="Old title")
        store.add_message(c.id, llm.UserMessage("an old message about walruses"))

        async def as_migration_3_leaves_it(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute("DELETE FROM search_rows")
            await conn.execute(
                "INSERT INTO storage_meta (name, value) VALUES ('search_backfill', '\\x01')"
            )

        database.run_sync(as_migration_3_leaves_it)
        assert PgConversationStore(database).search("walrus")[0].summary.id == c.id
        assert _found(PgConversationStore(database), "old title") == [c.id]  # type: ignore[arg-type]

        async def indexed(conn: psycopg.AsyncConnection[Any]) -> tuple[Any, Any]:
            rows = await (await conn.execute("SELECT COUNT(*) FROM search_rows")).fetchone()
            mark = await (
                await conn.execute("SELECT 1 FROM storage_meta WHERE name = 'search_backfill'")
            ).fetchone()
            return rows, mark

        assert database.run_sync(indexed) == ((2,), None)
    finally:
        database.close()


def test_one_character_words_match_whole_words(store: ConversationStore) -> None:
    c = store.create()
    store.add_message(c.id, llm.UserMessage("apple pie"))
    d = store.create()
    store.add_message(d.id, llm.UserMessage("plan a trip"))
    assert _found(store, "a") == [d.id]
    assert _found(store, "ap") == [c.id]
    assert _marked(store.search("a trip")[0]) == ["a", "trip"]
