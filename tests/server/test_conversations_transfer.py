"""Search, export and import over real HTTP (the conversations router served
by uvicorn on a loopback port), against both stores: SQLite in a temp dir and
a throwaway PostgreSQL database."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from tests.server.test_conversations_api import _Served

from pluma import llm
from pluma.server.app import install_error_handlers
from pluma.server.routes import conversations as routes
from pluma.server.storage import transfer
from pluma.server.storage.conversations import ConversationStore


@pytest.fixture
def store(conversation_store: ConversationStore) -> ConversationStore:
    return conversation_store  # each backend in turn (tests/server/conftest.py)


def _app(store: ConversationStore, max_messages: int = 10_000) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.state.pluma = SimpleNamespace(
        conversations=store, settings=SimpleNamespace(max_messages=max_messages)
    )
    app.include_router(routes.router)
    return app


@pytest.fixture
def client(store: ConversationStore) -> Iterator[httpx.Client]:
    with _Served(_app(store)) as served, httpx.Client(base_url=served.url) as c:
        yield c


def _rich(store: ConversationStore) -> str:
    """A conversation with every kind of content the stores keep."""
    c = store.create(system_prompt="Answer in `code` when you can.", model="m1", connection="c1")
    store.add_message(
        c.id,
        llm.UserMessage(
            [llm.TextContent("What is in this picture?"), llm.ImageContent("iVBORw0=", "image/png")]
        ),
    )
    store.add_message(
        c.id,
        llm.AssistantMessage(
            content=[
                llm.ThinkingContent("Look closely.\nThen answer.", signature="sig-abc"),
                llm.TextContent("A cat. Run:\n\n```sh\necho ```` fences\n```"),
                llm.ToolCall("call_9", "lookup", {"q": "cat <b>breeds</b>", "n": 3}),
            ],
            protocol="anthropic-messages",
            provider="anthropic",
            model="claude-x",
            usage=llm.Usage(input=10, output=20, cache_read=4),
            stop_reason="toolUse",
        ),
    )
    store.add_message(
        c.id, llm.ToolResultMessage("call_9", "lookup", [llm.TextContent('{"breeds": 70}')])
    )
    store.add_message(
        c.id,
        llm.AssistantMessage(
            content=[llm.TextContent("About seventy")],
            model="claude-x",
            stop_reason="aborted",
            error_message="stopped by the user",
        ),
    )
    return c.id


def _without_ids(conversation: dict[str, Any]) -> dict[str, Any]:
    """A conversation (as GET or export shows it) with every id replaced by
    its place, so two copies compare equal when only their ids differ."""
    ids: dict[str | None, Any] = {None: None}
    for n, entry in enumerate(conversation.get("messages", [])):
        if isinstance(entry, dict) and "id" in entry:
            ids[entry["id"]] = n
    for n, entry in enumerate(conversation.get("path", [])):
        ids.setdefault(entry["id"], f"path{n}")

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: (ids.get(v, v) if k in ("id", "parent_id", "current_leaf") else strip(v))
                for k, v in value.items()
                if not (k == "id" and value is conversation)
            }
        if isinstance(value, list):
            return [ids.get(v, v) if isinstance(v, str) and v in ids else strip(v) for v in value]
        return value

    return strip(conversation)  # type: ignore[no-any-return]


def test_search_route_answers_with_plain_snippets(
    client: httpx.Client, store: ConversationStore
) -> None:
    c = store.create()
    message_id = store.add_message(c.id, llm.UserMessage("<img src=x onerror=y>lighthouse near?"))
    body = client.get("/api/conversations/search", params={"q": "lighthouse"}).json()
    assert body["query"] == "lighthouse"
    [result] = body["results"]
    assert result["conversation"]["id"] == c.id and result["message_id"] == message_id
    assert [p["text"] for p in result["snippet"] if p["match"]] == ["lighthouse"]
    text = "".join(p["text"] for p in result["snippet"])
    assert text == "<img src=x onerror=y>lighthouse near?"  # plain text for textContent
    assert client.get("/api/conversations/search", params={"q": ""}).json()["results"] == []
    assert client.get("/api/conversations/search").json()["results"] == []


@pytest.mark.parametrize(
    "q", ['"', "NEAR(", "a OR", "light*", "-light", "x:y", "\\", "'", "%", "light & keep"]
)
def test_hostile_search_input_is_never_a_500(
    client: httpx.Client, store: ConversationStore, q: str
) -> None:
    c = store.create()
    store.add_message(c.id, llm.UserMessage("lighthouse keeper"))
    r = client.get("/api/conversations/search", params={"q": q})
    assert r.status_code == 200, r.text
    if "light" in q:
        assert [x["conversation"]["id"] for x in r.json()["results"]] == [c.id]


def test_search_query_too_long_is_400(client: httpx.Client) -> None:
    r = client.get("/api/conversations/search", params={"q": "a" * 501})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "q" and "at most 500" in r.json()["error"]["message"]
    assert client.get("/api/conversations/search", params={"limit": 0}).status_code == 422


def test_json_export_then_import_is_identical_except_ids(
    client: httpx.Client, store: ConversationStore
) -> None:
    cid = _rich(store)
    client.patch(f"/api/conversations/{cid}", json={"title": "Cats & <dogs>"})
    r = client.get(f"/api/conversations/{cid}/export")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    disposition = r.headers["content-disposition"]
    assert re.fullmatch(
        r'attachment; filename="pluma-cats-dogs-\d{4}-\d\d-\d\d\.json"', disposition
    )
    doc = r.json()
    assert (doc["format"], doc["version"]) == ("pluma.conversations", 1)
    [exported] = doc["conversations"]
    assert exported["id"] == cid and exported["title_is_auto"] is False
    assert exported["messages"][1]["message"]["content"][0] == {
        "type": "thinking",
        "thinking": "Look closely.\nThen answer.",
        "thinkingSignature": "sig-abc",
    }

    first = client.post("/api/conversations/import", json=doc)
    second = client.post("/api/conversations/import", json=doc)
    assert first.status_code == second.status_code == 201
    [a] = first.json()["conversations"]
    [b] = second.json()["conversations"]
    assert len({cid, a["id"], b["id"]}) == 3  # new ids: twice is two copies
    original = client.get(f"/api/conversations/{cid}").json()
    for copy in (a, b):
        got = client.get(f"/api/conversations/{copy['id']}").json()
        assert _without_ids(got) == _without_ids(original)
    again = client.get(f"/api/conversations/{a['id']}/export").json()["conversations"][0]
    assert _without_ids(again) == _without_ids(exported)
    # imported text is searchable at once
    hits = client.get("/api/conversations/search", params={"q": "seventy"}).json()["results"]
    assert {h["conversation"]["id"] for h in hits} == {cid, a["id"], b["id"]}


def test_export_all_round_trips_every_conversation(
    client: httpx.Client, store: ConversationStore
) -> None:
    first = _rich(store)
    second = store.create(title="Second")
    store.add_message(second.id, llm.UserMessage("hello"))
    empty = store.create()
    r = client.get("/api/conversations/export", params={"format": "json"})
    assert re.fullmatch(
        r'attachment; filename="pluma-conversations-\d{4}-\d\d-\d\d\.json"',
        r.headers["content-disposition"],
    )
    doc = r.json()
    assert [c["id"] for c in doc["conversations"]] == [empty.id, second.id, first]
    assert doc["conversations"][0]["title_is_auto"] is True

    imported = client.post("/api/conversations/import", json=doc).json()["conversations"]
    assert [c["title"] for c in imported] == ["", "Second", "What is in this picture?"]
    listed = client.get("/api/conversations").json()["conversations"]
    assert len(listed) == 6
    by_id = {c["id"]: c for c in client.get("/api/conversations/export").json()["conversations"]}
    for old, new in zip(doc["conversations"], imported, strict=True):
        assert _without_ids(by_id[new["id"]]) == _without_ids(old)
    # an automatic title stays automatic: the empty one takes its first message's
    store.add_message(imported[0]["id"], llm.UserMessage("named later"))
    assert store.summary(imported[0]["id"]).title == "named later"


def test_markdown_export_is_readable(client: httpx.Client, store: ConversationStore) -> None:
    cid = _rich(store)
    r = client.get(f"/api/conversations/{cid}/export", params={"format": "markdown"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/markdown; charset=utf-8"
    assert r.headers["content-disposition"].endswith('.md"')
    text = r.text
    assert text.startswith(
        "# What is in this picture?\n\n- Model `m1`, connection `c1`\n- Started "
    )
    assert "## System prompt\n\n> Answer in `code` when you can." in text
    assert "## User\n\nWhat is in this picture?\n\n*[image: image/png]*" in text
    assert "## Assistant (claude-x)\n\n> **Reasoning**\n>\n> Look closely.\n> Then answer." in text
    assert "A cat. Run:\n\n```sh\necho ```` fences\n```" in text
    # the tool call's arguments sit in a JSON fence (PostgreSQL's JSONB keeps no key order)
    call = re.search(r"\*\*Tool call\*\* `lookup`\n\n```json\n(\{.*?\n\})\n```", text, re.S)
    assert call is not None
    assert json.loads(call.group(1)) == {"q": "cat <b>breeds</b>", "n": 3}
    assert '## Tool result: `lookup`\n\n```\n{"breeds": 70}\n```' in text
    assert "About seventy\n\n*(stopped before the end)*" in text

    store.add_message(cid, llm.ToolResultMessage("c", "t", [llm.TextContent("has ```` inside")]))
    text = client.get(f"/api/conversations/{cid}/export?format=markdown").text
    assert "`````\nhas ```` inside\n`````" in text  # a fence longer than any run inside

    other = store.create(title="Other")
    store.add_message(other.id, llm.UserMessage("hi"))
    both = client.get("/api/conversations/export", params={"format": "markdown"}).text
    assert both.startswith("# Other\n") and "\n---\n\n# What is in this picture?\n" in both


def test_export_of_an_unknown_id_is_404(client: httpx.Client) -> None:
    r = client.get("/api/conversations/nope/export")
    assert r.status_code == 404 and r.json()["error"]["code"] == "conversation_not_found"
    assert client.get("/api/conversations/x/export?format=pdf").status_code == 422


def _doc(**conversation: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"title": "t", "messages": [{"role": "user", "content": "hi"}]}
    base.update(conversation)
    return {"format": "pluma.conversations", "version": 1, "conversations": [base]}


@pytest.mark.parametrize(
    ("doc", "param", "words"),
    [
        ([], "body", "must be a JSON object"),
        ({"conversations": []}, "format", 'must be "pluma.conversations"'),
        ({**_doc(), "version": "1"}, "version", "whole number"),
        ({**_doc(), "version": 2}, "version", "newer Pluma"),
        ({**_doc(), "conversations": {}}, "conversations", "must be a list"),
        ({**_doc(), "conversations": []}, "conversations", "nothing to import"),
        ({**_doc(), "conversations": ["x"]}, "conversations[0]", "must be an object"),
        (_doc(title=5), "conversations[0].title", "must be a string"),
        (_doc(title="x" * 201), "conversations[0].title", "more than 200"),
        (_doc(title_is_auto="yes"), "conversations[0].title_is_auto", "true or false"),
        (_doc(created_at=-1), "conversations[0].created_at", "milliseconds"),
        (_doc(messages={}), "conversations[0].messages", "list of messages"),
        (_doc(messages=[{"role": "robot"}]), "conversations[0].messages[0]", "robot"),
        (
            _doc(messages=[{"role": "user", "content": "a"}, {"role": "assistant", "content": 3}]),
            "conversations[0].messages[1]",
            "conversations[0].messages[1]",
        ),
    ],
)
def test_bad_imports_are_400_naming_the_field(
    client: httpx.Client, store: ConversationStore, doc: Any, param: str, words: str
) -> None:
    r = client.post("/api/conversations/import", json=doc)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == param and words in error["message"], error
    assert store.list() == []  # nothing half imported


def test_import_body_that_is_not_json_is_400(client: httpx.Client) -> None:
    r = client.post(
        "/api/conversations/import",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]


def test_import_respects_the_message_limit(store: ConversationStore) -> None:
    doc = _doc(messages=[{"role": "user", "content": str(i)} for i in range(4)])
    with _Served(_app(store, max_messages=3)) as served:
        r = httpx.post(served.url + "/api/conversations/import", json=doc)
    assert r.status_code == 413
    assert "PLUMA_MAX_MESSAGES" in r.json()["error"]["message"]


def test_import_fills_missing_optional_fields(client: httpx.Client) -> None:
    doc = {
        "format": "pluma.conversations",
        "version": 1,
        "conversations": [{"messages": [{"role": "user", "content": "bare"}], "extra": 1}],
    }
    [c] = client.post("/api/conversations/import", json=doc).json()["conversations"]
    assert c["title"] == "" and c["message_count"] == 1 and c["created_at"] > 0


def test_filenames_are_plain_ascii() -> None:
    assert transfer.filename("Ünïcode «quotes» / slashes", "md", when=0) == (
        "pluma-unicode-quotes-slashes-1970-01-01.md"
    )
    assert transfer.filename("", "json", when=0) == "pluma-conversation-1970-01-01.json"
    assert transfer.filename(None, "json", when=0) == "pluma-conversations-1970-01-01.json"


def test_openapi_documents_the_new_routes(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/api/conversations/search"]) == {"get"}
    assert set(paths["/api/conversations/export"]) == {"get"}
    assert set(paths["/api/conversations/import"]) == {"post"}
    assert set(paths["/api/conversations/{conversation_id}/export"]) == {"get"}


def test_the_whole_tree_travels_and_every_version_is_searched(
    client: httpx.Client, store: ConversationStore
) -> None:
    c = store.create(title="Branches", settings={"temperature": 0.3})
    first = store.add_message(c.id, llm.UserMessage("first version about otters"))
    store.add_message(c.id, llm.AssistantMessage(content=[llm.TextContent("otter answer")]))
    second = store.add_message(c.id, llm.UserMessage("second version about beavers"), None)
    store.add_message(c.id, llm.AssistantMessage(content=[llm.TextContent("beaver answer")]))
    store.select_branch(c.id, first)  # the first version is the one shown
    hits = client.get("/api/conversations/search", params={"q": "beavers"}).json()["results"]
    assert [h["message_id"] for h in hits] == [second]  # a version not shown is found too

    doc = client.get(f"/api/conversations/{c.id}/export").json()
    [exported] = doc["conversations"]
    assert len(exported["messages"]) == 4 and exported["settings"] == {"temperature": 0.3}
    assert exported["messages"][2]["parent_id"] is None  # the second version is a root
    [copy] = client.post("/api/conversations/import", json=doc).json()["conversations"]
    assert copy["message_count"] == 4
    original = client.get(f"/api/conversations/{c.id}").json()
    got = client.get(f"/api/conversations/{copy['id']}").json()
    assert [m["content"] for m in got["messages"]] == [m["content"] for m in original["messages"]]
    assert got["messages"][0]["content"] == "first version about otters"
    counts = [p["sibling_count"] for p in got["path"]]
    assert counts == [p["sibling_count"] for p in original["path"]] == [2, 1]
    again = client.get(f"/api/conversations/{copy['id']}/export").json()["conversations"][0]
    assert _without_ids(again) == _without_ids(exported)
    assert {m["id"] for m in again["messages"]}.isdisjoint({m["id"] for m in exported["messages"]})
    hits = client.get("/api/conversations/search", params={"q": "beavers"}).json()["results"]
    assert {h["conversation"]["id"] for h in hits} == {c.id, copy["id"]}


_USER = {"role": "user", "content": "x"}


@pytest.mark.parametrize(
    ("messages", "leaf", "param"),
    [
        (
            [{"id": "a", "parent_id": "zz", "message": _USER}],
            None,
            "conversations[0].messages[0].parent_id",
        ),
        (
            [{"id": "a", "message": _USER}, {"id": "a", "message": _USER}],
            None,
            "conversations[0].messages[1].id",
        ),
        ([{"id": "a", "message": _USER}], "b", "conversations[0].current_leaf"),
        (
            [{"id": "a", "message": {"role": "wizard"}}],
            None,
            "conversations[0].messages[0].message",
        ),
    ],
)
def test_bad_trees_are_400_naming_the_field(
    client: httpx.Client, messages: list[Any], leaf: str | None, param: str
) -> None:
    r = client.post("/api/conversations/import", json=_doc(messages=messages, current_leaf=leaf))
    assert r.status_code == 400 and r.json()["error"]["param"] == param, r.text
