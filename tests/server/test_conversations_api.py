"""/api/conversations over real HTTP: the router mounted in a FastAPI app
served by uvicorn on a free loopback port, with the store in a temp dir."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from pluma import llm
from pluma.server.app import install_error_handlers
from pluma.server.routes import conversations as routes
from pluma.server.storage.conversations import ConversationStore


class _Served:
    def __init__(self, app: FastAPI) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})

    def __enter__(self) -> _Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:  # uvicorn sets this once it listens
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def _app(store: ConversationStore | None) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.state.pluma = SimpleNamespace(conversations=store)
    app.include_router(routes.router)
    return app


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ConversationStore]:
    s = ConversationStore.open(tmp_path)
    yield s
    s.close()


@pytest.fixture
def client(store: ConversationStore) -> Iterator[httpx.Client]:
    with _Served(_app(store)) as served, httpx.Client(base_url=served.url) as c:
        yield c


def test_crud_round_trip(client: httpx.Client, store: ConversationStore) -> None:
    assert client.get("/api/conversations").json() == {"conversations": []}

    r = client.post("/api/conversations", json={"system_prompt": "Be brief."})
    assert r.status_code == 201
    created = r.json()
    cid = created["id"]
    assert created["title"] == "" and created["system_prompt"] == "Be brief."
    assert created["message_count"] == 0

    # The chat relay writes through the store; the API shows the result.
    store.add_message(cid, llm.UserMessage("Where is <b>Paris</b>?"))
    store.add_message(cid, llm.AssistantMessage(content=[llm.TextContent("France")]))

    got = client.get(f"/api/conversations/{cid}").json()
    assert got["title"] == "Where is <b>Paris</b>?"
    assert [m["role"] for m in got["messages"]] == ["user", "assistant"]
    assert got["messages"][1]["content"] == [{"type": "text", "text": "France"}]
    assert got["messages"][1]["stopReason"] == "stop"

    r = client.patch(f"/api/conversations/{cid}", json={"title": "  Geography  "})
    assert r.status_code == 200 and r.json()["title"] == "Geography"
    r = client.patch(f"/api/conversations/{cid}", json={"system_prompt": "Answer in French."})
    assert r.json()["title"] == "Geography"
    assert r.json()["system_prompt"] == "Answer in French."

    listed = client.get("/api/conversations").json()["conversations"]
    assert [(c["id"], c["message_count"]) for c in listed] == [(cid, 2)]

    r = client.post(f"/api/conversations/{cid}/truncate", json={"keep": 1})
    assert r.status_code == 200 and r.json()["message_count"] == 2  # kept as a branch
    assert len(client.get(f"/api/conversations/{cid}").json()["messages"]) == 1

    assert client.delete(f"/api/conversations/{cid}").status_code == 204
    r = client.get(f"/api/conversations/{cid}")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "conversation_not_found"
    assert "does not exist" in r.json()["error"]["message"]


def test_create_without_body(client: httpx.Client) -> None:
    r = client.post("/api/conversations")
    assert r.status_code == 201 and r.json()["id"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/conversations/missing", None),
        ("PATCH", "/api/conversations/missing", {"title": "x"}),
        ("DELETE", "/api/conversations/missing", None),
        ("POST", "/api/conversations/missing/truncate", {"keep": 0}),
    ],
)
def test_unknown_id_is_404_with_error_shape(
    client: httpx.Client, method: str, path: str, body: object
) -> None:
    r = client.request(method, path, json=body)
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["type"] == "not_found_error" and err["code"] == "conversation_not_found"


def test_invalid_input_is_rejected(client: httpx.Client) -> None:
    cid = client.post("/api/conversations").json()["id"]
    assert client.post(f"/api/conversations/{cid}/truncate", json={"keep": -1}).status_code == 422
    assert client.patch(f"/api/conversations/{cid}", json={"title": "x" * 201}).status_code == 422


def test_store_missing_is_503_with_a_reason(tmp_path: Path) -> None:
    with _Served(_app(None)) as served:
        r = httpx.get(served.url + "/api/conversations")
    assert r.status_code == 503
    assert "not open" in r.json()["error"]["message"]
    assert r.json()["error"]["code"] == "conversations_unavailable"


def test_openapi_documents_the_routes(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert set(paths["/api/conversations"]) == {"get", "post"}
    assert set(paths["/api/conversations/{conversation_id}"]) == {"get", "patch", "delete"}
    get_one = paths["/api/conversations/{conversation_id}"]["get"]
    ok_schema = get_one["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok_schema["$ref"].endswith("/ConversationWithMessages")
    assert "404" in get_one["responses"]
    assert "ConversationList" in spec["components"]["schemas"]
