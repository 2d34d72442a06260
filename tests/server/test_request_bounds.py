"""The work one request may cause is bounded before it is done: a body's JSON
structure (``{`` and ``[`` counted as the body arrives, PLUMA_MAX_JSON_NODES)
and a chat request's message count (PLUMA_MAX_MESSAGES) are refused with a
413 that names the limit and how to raise it."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from tests.support.server_process import PlumaServer

CHAT_PATHS = ("/v1/chat/completions", "/v1/messages", "/api/chat")


def _chat(count: int) -> dict[str, object]:
    return {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "a"}] * count}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> PlumaServer:
    env = {"PLUMA_MAX_MESSAGES": "50", "PLUMA_MAX_JSON_NODES": "1000"}
    with PlumaServer(tmp_path_factory.mktemp("bounds"), env=env) as srv:
        yield srv  # type: ignore[misc]


@pytest.mark.parametrize("path", CHAT_PATHS)
def test_too_many_messages(server: PlumaServer, path: str) -> None:
    with server.client() as client:
        refused = client.post(path, json=_chat(51))
        assert refused.status_code == 413, refused.text
        error = refused.json()["error"]
        assert "51 items" in error["message"] and "limit of 50" in error["message"]
        assert "PLUMA_MAX_MESSAGES" in error["message"]
        if path == "/v1/messages":
            assert refused.json()["type"] == "error" and error["type"] == "request_too_large"
        else:
            assert error["code"] == "too_many_messages"
        within = client.post(path, json=_chat(50))
        assert within.status_code != 413  # 409: no connection configured


@pytest.mark.parametrize("path", [*CHAT_PATHS, "/api/connections", "/api/conversations"])
def test_too_much_structure(server: PlumaServer, path: str) -> None:
    nested = {"name": "x", "base_url": "http://127.0.0.1:9/v1", "extra": [{}] * 1001}
    with server.client() as client:
        refused = client.post(path, json=nested)
        assert refused.status_code == 413, refused.text
        message = refused.json()["error"]["message"]
        assert "more than 1000 JSON objects and arrays" in message
        assert "PLUMA_MAX_JSON_NODES" in message
        # sent in pieces, without a Content-Length: counted as it arrives
        raw = json.dumps(nested).encode()
        pieces = iter([raw[i : i + 512] for i in range(0, len(raw), 512)])
        chunked = client.post(path, content=pieces, headers={"content-type": "application/json"})
        assert chunked.status_code == 413


def test_the_red_team_body_with_the_default_limits(tmp_path: Path) -> None:
    """26 MB of 820k tiny messages, under the 32 MiB body limit: refused
    while it arrives, before any of it is parsed."""
    payload = json.dumps(_chat(820_000)).encode()
    assert 25e6 < len(payload) < 32 * 2**20
    with PlumaServer(tmp_path) as srv, httpx.Client(base_url=srv.url, timeout=60) as client:
        for path in CHAT_PATHS:
            refused = client.post(
                path, content=payload, headers={"content-type": "application/json"}
            )
            assert refused.status_code == 413, refused.text[:300]
            assert "200000 JSON objects" in refused.json()["error"]["message"]
