"""The conversation hook of ``/api/chat``: with a ``conversation_id`` the user's
turn is stored before streaming and the reply after the stream ends —
finished, failed, or cut short by the page going away (then with stop reason
``aborted`` and what had arrived) — as a child of the turn it answers, shown
only if the conversation still shows that turn. An unknown id is a 404 before
anything streams.
"""

from __future__ import annotations

import json
import socket
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
    with chat_env(Path(tmp_path_factory.mktemp("conversations"))) as e:
        yield e


@pytest.fixture(scope="module")
def http(env: ChatEnv) -> Iterator[httpx.Client]:
    with env.server.client() as client:
        yield client


def new_conversation(http: httpx.Client) -> str:
    response = http.post("/api/conversations", json={})
    assert response.status_code == 201, response.text
    conversation_id: str = response.json()["id"]
    return conversation_id


def stored(
    http: httpx.Client, conversation_id: str, count: int, timeout: float = 5.0
) -> list[dict[str, Any]]:
    """The stored messages once there are ``count`` of them (the reply is
    saved as the stream ends, which may be just after the client saw it end)."""
    deadline = time.monotonic() + timeout
    while True:
        messages: list[dict[str, Any]] = http.get(f"/api/conversations/{conversation_id}").json()[
            "messages"
        ]
        if len(messages) >= count or time.monotonic() > deadline:
            return messages
        time.sleep(0.02)


def test_user_turn_and_reply_are_stored(env: ChatEnv, http: httpx.Client) -> None:
    env.reset("an", Script(text="Stored reply.", thinking="thought", signature="sig-1"))
    conversation_id = new_conversation(http)
    response = http.post(
        "/api/chat",
        json={
            "conversation_id": conversation_id,
            "model": "an/claude-test-1",
            "messages": [{"role": "user", "content": "Remember this"}],
        },
    )
    assert response.status_code == 200 and response.text.endswith("data: [DONE]\n\n")
    messages = stored(http, conversation_id, 2)
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"] == "Remember this"
    reply = messages[1]
    assert reply["stopReason"] == "stop"
    assert [b["type"] for b in reply["content"]] == ["thinking", "text"]
    assert reply["content"][0].get("thinkingSignature") == "sig-1"  # nothing lost on the event path
    assert reply["content"][1]["text"] == "Stored reply."


def test_failed_reply_is_stored_with_its_error(env: ChatEnv, http: httpx.Client) -> None:
    env.reset(
        "oa",
        Script(text="Partial answer that breaks.", fail_after=2, error_message="overloaded now"),
    )
    conversation_id = new_conversation(http)
    http.post(
        "/api/chat",
        json={"conversation_id": conversation_id, "messages": [{"role": "user", "content": "hi"}]},
    )
    reply = stored(http, conversation_id, 2)[1]
    assert reply["stopReason"] == "error"
    assert "overloaded now" in reply["errorMessage"]
    assert reply["content"][0]["text"] == "Partial answ"


def test_reply_cut_by_a_disconnect_is_stored_as_aborted(env: ChatEnv, http: httpx.Client) -> None:
    upstream = env.reset("oa", Script(text="Hello from the upstream.", hold_after=1))
    conversation_id = new_conversation(http)
    payload = json.dumps(
        {"conversation_id": conversation_id, "messages": [{"role": "user", "content": "hi"}]}
    ).encode()
    sock = socket.create_connection(("127.0.0.1", env.server.port), timeout=10)
    sock.sendall(
        f"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1:{env.server.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    received = b""
    while b"Hello" not in received:
        data = sock.recv(65536)
        assert data
        received += data
    sock.close()
    assert upstream.wait_disconnect(1.0)
    messages = stored(http, conversation_id, 2)
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["stopReason"] == "aborted"
    assert messages[1]["content"][0]["text"] == "Hello "


def test_a_stopped_reply_never_lands_after_a_truncate_and_a_new_turn(
    env: ChatEnv, http: httpx.Client
) -> None:
    """An API client's Stop then truncate and resend, while the server may
    still be saving the stopped reply. Here the truncate and the whole new
    turn land first (the worst order, made deterministic); the stale reply is
    kept as a version of the first turn's answer, never appended after the
    new turn nor shown."""
    first = env.reset("oa", Script(text="Hello from the upstream.", hold_after=1))
    conversation_id = new_conversation(http)
    payload = json.dumps(
        {"conversation_id": conversation_id, "messages": [{"role": "user", "content": "hi"}]}
    ).encode()
    sock = socket.create_connection(("127.0.0.1", env.server.port), timeout=10)
    try:
        sock.sendall(
            f"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1:{env.server.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        received = b""
        while b"Hello" not in received:
            data = sock.recv(65536)
            assert data
            received += data
        truncate = http.post(f"/api/conversations/{conversation_id}/truncate", json={"keep": 0})
        assert truncate.status_code == 200, truncate.text
        env.reset("ln", Script(text="Second answer."))
        again = {"role": "user", "content": "hi again"}
        second = http.post(
            "/api/chat",
            json={"conversation_id": conversation_id, "connection": "ln", "messages": [again]},
        )
        assert second.status_code == 200 and "Second" in second.text
        assert len(stored(http, conversation_id, 2)) == 2
    finally:
        sock.close()
    assert first.wait_disconnect(1.0)
    deadline = time.monotonic() + 5
    while http.get(f"/api/conversations/{conversation_id}").json()["message_count"] < 4:
        assert time.monotonic() < deadline, "the stopped reply was never stored"
        time.sleep(0.02)
    messages = http.get(f"/api/conversations/{conversation_id}").json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert "hi again" in json.dumps(messages[0])
    assert messages[1]["content"][0]["text"] == "Second answer."
    assert messages[1]["stopReason"] == "stop"


def test_unknown_conversation_is_404_before_streaming(env: ChatEnv, http: httpx.Client) -> None:
    upstream = env.reset("oa")
    response = http.post(
        "/api/chat",
        json={"conversation_id": "no-such-id", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 404
    assert "no-such-id" in response.json()["error"]["message"]
    assert upstream.requests == []


def test_cost_is_reported_in_the_final_event_and_stored(env: ChatEnv, http: httpx.Client) -> None:
    # claude-sonnet-4-5 at the catalog's prices: $3 in, $15 out, $0.30 cache read per million.
    env.reset(
        "an", Script(text="Priced.", input_tokens=1000, output_tokens=200, cached_tokens=4000)
    )
    conversation_id = new_conversation(http)
    response = http.post(
        "/api/chat",
        json={
            "conversation_id": conversation_id,
            "model": "an/claude-sonnet-4-5",
            "messages": [{"role": "user", "content": "What does it cost?"}],
        },
    )
    assert response.status_code == 200
    events = [line[6:] for line in response.text.split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    final = json.loads(events[-2])
    assert final["choices"] == []
    expected = (1000 * 3 + 200 * 15 + 4000 * 0.3) / 1e6
    assert final["usage"]["cost"]["total"] == pytest.approx(expected)
    assert final["usage"]["cost"]["cache_read"] == pytest.approx(4000 * 0.3 / 1e6)
    assert final["usage"]["prompt_tokens"] == 5000
    reply = stored(http, conversation_id, 2)[1]
    assert reply["usage"]["cost"]["total"] == pytest.approx(expected)
    assert reply["usage"]["cacheRead"] == 4000


def test_a_model_the_catalog_does_not_know_costs_nothing(env: ChatEnv, http: httpx.Client) -> None:
    env.reset("oa", Script(text="Free.", input_tokens=1000, output_tokens=200))
    response = http.post(
        "/api/chat",
        json={"model": "oa/model-a", "messages": [{"role": "user", "content": "hi"}]},
    )
    events = [line[6:] for line in response.text.split("\n\n") if line.startswith("data: ")]
    usage = json.loads(events[-2])["usage"]
    assert usage["completion_tokens"] == 200 and usage["cost"]["total"] == 0
