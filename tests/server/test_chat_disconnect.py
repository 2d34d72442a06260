"""A client that goes away cancels the upstream request, on every streaming
endpoint and every kind of upstream: the upstream sees its connection closed
within 1 s, both while Pluma is still waiting for the first token and in the
middle of a stream — and on the non-streaming ``/v1`` calls too.

The client is a raw socket so that "going away" is exactly one ``close()`` at
a known moment (no client library buffering or retrying in between).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.chat_env import KINDS, ChatEnv, chat_env
from tests.support.upstreams import Script

ENDPOINTS = ("/api/chat", "/v1/chat/completions", "/v1/messages")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatEnv]:
    with chat_env(Path(tmp_path_factory.mktemp("disconnect"))) as e:
        yield e


def body_for(env: ChatEnv, path: str, kind: str) -> dict[str, Any]:
    messages = [{"role": "user", "content": "hi"}]
    if path == "/api/chat":
        return {"messages": messages, "connection": kind}
    if path == "/v1/messages":
        return {"model": env.model(kind), "max_tokens": 50, "messages": messages, "stream": True}
    return {"model": env.model(kind), "messages": messages, "stream": True}


def send_request(env: ChatEnv, path: str, body: dict[str, Any]) -> socket.socket:
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{env.server.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in env.server.headers.items())
        + "\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", env.server.port), timeout=10)
    sock.sendall(head.encode() + payload)
    return sock


def read_until(sock: socket.socket, marker: bytes, timeout: float = 10.0) -> bytes:
    received = b""
    deadline = time.monotonic() + timeout
    while marker not in received:
        assert time.monotonic() < deadline, f"never saw {marker!r}; got {received!r}"
        data = sock.recv(65536)
        assert data, f"the server closed before {marker!r}; got {received!r}"
        received += data
    return received


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("path", ENDPOINTS)
def test_disconnect_before_first_token(env: ChatEnv, path: str, kind: str) -> None:
    upstream = env.reset(kind, Script(stall=60.0))
    sock = send_request(env, path, body_for(env, path, kind))
    try:
        assert upstream.wait_request(), "the request never reached the upstream"
    finally:
        sock.close()
    started = time.monotonic()
    assert upstream.wait_disconnect(1.0), "the upstream request was not cancelled within 1 s"
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("path", ENDPOINTS)
def test_disconnect_mid_stream(env: ChatEnv, path: str, kind: str) -> None:
    upstream = env.reset(kind, Script(text="Hello from the upstream.", hold_after=1))
    sock = send_request(env, path, body_for(env, path, kind))
    try:
        received = read_until(sock, b"Hello")
        assert received.startswith(b"HTTP/1.1 200")
    finally:
        sock.close()
    assert upstream.wait_disconnect(1.0), "the upstream request was not cancelled within 1 s"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_disconnect_during_a_non_streaming_call(env: ChatEnv, path: str, kind: str) -> None:
    """Not only streams: a client that gives up on a non-streaming call (an
    SDK timeout, say) cancels the upstream request too."""
    upstream = env.reset(kind, Script(text="Hello from the upstream.", hold_after=1))
    body = {**body_for(env, path, kind), "stream": False}
    sock = send_request(env, path, body)
    try:
        assert upstream.wait_request(), "the request never reached the upstream"
    finally:
        sock.close()
    assert upstream.wait_disconnect(1.0), "the upstream request was not cancelled within 1 s"


def test_server_keeps_serving_after_disconnects(env: ChatEnv) -> None:
    env.reset("oa", Script(text="still here"))
    with env.server.client() as client:
        response = client.post("/api/chat", json={"messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200
    chunks = [
        json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: {")
    ]
    assert "still here" in "".join(
        c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]
    )
