"""The conversation store, against both backends: a real SQLite file in a temp
dir, and a real PostgreSQL database (a throwaway cluster the tests start).
The same tests run on both: routes cannot tell them apart."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pluma import llm
from pluma.server.storage.conversations import (
    FILENAME,
    TITLE_LENGTH,
    ConversationNotFound,
    ConversationStore,
    title_from,
)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ConversationStore]:
    if request.param == "sqlite":
        s = ConversationStore.open(tmp_path)
        yield s
        s.close()
        return
    from pluma.server.storage.postgres import Database
    from pluma.server.storage.postgres.conversations import PgConversationStore

    database = Database.open(request.getfixturevalue("pg_cluster").database())
    yield PgConversationStore(database)  # type: ignore[misc]
    database.close()


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
