"""``/api/chat`` on a conversation tree: the upstream (a loopback server
speaking the Chat Completions API) receives only the visible path — the
chain down to where the page's turn goes — never another branch, also after
switching branches; and the conversation's generation settings reach it as
the protocol's own fields."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.chat_env import ChatEnv, chat_env
from tests.support.upstreams import Script


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatEnv]:
    with chat_env(Path(tmp_path_factory.mktemp("relay-tree"))) as e:
        yield e


@pytest.fixture(scope="module")
def http(env: ChatEnv) -> Iterator[httpx.Client]:
    with env.server.client() as client:
        yield client


def _get(http: httpx.Client, cid: str) -> dict[str, Any]:
    body: dict[str, Any] = http.get(f"/api/conversations/{cid}").json()
    return body


def _turn(env: ChatEnv, http: httpx.Client, cid: str, answer: str, **body: Any) -> list[Any]:
    """One page turn answered with ``answer``; the messages the upstream got."""
    upstream = env.reset("oa", Script(text=answer))
    before = _get(http, cid)["message_count"]
    response = http.post("/api/chat", json={"conversation_id": cid, "connection": "oa", **body})
    assert response.status_code == 200, response.text
    assert answer in response.text
    added = 1 if "regenerate" in body else 2
    deadline = time.monotonic() + 5
    while _get(http, cid)["message_count"] < before + added:  # the reply is saved as it ends
        assert time.monotonic() < deadline, "the reply was never stored"
        time.sleep(0.02)
    sent: list[Any] = upstream.bodies()[-1]["messages"]
    return [(m["role"], m["content"]) for m in sent]


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def test_the_upstream_sees_only_the_visible_path(env: ChatEnv, http: httpx.Client) -> None:
    cid = http.post("/api/conversations", json={}).json()["id"]
    _turn(env, http, cid, "a1", message=_user("q1"), parent_id=None)
    a1 = _get(http, cid)["path"][1]["id"]
    _turn(env, http, cid, "a2", message=_user("q2"), parent_id=a1)
    q1 = _get(http, cid)["path"][0]["id"]

    # Regenerate the first answer: the upstream sees q1 alone.
    sent = _turn(env, http, cid, "a1b", regenerate=q1)
    assert sent == [("user", "q1")]
    shown = _get(http, cid)
    assert [m["content"][0]["text"] for m in shown["messages"][1:]] == ["a1b"]
    assert shown["path"][1]["sibling_count"] == 2 and shown["path"][1]["sibling_index"] == 1

    # Edit the first message: a new root, sent with no history at all.
    sent = _turn(env, http, cid, "b1", message=_user("q1 edited"), parent_id=None)
    assert sent == [("user", "q1 edited")]
    assert _get(http, cid)["path"][0]["sibling_ids"][0] == q1

    # Switch back to the first answer's branch, then continue it.
    switched = http.post(f"/api/conversations/{cid}/branch", json={"message_id": a1})
    assert switched.status_code == 200, switched.text
    assert len(switched.json()["messages"]) == 4
    a2 = switched.json()["path"][3]["id"]
    sent = _turn(env, http, cid, "a3", message=_user("q3"), parent_id=a2)
    assert sent == [
        ("user", "q1"),
        ("assistant", "a1"),
        ("user", "q2"),
        ("assistant", "a2"),
        ("user", "q3"),
    ]
    # Left out, parent_id is the current leaf: the branch shown.
    sent = _turn(env, http, cid, "a4", message=_user("q4"))
    assert [text for _, text in sent][-3:] == ["q3", "a3", "q4"]
    assert _get(http, cid)["message_count"] == 11


def test_a_turn_under_an_unknown_message_is_a_404_before_streaming(
    env: ChatEnv, http: httpx.Client
) -> None:
    upstream = env.reset("oa")
    cid = http.post("/api/conversations", json={}).json()["id"]
    for body in ({"message": _user("x"), "parent_id": "nope"}, {"regenerate": "nope"}):
        response = http.post("/api/chat", json={"conversation_id": cid, **body})
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "message_not_found"
    response = http.post(
        "/api/chat", json={"conversation_id": cid, "regenerate": "x", "message": _user("y")}
    )
    assert response.status_code == 400 and "regenerate" in response.text
    assert upstream.requests == []
    # Regenerating names the message answered, never an answer itself.
    env.reset("oa", Script(text="a1"))
    _turn(env, http, cid, "a1", message=_user("q1"), parent_id=None)
    upstream = env.reset("oa")
    answer_id = _get(http, cid)["path"][1]["id"]
    response = http.post("/api/chat", json={"conversation_id": cid, "regenerate": answer_id})
    assert response.status_code == 400, response.text
    assert "not an answer" in response.json()["error"]["message"]
    assert upstream.requests == []


def test_generation_settings_reach_the_upstream(env: ChatEnv, http: httpx.Client) -> None:
    settings = {
        "temperature": 0.25,
        "max_tokens": 77,
        "top_p": 0.5,
        "stop": ["END", "STOP"],
        "reasoning": "low",
    }
    cid = http.post("/api/conversations", json={"settings": settings}).json()["id"]
    assert _get(http, cid)["settings"] == settings
    _turn(env, http, cid, "ok", message=_user("hi"), parent_id=None)
    sent = env.openai.bodies()[-1]
    assert sent["temperature"] == 0.25
    assert sent.get("max_completion_tokens", sent.get("max_tokens")) == 77
    assert sent["top_p"] == 0.5 and sent["stop"] == ["END", "STOP"]
    assert sent["reasoning_effort"] == "low"
    # A value in the request body wins over the stored one.
    env.reset("oa", Script(text="ok"))
    http.post(
        "/api/chat",
        json={"conversation_id": cid, "connection": "oa", "message": _user("x"), "temperature": 1},
    )
    assert env.openai.bodies()[-1]["temperature"] == 1


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"temperature": 3}, "settings.temperature"),
        ({"top_p": -0.1}, "settings.top_p"),
        ({"max_tokens": 0}, "settings.max_tokens"),
        ({"max_tokens": 1.5}, "settings.max_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "settings.stop"),
        ({"stop": [""]}, "settings.stop"),
        ({"reasoning": "extreme"}, "settings.reasoning"),
        ({"seed": 1}, "settings.seed"),
    ],
)
def test_bad_settings_are_a_400_naming_the_field(
    http: httpx.Client, settings: dict[str, Any], field: str
) -> None:
    cid = http.post("/api/conversations", json={}).json()["id"]
    for response in (
        http.patch(f"/api/conversations/{cid}", json={"settings": settings}),
        http.post("/api/conversations", json={"settings": settings}),
    ):
        assert response.status_code == 400, response.text
        assert field in response.json()["error"]["message"]
    assert _get(http, cid)["settings"] == {}


def test_a_connection_carries_default_generation_settings(http: httpx.Client) -> None:
    defaults = {"temperature": 0.4, "stop": ["###"]}
    response = http.put("/api/connections/oa", json={"generation": defaults})
    assert response.status_code == 200, response.text
    assert response.json()["generation"] == defaults
    listed = http.get("/api/connections").json()["connections"]
    assert next(c for c in listed if c["name"] == "oa")["generation"] == defaults
    bad = http.put("/api/connections/oa", json={"generation": {"temperature": -1}})
    assert bad.status_code == 400 and "generation.temperature" in bad.text
    cleared = http.put("/api/connections/oa", json={"generation": {}})
    assert cleared.json()["generation"] == {}
