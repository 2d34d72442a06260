"""Keys on the chat path: the connection's key (from the secret store) is what
the upstream receives, in its own protocol's header, and it appears in no
response and no log line; a server with no connection at all answers 409
saying how to add one."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest
from tests.support.chat_env import ChatEnv, chat_env
from tests.support.server_process import PlumaServer
from tests.support.upstreams import Script

OA_KEY = "sk-test-oa-0123456789abcdef"
AN_KEY = "sk-ant-test-0123456789abcdef"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatEnv]:
    with chat_env(Path(tmp_path_factory.mktemp("keys"))) as e:
        with e.server.client() as client:
            for ref, key in (("oa", OA_KEY), ("an", AN_KEY)):
                response = client.put(f"/api/connections/{ref}", json={"api_key": key})
                assert response.status_code == 200, response.text
        yield e


def test_keys_reach_the_upstream_and_nothing_else(env: ChatEnv) -> None:
    env.reset(
        "oa", Script(status=401, error_message=f"Incorrect API key provided: {OA_KEY}")
    )  # as OpenAI words it
    env.reset("an")
    seen: list[str] = []
    oai = openai.OpenAI(base_url=env.url + "/v1", api_key=env.server.api_key, max_retries=0)
    with pytest.raises(openai.APIStatusError) as caught:
        oai.chat.completions.create(
            model="oa/model-a", messages=[{"role": "user", "content": "hi"}]
        )
    seen.append(str(caught.value.body))
    env.reset("oa")
    chunks = oai.chat.completions.create(
        model="oa/model-a", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    seen.extend(c.model_dump_json() for c in chunks)
    models = oai.models.list()
    seen.extend(m.model_dump_json() for m in models)
    ant = anthropic.Anthropic(base_url=env.url, api_key=env.server.api_key, max_retries=0)
    message = ant.messages.create(
        model="an/claude-test-1", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
    )
    seen.append(message.model_dump_json())
    with env.server.client() as client:
        seen.append(
            client.post("/api/chat", json={"messages": [{"role": "user", "content": "hi"}]}).text
        )
        seen.append(client.get("/api/connections").text)

    assert env.openai.requests[-1].headers["authorization"] == f"Bearer {OA_KEY}"
    assert env.anthropic.requests[-1].headers["x-api-key"] == AN_KEY
    for text in [*seen, env.server.log_text()]:
        assert OA_KEY not in text
        assert AN_KEY not in text


def test_no_connection_at_all_is_409(tmp_path: Path) -> None:
    with PlumaServer(tmp_path) as server, server.client() as client:
        chat = client.post("/api/chat", json={"messages": [{"role": "user", "content": "hi"}]})
        completions = client.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        )
        messages = client.post(
            "/v1/messages",
            json={"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
        )
        models = client.get("/v1/models")
    for response in (chat, completions, messages, models):
        assert response.status_code == 409, response.text
        assert "no connection is configured" in response.text
    assert messages.json()["type"] == "error"


def test_models_when_the_upstream_is_down_is_502(tmp_path: Path) -> None:
    sock = socket.socket()  # a port nobody listens on: bind one and close it
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with (
        PlumaServer(tmp_path, args=["--base-url", f"http://127.0.0.1:{port}/v1"]) as server,
        server.client() as client,
    ):
        response = client.get("/v1/models")
    assert response.status_code == 502
    assert f"127.0.0.1:{port}" in response.json()["error"]["message"]


def test_sdks_authenticate_with_the_access_token(tmp_path: Path) -> None:
    """With an access token, the OpenAI SDK sends it as ``Authorization: Bearer``
    and the Anthropic SDK as ``x-api-key``: both are accepted; a wrong one is not."""
    from tests.support.upstreams import OpenAIUpstream

    with (
        OpenAIUpstream() as upstream,
        PlumaServer(
            tmp_path, args=["--base-url", upstream.base_url], token="pluma-token-123456"
        ) as server,
    ):
        oai = openai.OpenAI(base_url=server.url + "/v1", api_key=server.api_key, max_retries=0)
        completion = oai.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        assert completion.choices[0].message.content == Script().text
        ant = anthropic.Anthropic(base_url=server.url, api_key=server.api_key, max_retries=0)
        message = ant.messages.create(
            model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
        assert message.content[0].text == Script().text  # type: ignore[union-attr]
        wrong = anthropic.Anthropic(base_url=server.url, api_key="wrong", max_retries=0)
        with pytest.raises(anthropic.AuthenticationError):
            wrong.messages.create(
                model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            )
        assert "pluma-token-123456" not in server.log_text()
