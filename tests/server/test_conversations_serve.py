"""The conversation store inside a real ``pluma serve``: opened at start-up,
written by POST /api/chat, kept across restarts, and a store that cannot
open is reported instead of stopping the server."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.scripted_server import Reply, ScriptedServer
from tests.support.server_process import PlumaServer


def _chunk(delta: dict[str, object], finish: str | None = None) -> str:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n"


def test_chat_writes_the_turn_and_it_survives_a_restart(tmp_path: Path) -> None:
    reply = Reply.sse(
        [
            _chunk({"role": "assistant", "content": ""}),
            _chunk({"content": "Hi "}),
            _chunk({"content": "there."}),
            _chunk({}, "stop"),
            "data: [DONE]\n\n",
        ]
    )
    with ScriptedServer().reply(reply) as upstream:
        args = ["--base-url", upstream.url + "/v1", "--model", "m"]
        with PlumaServer(tmp_path, args=args) as server, server.client() as client:
            created = client.post("/api/conversations", json={"system_prompt": "Be kind."})
            assert created.status_code == 201
            cid = created.json()["id"]
            with client.stream(
                "POST",
                "/api/chat",
                json={"messages": [{"role": "user", "content": "Hello"}], "conversation_id": cid},
            ) as r:
                assert r.status_code == 200
                body = r.read().decode()
            assert "data: [DONE]" in body
            unknown = client.post(
                "/api/chat",
                json={"messages": [{"role": "user", "content": "x"}], "conversation_id": "nope"},
            )
            assert unknown.status_code == 404
            spec = client.get("/openapi.json").json()
            assert "/api/conversations/{conversation_id}" in spec["paths"]
            data_dir = server.data_dir
        assert (data_dir / "conversations.sqlite3").is_file()

        with (
            PlumaServer(tmp_path / "again", data_dir=data_dir) as server,
            server.client() as client,
        ):
            got = client.get(f"/api/conversations/{cid}").json()
    assert got["title"] == "Hello" and got["system_prompt"] == "Be kind."
    assert [m["role"] for m in got["messages"]] == ["user", "assistant"]
    assert got["messages"][1]["content"] == [{"type": "text", "text": "Hi there."}]
    assert got["messages"][1]["stopReason"] == "stop"


def test_unopenable_store_is_a_reported_problem(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "conversations.sqlite3").mkdir(parents=True)  # a directory: sqlite cannot open it
    with PlumaServer(tmp_path, data_dir=data_dir) as server, server.client() as client:
        r = client.get("/api/conversations")
        assert r.status_code == 503
        assert "not open" in r.json()["error"]["message"]
        health = client.get("/api/health", params={"upstream": "false"}).json()
    assert any("conversations.sqlite3" in p for p in health["problems"])
