"""A Python chat plugin, run by a real `pluma serve` as a real subprocess,
streams through every chat endpoint: /api/chat, /v1/chat/completions (the
official openai SDK as client) and /v1/messages (the official anthropic SDK)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import openai
import pytest

from tests.support.plugin_env import SUPPORT, install_python
from tests.support.server_process import PlumaServer

pytestmark = pytest.mark.xdist_group("plugins")

PLUGIN_KEY = "sk-plugin-key-0123456789abcdef"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlumaServer]:
    tmp = tmp_path_factory.mktemp("plugin-chat")
    data = tmp / "data"
    install_python(data, "chat", "echo", SUPPORT / "echo_chat.py")
    marks = tmp / "marks"
    marks.mkdir()
    with PlumaServer(
        tmp,
        data_dir=data,
        args=[
            "--base-url",
            "http://127.0.0.1:9",
            "--compat",
            "echo",
            "--model",
            "echo",
            "--api-key",
            PLUGIN_KEY,
        ],
        env={"PLUMA_TEST_MARKS": str(marks)},
    ) as srv:
        yield srv


def sse_events(text: str) -> list[tuple[str, dict]]:
    events = []
    name = "message"
    for line in text.splitlines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            payload = line[5:].strip()
            if payload and payload != "[DONE]":
                events.append((name, json.loads(payload)))
            name = "message"
    return events


def test_plugin_is_listed_running(server: PlumaServer) -> None:
    with server.client() as client:
        body = client.get("/api/plugins").json()
        kinds = client.get("/api/providers").json()
    (plugin,) = body["plugins"]
    assert plugin["name"] == "echo" and plugin["axis"] == "chat"
    assert plugin["state"] == "running", plugin
    assert plugin["key"] == "echo" and plugin["version"] == "1.0.0"
    assert plugin["mtls"] is True
    assert "echo" in kinds["providers"]
    assert kinds["labels"] == {"echo": "Echo"}  # the page shows Describe's display name


def test_stream_through_api_chat(server: PlumaServer) -> None:
    with server.client() as client:
        response = client.post(
            "/api/chat",
            json={"model": "echo", "messages": [{"role": "user", "content": "hello plugin world"}]},
        )
    assert response.status_code == 200, response.text
    text = "".join(
        e["choices"][0]["delta"].get("content") or ""
        for name, e in sse_events(response.text)
        if name == "message" and e.get("choices")
    )
    assert text == "hello plugin world "


def test_stream_through_openai_sdk(server: PlumaServer) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=server.api_key or "x")
    stream = client.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "one two three"}], stream=True
    )
    parts = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(parts) == "one two three "


def test_stream_through_anthropic_sdk(server: PlumaServer) -> None:
    client = anthropic.Anthropic(base_url=server.url, api_key=server.api_key or "x")
    with client.messages.stream(
        model="echo", max_tokens=100, messages=[{"role": "user", "content": "alpha beta"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "alpha beta "
    assert final.stop_reason == "end_turn"


def test_plugin_error_reaches_the_client_with_partial_text(server: PlumaServer) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=server.api_key or "x")
    parts: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for c in client.chat.completions.create(
            model="fail", messages=[{"role": "user", "content": "x"}], stream=True
        ):
            if c.choices:
                parts.append(c.choices[0].delta.content or "")
    assert "".join(parts) == "partial "
    assert "the upstream refused the key" in str(caught.value)


def test_a_key_the_plugin_quotes_never_reaches_the_client(server: PlumaServer) -> None:
    """A plugin gets the connection's key; if its upstream quotes it in an
    error, the host masks it as the built-in adapters do, on every edge."""
    sdk = openai.OpenAI(base_url=server.url + "/v1", api_key=server.api_key or "x")
    with pytest.raises(openai.APIError) as caught:
        for _ in sdk.chat.completions.create(
            model="quote-key", messages=[{"role": "user", "content": "x"}], stream=True
        ):
            pass
    assert "Incorrect API key provided: sk-…***" in str(caught.value)
    with server.client() as client:
        page = client.post(
            "/api/chat",
            json={"model": "quote-key", "messages": [{"role": "user", "content": "x"}]},
        )
    assert "Incorrect API key provided: sk-…***" in page.text
    for text in (str(caught.value), page.text, server.log_path.read_text()):
        assert PLUGIN_KEY[:12] not in text


def test_models_come_from_the_plugin(server: PlumaServer) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=server.api_key or "x")
    ids = {m.id for m in client.models.list()}
    assert any(i.endswith("echo") for i in ids), ids
