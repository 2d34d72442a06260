"""Server halves of the page's rough edges, through a real ``pluma serve``:

* a page turn refused before its stream began (here: no model chosen and
  several offered) is stored with a failed reply, so the conversation takes
  its title from the message and a reload shows what happened;
* the ``--base-url`` connection can be edited: the edit is saved as a stored,
  active connection that keeps the command-line key;
* ``/api/health`` says what kind of secret store holds the keys.
"""

from __future__ import annotations

from pathlib import Path

from tests.server.test_first_use import chat_text
from tests.support.server_process import PlumaServer
from tests.support.upstreams import OpenAIUpstream, Script

from pluma.server.storage.secrets import open_secret_store


def test_a_refused_first_turn_is_stored_with_its_error_and_titles_the_conversation(
    tmp_path: Path,
) -> None:
    with (
        OpenAIUpstream() as upstream,
        PlumaServer(tmp_path, args=["--base-url", upstream.base_url]) as server,
        server.client() as client,
    ):
        made = client.post("/api/conversations", json={})
        assert made.status_code == 201, made.text
        conversation = made.json()["id"]
        turn = {"role": "user", "content": "Plan a picnic for Sunday"}
        refused = client.post("/api/chat", json={"conversation_id": conversation, "message": turn})
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "model_required"

        stored = client.get(f"/api/conversations/{conversation}").json()
        assert stored["title"] == "Plan a picnic for Sunday"
        user, reply = stored["messages"]
        assert user["content"] == "Plan a picnic for Sunday"
        assert reply["role"] == "assistant" and reply["stopReason"] == "error"
        assert reply["content"] == []
        assert "no default model" in reply["errorMessage"]

        # Retry as the page does it: truncate to before the turn, send it again.
        client.post(
            f"/api/conversations/{conversation}/truncate", json={"keep": 0}
        ).raise_for_status()
        upstream.reset(Script(text="Bring bread."))
        answered = client.post(
            "/api/chat",
            json={"conversation_id": conversation, "message": turn, "model": "model-a"},
        )
        assert chat_text(answered) == "Bring bread."
        stored = client.get(f"/api/conversations/{conversation}").json()
        assert stored["title"] == "Plan a picnic for Sunday"
        assert [m["role"] for m in stored["messages"]] == ["user", "assistant"]
        assert stored["messages"][1]["stopReason"] == "stop"


def test_editing_the_command_line_connection_stores_it_with_its_key(tmp_path: Path) -> None:
    with (
        OpenAIUpstream() as upstream,
        PlumaServer(
            tmp_path, args=["--base-url", upstream.base_url, "--api-key", "sk-cli-key-123"]
        ) as server,
        server.client() as client,
    ):
        (listed,) = client.get("/api/connections").json()["connections"]
        assert listed["fallback"] is True and listed["default_model"] == ""
        edited = client.put(f"/api/connections/{listed['id']}", json={"default_model": "model-a"})
        assert edited.status_code == 200, edited.text
        saved = edited.json()
        assert saved["id"] != listed["id"] and saved["fallback"] is False
        assert saved["active"] is True and saved["default_model"] == "model-a"
        assert saved["name"] == listed["name"] and saved["base_url"] == listed["base_url"]
        assert saved["has_key"] is True
        assert "sk-cli-key-123" not in edited.text
        (now,) = client.get("/api/connections").json()["connections"]
        assert now["id"] == saved["id"]

        # The stored connection chats with the default model and the key it kept.
        upstream.reset(Script(text="with the key"))
        answered = client.post("/api/chat", json={"messages": [{"role": "user", "content": "hi"}]})
        assert chat_text(answered) == "with the key"
        (chat,) = [r for r in upstream.requests if r.path.endswith("/chat/completions")]
        assert chat.json()["model"] == "model-a"
        assert chat.headers["authorization"] == "Bearer sk-cli-key-123"
    assert "sk-cli-key-123" not in server.log_text()


def test_health_names_the_kind_of_secret_store(tmp_path: Path) -> None:
    with PlumaServer(tmp_path / "memory") as server, server.client() as client:
        store = client.get("/api/health?upstream=false").json()["secret_store"]
        assert store["kind"] == "memory" and store["path"] is None
    with (
        PlumaServer(tmp_path / "file", env={"PLUMA_SECRETS": "file"}) as server,
        server.client() as client,
    ):
        store = client.get("/api/health?upstream=false").json()["secret_store"]
        assert store["kind"] == "file"
        assert store["path"] == str(server.data_dir / "secrets.json")


def test_each_secret_store_names_its_kind(tmp_path: Path) -> None:
    assert open_secret_store("memory", tmp_path).describe()["kind"] == "memory"
    described = open_secret_store("file", tmp_path).describe()
    assert described["kind"] == "file" and described["fallback"] is True
