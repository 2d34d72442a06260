"""An image backend whose error text quotes the credentials it was sent (a
reverse proxy echoing the request's headers, whole or cut) never gets them
into a response or the server log: the connection test, the checkpoints
route (502), the generation's SSE error and the ``pluma.images`` warning are
all masked like the chat paths."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.images.sse import frames
from tests.support.scripted_server import Reply, Request, ScriptedServer
from tests.support.server_process import PlumaServer

TOKEN = "proxy-bearer-0123456789abcdef"
USER, PASSWORD = "bob", "a1111-password-42"


def leaky(request: Request) -> Reply:
    """Every route fails, quoting the Authorization header three ways."""
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    decoded = base64.b64decode(value).decode() if scheme == "Basic" else value
    text = (
        f"proxy refused {request.method} {request.path}: headers {{'authorization': '{auth}'}}, "
        f"credential starts {value[:-4]}, decoded {decoded}, tail {decoded[-9:]}"
    )
    return Reply.json({"detail": text}, status=500)


def forbidden(auth: str) -> list[str]:
    """The credential, and pieces of it, that must appear nowhere."""
    scheme, _, value = auth.partition(" ")
    secrets = [value]
    if scheme == "Basic":
        decoded = base64.b64decode(value).decode()
        secrets += [decoded, decoded.partition(":")[2]]
    return [piece for s in secrets for piece in (s, s[:-4], s[4:], s[-9:])]


@pytest.fixture
def backend() -> Iterator[ScriptedServer]:
    with ScriptedServer(leaky) as server:
        yield server


@pytest.mark.parametrize(
    ("kind", "auth"),
    [
        ("a1111", {"auth": "bearer", "secret": TOKEN}),
        ("a1111", {"auth": "basic", "username": USER, "secret": PASSWORD}),
        ("comfyui", {"auth": "bearer", "secret": TOKEN}),
        ("comfyui", {"auth": "basic", "username": USER, "secret": PASSWORD}),
    ],
)
def test_backend_errors_quoting_the_credentials_are_masked(
    tmp_path: Path, backend: ScriptedServer, kind: str, auth: dict[str, str]
) -> None:
    seen: list[str] = []
    with PlumaServer(tmp_path) as server, server.client() as client:
        created = client.post(
            "/api/image-connections",
            json={"name": "leaky", "kind": kind, "base_url": backend.url, "activate": True, **auth},
        )
        assert created.status_code == 201, created.text
        ref = created.json()["id"]

        test = client.post(f"/api/image-connections/{ref}/test")
        assert test.status_code == 200 and test.json()["ok"] is False
        seen.append(test.text)

        listing = client.get("/api/images/checkpoints")
        assert listing.status_code == 502
        seen.append(listing.text)
        options = client.get("/api/images/options")
        assert options.status_code == 502
        seen.append(options.text)

        with client.stream(
            "POST", "/api/images/generate", json={"prompt": "a cat", "steps": 2}, timeout=30
        ) as response:
            assert response.status_code == 200
            got = list(frames(response))
        error = [f for f in got if f.event == "error"]
        assert error, got
        seen.append(json.dumps(error[-1].data))
        server.wait_for_log(r"WARNING pluma\.images: image generation on 'leaky' failed")
        seen.append(server.log_text())

    sent = backend.requests[-1].headers["authorization"]
    assert "proxy refused" in seen[0], seen[0]  # the backend's words do come through
    for text in seen:
        assert "***" in text or text is seen[-1]
        for piece in forbidden(sent):
            assert piece not in text, (piece, text)
