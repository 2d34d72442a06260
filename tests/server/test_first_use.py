"""First use as a new user meets it, end to end through ``pluma serve``:

* started with ``--base-url`` and no ``--model``, the page's chat ("Connection
  default") uses the upstream's model when it lists exactly one, and is
  refused with the list (400 ``model_required``) when it lists several;
* ``<prefix>/<model>`` with no connection named ``prefix`` is refused naming
  the connections, unless the active upstream lists the whole string;
* an Anthropic connection works with the SDK's root URL and with ``/v1``,
  and its health check asks the same API root chat uses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from tests.support.server_process import PlumaServer
from tests.support.upstreams import AnthropicUpstream, OpenAIUpstream, Script

USER = [{"role": "user", "content": "hi"}]


def chat_text(response: httpx.Response) -> str:
    """The text of an ``/api/chat`` stream (OpenAI chunks)."""
    assert response.status_code == 200, response.text
    assert "event: error" not in response.text, response.text
    return "".join(
        choice["delta"].get("content") or ""
        for line in response.text.splitlines()
        if line.startswith("data: {")
        for choice in json.loads(line[6:])["choices"]
    )


@pytest.fixture
def single(tmp_path: Path) -> Iterator[tuple[PlumaServer, OpenAIUpstream]]:
    with OpenAIUpstream() as upstream:
        upstream.models = ["SmolLM2-135M-Instruct"]
        with PlumaServer(tmp_path, args=["--base-url", upstream.base_url]) as server:
            yield server, upstream


def test_the_page_chats_with_the_upstreams_only_model(
    single: tuple[PlumaServer, OpenAIUpstream],
) -> None:
    server, upstream = single
    upstream.reset(Script(text="Hello from the only model."))
    with server.client() as client:
        health = client.get("/api/health").json()
        assert health["active"]["default_model"] == ""
        response = client.post("/api/chat", json={"messages": USER})  # "Connection default"
        assert chat_text(response) == "Hello from the only model."
        second = client.post("/api/chat", json={"messages": USER})
        assert chat_text(second) == "Hello from the only model."
    chats = [r for r in upstream.requests if r.path.endswith("/chat/completions")]
    assert [r.json()["model"] for r in chats] == ["SmolLM2-135M-Instruct"] * 2
    # The model list was read once for both turns (kept for a while).
    assert sum(r.path.endswith("/models") for r in upstream.requests) <= 2


def test_several_models_and_no_default_asks_which_one(tmp_path: Path) -> None:
    with (
        OpenAIUpstream() as upstream,
        PlumaServer(tmp_path, args=["--base-url", upstream.base_url]) as server,
        server.client() as client,
    ):
        response = client.post("/api/chat", json={"messages": USER})
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "model_required"
        assert "model-a" in error["message"] and "meta-llama/Llama-3-8B" in error["message"]
        assert "no default model" in error["message"]
        assert not any(r.path.endswith("/chat/completions") for r in upstream.requests)
        # Naming one of them works.
        upstream.reset(Script(text="picked"))
        picked = client.post("/api/chat", json={"messages": USER, "model": "model-a"})
        assert chat_text(picked) == "picked"


def test_a_prefix_that_names_no_connection_is_refused_unless_the_upstream_lists_it(
    tmp_path: Path,
) -> None:
    with (
        OpenAIUpstream() as upstream,
        PlumaServer(tmp_path, args=["--base-url", upstream.base_url, "--model", "model-a"]) as srv,
    ):
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key=srv.api_key)
        with pytest.raises(openai.NotFoundError) as caught:
            client.chat.completions.create(model="Nope/gpt-4o-mini", messages=USER)  # type: ignore[arg-type]
        message = str(caught.value)
        assert "no connection is named 'Nope'" in message and "connections: default" in message
        assert not any(r.path.endswith("/chat/completions") for r in upstream.requests)
        upstream.reset(Script(text="from llama"))
        answer = client.chat.completions.create(model="meta-llama/Llama-3-8B", messages=USER)  # type: ignore[arg-type]
        assert answer.choices[0].message.content == "from llama"
        assert upstream.requests[-1].json()["model"] == "meta-llama/Llama-3-8B"
        client.close()


@pytest.mark.parametrize("suffix", ["", "/v1", "/v1/"])
def test_an_anthropic_base_url_works_as_the_sdk_root_or_with_v1(
    tmp_path: Path, suffix: str
) -> None:
    with AnthropicUpstream() as upstream:
        upstream.reset(Script(text="Claude here."))
        base = upstream.url + suffix
        with PlumaServer(
            tmp_path,
            args=["--base-url", base, "--compat", "anthropic", "--model", "claude-test-1"],
        ) as server:
            with server.client() as client:
                health = client.get("/api/health").json()
                assert health["upstream_ok"] is True, health
                assert health["upstream"] == upstream.url + "/v1"
            client_sdk = anthropic.Anthropic(base_url=server.url, api_key=server.api_key)
            reply = client_sdk.messages.create(model="claude-test-1", max_tokens=50, messages=USER)  # type: ignore[arg-type]
            client_sdk.close()
        assert reply.content[0].text == "Claude here."  # type: ignore[union-attr]
        paths = [r.path for r in upstream.requests]
        assert "/v1/messages" in paths and "/v1/models" in paths
        assert all(p.startswith("/v1/") and not p.startswith("/v1/v1") for p in paths)


def test_an_anthropic_root_that_is_wrong_fails_health_and_chat_alike(tmp_path: Path) -> None:
    """The health check asks the API root chat uses: a base URL under which
    nothing answers fails both, with the same hint."""
    with AnthropicUpstream() as upstream:
        base = upstream.url + "/anthropic"
        args = ["--base-url", base, "--compat", "anthropic", "--model", "claude-test-1"]
        with PlumaServer(tmp_path, args=args) as server, server.client() as client:
            health = client.get("/api/health").json()
            assert health["upstream_ok"] is False
            assert "https://api.anthropic.com (with or without /v1)" in health["upstream_error"]
            response = client.post("/v1/messages", json={"model": "claude-test-1",
                                                         "max_tokens": 5, "messages": USER})  # fmt: skip
            assert response.status_code == 404
            message = response.json()["error"]["message"]
            assert f"{base}/v1/messages" in message
            assert "https://api.anthropic.com (with or without /v1)" in message
