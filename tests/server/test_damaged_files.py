"""Damaged files in the data directory, met by a real ``pluma serve``: the
server starts, says what is wrong (start-up log and ``/api/health``, which
answers 200), answers JSON errors that say what to do, and leaves the file
exactly as it found it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.support.server_process import PlumaServer

from pluma import llm
from pluma.server.storage.conversations import FILENAME, ConversationStore

PAGE = 4096


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _damaged_history(data_dir: Path) -> tuple[Path, str]:
    """A history with enough messages to span many pages, whose pages after
    the first two are then overwritten (page 1 holds the header and schema)."""
    store = ConversationStore.open(data_dir)
    conversation = store.create(title="kept")
    for n in range(200):
        store.add_message(conversation.id, llm.UserMessage(f"message {n} " + "x" * 500))
    store.close()
    path = data_dir / FILENAME
    raw = bytearray(path.read_bytes())
    assert len(raw) > 10 * PAGE
    raw[2 * PAGE :] = b"\xaa" * (len(raw) - 2 * PAGE)
    path.write_bytes(bytes(raw))
    return path, conversation.id


def test_a_damaged_conversation_database(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    path, conversation_id = _damaged_history(data_dir)
    before = _digest(path)
    with PlumaServer(tmp_path, data_dir=data_dir) as server, server.client() as client:
        server.wait_for_log(r"ERROR pluma\.conversations: the conversation history database")
        health = client.get("/api/health", params={"upstream": "false"})
        assert health.status_code == 200
        problems = health.json()["problems"]
        assert any(str(path) in p and ".recover" in p and "untouched" in p for p in problems), (
            problems
        )
        for response in (
            client.get("/api/conversations"),
            client.get(f"/api/conversations/{conversation_id}"),
            client.post("/api/conversations", json={"title": "new"}),
            client.post(f"/api/conversations/{conversation_id}/truncate", json={"keep": 1}),
            client.post(
                "/api/chat",
                json={
                    "messages": [{"role": "user", "content": "hi"}],
                    "conversation_id": conversation_id,
                },
            ),
        ):
            assert response.status_code == 503, (response.request.url, response.text)
            assert response.headers["content-type"].startswith("application/json")
            error = response.json()["error"]
            assert error["code"] == "conversations_unavailable"
            assert "damaged" in error["message"] and ".recover" in error["message"]
    assert _digest(path) == before


def test_a_torn_secrets_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    args = ["--secrets", "file"]
    with (
        PlumaServer(tmp_path / "first", data_dir=data_dir, args=args) as server,
        server.client() as client,
    ):
        created = client.post(
            "/api/connections",
            json={
                "name": "remote",
                "compat": "openai",
                "base_url": "http://127.0.0.1:9/v1",
                "api_key": "sk-torn-0123456789",
            },
        )
        assert created.status_code == 201, created.text
    secrets = data_dir / "secrets.json"
    text = secrets.read_text()
    secrets.write_text(text[: len(text) // 2])  # a write cut short
    before = _digest(secrets)

    with PlumaServer(tmp_path / "second", data_dir=data_dir, args=args) as server:
        server.wait_for_log(r"ERROR pluma\.server: secret store problem: the secret file")
        with server.client() as client:
            health = client.get("/api/health", params={"upstream": "false"})
            assert health.status_code == 200, health.text
            body = health.json()
            assert body["status"] == "degraded"
            assert body["active"]["has_key"] is None
            assert any(
                str(secrets) in p and "unreadable" in p and "move it aside" in p
                for p in body["problems"]
            ), body["problems"]
            listed = client.get("/api/connections")
            assert listed.headers["content-type"].startswith("application/json")
        assert "sk-torn-0123456789" not in server.log_text()
        assert json.dumps(body).find("sk-torn") == -1
    assert _digest(secrets) == before
