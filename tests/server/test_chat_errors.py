"""Failures on the chat endpoints: every one answers in the client's protocol
with a status that says whose fault it is and a message that says what to do.

* caller mistakes (bad bodies, unknown connection, no key) → 4xx naming the problem;
* an upstream failure before the first token → 502 (or the upstream's own
  400/404, which are the caller's request being wrong), carrying the
  upstream's message; on ``/api/chat`` (the page) it arrives inline;
* an upstream failure mid-stream → ``event: error`` after the content so far,
  which the official SDKs raise as an API error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from tests.support.chat_env import KINDS, ChatEnv, chat_env
from tests.support.upstreams import Script

USER = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatEnv]:
    with chat_env(Path(tmp_path_factory.mktemp("errors"))) as e:
        yield e


_clients: dict[str, httpx.Client] = {}


@pytest.fixture(scope="module", autouse=True)
def http(env: ChatEnv) -> Iterator[httpx.Client]:
    """One client for the module (building an httpx client costs ~0.1 s)."""
    with env.server.client() as client:
        _clients[env.url] = client
        yield client
        del _clients[env.url]


def post(env: ChatEnv, path: str, body: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return _clients[env.url].post(
        path, content=content, headers={"content-type": "application/json"}
    )


def error_message(path: str, response: httpx.Response) -> str:
    body = response.json()
    if path == "/v1/messages":
        assert body["type"] == "error"
        assert set(body["error"]) == {"type", "message"}
    else:
        assert {"message", "type", "code"} <= set(body["error"])
    message: str = body["error"]["message"]
    return message


MALFORMED: list[tuple[str, Any, str]] = [
    ("/api/chat", b"{not json", "body: is not valid JSON"),
    ("/api/chat", b"", "body: is empty"),
    ("/api/chat", [1, 2], "body: expected an object, got an array"),
    ("/api/chat", {"messages": "hi"}, "messages: expected an array, got a string"),
    ("/api/chat", {"messages": []}, "messages: must not be empty"),
    ("/api/chat", {"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    ("/api/chat", {"messages": [{"role": "user"}]}, "messages[0].content: is required"),
    ("/api/chat", {"messages": USER, "temperature": 7}, "temperature: must be between 0 and 2"),
    ("/api/chat", {"messages": USER, "reasoning": "extreme"}, "reasoning: expected one of"),
    ("/api/chat", {"messages": USER, "connection": 5}, "connection: expected a string"),
    ("/v1/chat/completions", {"messages": USER}, "model: is required"),
    ("/v1/chat/completions", {"model": "oa/model-a", "messages": USER, "n": 3}, "n: only one"),
    ("/v1/chat/completions", {"model": "oa/model-a"}, "messages: is required"),
    (
        "/v1/chat/completions",
        {
            "model": "oa/model-a",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
                    ],
                }
            ],
        },
        "messages[0].content[0].image_url.url: only inline images",
    ),
    (
        "/v1/chat/completions",
        {"model": "oa/model-a", "messages": USER, "tools": [{"type": "function", "function": {}}]},
        "tools[0].function.name: is required",
    ),
    (
        "/v1/chat/completions",
        {
            "model": "oa/model-a",
            "messages": [
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{oops"},
                        }
                    ],
                }
            ],
        },
        "messages[0].tool_calls[0].function.arguments: is not valid JSON",
    ),
    (
        "/v1/chat/completions",
        {"model": "oa/model-a", "messages": USER, "max_tokens": 0},
        "max_tokens: must be a positive integer",
    ),
    (
        "/v1/chat/completions",
        {
            "model": "oa/model-a",
            "messages": USER,
            "tool_choice": {"type": "function", "function": {"name": "nope"}},
            "tools": [{"type": "function", "function": {"name": "f"}}],
        },
        "tool_choice names tool 'nope'",
    ),
    (
        "/v1/messages",
        {
            "model": "an/claude-test-1",
            "max_tokens": 5,
            "messages": USER,
            "tool_choice": {"type": "tool", "name": "nope"},
            "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        },
        "tool_choice names tool 'nope'",
    ),
    ("/v1/messages", b"nope", "body: is not valid JSON"),
    ("/v1/messages", {"model": "an/claude-test-1", "messages": USER}, "max_tokens: is required"),
    ("/v1/messages", {"max_tokens": 5, "messages": USER}, "model: is required"),
    (
        "/v1/messages",
        {
            "model": "an/claude-test-1",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": [{"type": "video"}]}],
        },
        "messages[0].content[0].type: expected text, image or tool_result",
    ),
    (
        "/v1/messages",
        {
            "model": "an/claude-test-1",
            "max_tokens": 5,
            "messages": USER,
            "thinking": {"type": "enabled"},
        },
        "thinking.budget_tokens: is required",
    ),
    (
        "/v1/messages",
        {"model": "an/claude-test-1", "max_tokens": 5, "messages": USER, "temperature": 1.5},
        "temperature: must be between 0 and 1",
    ),
]


@pytest.mark.parametrize(("path", "body", "expected"), MALFORMED)
def test_malformed_bodies_get_400_naming_the_problem(
    env: ChatEnv, path: str, body: Any, expected: str
) -> None:
    response = post(env, path, body)
    assert response.status_code == 400, response.text
    assert expected in error_message(path, response)


BODIES = {
    "/api/chat": lambda model: {"model": model, "messages": USER},
    "/v1/chat/completions": lambda model: {"model": model, "messages": USER, "stream": True},
    "/v1/messages": lambda model: {
        "model": model,
        "max_tokens": 10,
        "messages": USER,
        "stream": True,
    },
}


@pytest.mark.parametrize("path", BODIES)
def test_no_key_for_a_remote_connection_is_401_saying_how_to_set_one(
    env: ChatEnv, path: str
) -> None:
    response = post(env, path, BODIES[path]("remote/gpt-4o-mini"))
    assert response.status_code == 401
    message = error_message(path, response)
    assert "no API key for profile remote" in message
    assert "pluma keys set remote" in message


def test_models_of_a_remote_connection_without_a_key_is_401(env: ChatEnv) -> None:
    response = _clients[env.url].get("/api/models", params={"connection": "remote"})
    assert response.status_code == 401, response.text
    assert "pluma keys set remote" in response.json()["error"]["message"]


def test_unknown_connection_is_404(env: ChatEnv) -> None:
    response = post(env, "/api/chat", {"messages": USER, "connection": "nosuch"})
    assert response.status_code == 404
    assert "nosuch" in error_message("/api/chat", response)


@pytest.mark.parametrize("kind", ["oa", "an"])
@pytest.mark.parametrize(
    ("upstream_status", "status"), [(400, 400), (404, 404), (429, 429), (503, 502)]
)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_upstream_refusal_before_the_stream_is_an_http_error(
    env: ChatEnv, path: str, kind: str, upstream_status: int, status: int
) -> None:
    env.reset(kind, Script(status=upstream_status, error_message="model says no"))
    response = post(env, path, BODIES[path](env.model(kind)))
    assert response.status_code == status
    message = error_message(path, response)
    assert "model says no" in message
    assert message.startswith("upstream")


@pytest.mark.parametrize("kind", ["oa", "an"])
@pytest.mark.parametrize("upstream_status", [401, 403])
def test_a_rejected_key_is_not_retried_by_the_sdks_and_says_how_to_fix_it(
    env: ChatEnv, kind: str, upstream_status: int
) -> None:
    """The official SDKs, with their default retries, make one upstream call
    each: the answer is the upstream's auth-class status (never retried),
    naming the connection and ``pluma keys set NAME``."""
    upstream = env.reset(kind, Script(status=upstream_status, error_message="invalid x-api-key"))
    oa = openai.OpenAI(base_url=env.url + "/v1", api_key=env.server.api_key)
    error_class = (
        openai.AuthenticationError if upstream_status == 401 else openai.PermissionDeniedError
    )
    with pytest.raises(error_class) as caught:
        oa.chat.completions.create(model=env.model(kind), messages=USER)  # type: ignore[arg-type]
    oa.close()
    assert len(upstream.requests) == 1
    message = str(caught.value)
    assert f"connection {kind!r}" in message and f"pluma keys set {kind}" in message
    assert "invalid x-api-key" in message
    assert caught.value.response.headers["x-should-retry"] == "false"
    upstream.requests.clear()
    an = anthropic.Anthropic(base_url=env.url, api_key=env.server.api_key)
    an_error = (
        anthropic.AuthenticationError if upstream_status == 401 else anthropic.PermissionDeniedError
    )
    with pytest.raises(an_error) as an_caught:
        an.messages.create(model=env.model(kind), max_tokens=50, messages=USER)  # type: ignore[arg-type]
    an.close()
    assert len(upstream.requests) == 1
    assert f"pluma keys set {kind}" in str(an_caught.value)


@pytest.mark.parametrize(
    ("suffix", "hint"), [("", "try the base URL {root}/v1"), ("/v1/v1", "base URL to {root}/v1")]
)
def test_an_upstream_404_on_the_chat_path_names_the_url_and_the_likely_fix(
    env: ChatEnv, suffix: str, hint: str
) -> None:
    """A base URL without (or with one too many) ``/v1``: the 404 names the
    URL tried and suggests the fix, and the health check says the same."""
    root = env.openai.url
    name = f"path{len(suffix)}"
    created = _clients[env.url].post(
        "/api/connections",
        json={"name": name, "compat": "openai", "base_url": root + suffix, "default_model": "m"},
    )
    assert created.status_code in (200, 201), created.text
    try:
        response = post(env, "/v1/chat/completions", {"model": f"{name}/m", "messages": USER})
        assert response.status_code == 404
        message = error_message("/v1/chat/completions", response)
        assert f"POST {root}{suffix}/chat/completions" in message
        assert hint.format(root=root) in message
        tested = _clients[env.url].post(f"/api/connections/{created.json()['id']}/test")
        verdict = tested.json()
        assert verdict["ok"] is False
        assert hint.format(root=root) in verdict["message"]
        assert verdict["message"].count("HTTP 404") == 1, verdict["message"]
        assert "answered 404" not in verdict["message"]
    finally:
        _clients[env.url].delete(f"/api/connections/{created.json()['id']}")


def test_a_missing_model_404_gets_no_base_url_advice(env: ChatEnv) -> None:
    env.reset("oa", Script(status=404, error_message="The model `gpt-9` does not exist"))
    response = post(env, "/v1/chat/completions", {"model": "oa/gpt-9", "messages": USER})
    assert response.status_code == 404
    message = error_message("/v1/chat/completions", response)
    assert "does not exist" in message
    assert "try the base URL" not in message and "set the connection's base URL" not in message


def test_upstream_failure_reaches_the_page_inline(env: ChatEnv) -> None:
    env.reset("oa", Script(status=401, error_message="invalid key at the upstream"))
    response = post(env, "/api/chat", {"messages": USER})
    assert response.status_code == 200
    assert "event: error" in response.text
    data = [line for line in response.text.splitlines() if line.startswith('data: {"error"')]
    assert len(data) == 1
    error = json.loads(data[0][6:])["error"]
    assert "invalid key at the upstream" in error["message"]
    assert {"message", "type", "code"} <= set(error)
    assert "[DONE]" not in response.text


@pytest.mark.parametrize("kind", KINDS)
def test_mid_stream_failure_openai_sdk_raises_after_the_partial_content(
    env: ChatEnv, kind: str
) -> None:
    env.reset(
        kind,
        Script(text="Partial answer that breaks.", fail_after=2, error_message="overloaded now"),
    )
    got: list[str] = []
    client = openai.OpenAI(base_url=env.url + "/v1", api_key=env.server.api_key, max_retries=0)
    with pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(
            model=env.model(kind), messages=USER, stream=True
        ):  # type: ignore[arg-type]
            got.append(chunk.choices[0].delta.content or "")
    client.close()
    assert "".join(got) == "Partial answ"
    assert "overloaded now" in str(caught.value)


@pytest.mark.parametrize("kind", KINDS)
def test_mid_stream_failure_anthropic_sdk_raises(env: ChatEnv, kind: str) -> None:
    env.reset(
        kind,
        Script(text="Partial answer that breaks.", fail_after=2, error_message="overloaded now"),
    )
    client = anthropic.Anthropic(base_url=env.url, api_key=env.server.api_key, max_retries=0)
    texts: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught:  # noqa: SIM117
        with client.messages.stream(model=env.model(kind), max_tokens=50, messages=USER) as stream:  # type: ignore[arg-type]
            texts.extend(stream.text_stream)
    client.close()
    assert "".join(texts) == "Partial answ"
    assert "overloaded now" in str(caught.value)


@pytest.mark.parametrize("kind", KINDS)
def test_mid_stream_failure_on_the_page_stream(env: ChatEnv, kind: str) -> None:
    env.reset(
        kind,
        Script(text="Partial answer that breaks.", fail_after=2, error_message="overloaded now"),
    )
    response = post(env, "/api/chat", {"messages": USER, "connection": kind})
    lines = response.text.splitlines()
    at = lines.index("event: error")
    content = "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("content", "")
        for line in lines[:at]
        if line.startswith("data: {")
    )
    assert content == "Partial answ"
    assert "overloaded now" in json.loads(lines[at + 1][6:])["error"]["message"]


@pytest.mark.parametrize("kind", ["oa", "an"])
def test_a_connections_own_timeout_ends_a_silent_upstream(env: ChatEnv, kind: str) -> None:
    """Timeouts are per connection: one with ``first_byte`` 0.3 s gives up on
    an upstream that sends headers and then nothing, with a 502 saying so."""
    created = _clients[env.url].post(
        "/api/connections",
        json={
            "name": f"slow-{kind}",
            "compat": "openai" if kind == "oa" else "anthropic",
            "base_url": env.upstream(kind).base_url,
            "timeouts": {"first_byte": 0.3},
        },
    )
    assert created.status_code == 201, created.text
    try:
        upstream = env.reset(kind, Script(stall=30.0))
        model = "model-a" if kind == "oa" else "claude-test-1"
        response = post(
            env, "/v1/chat/completions", {"model": f"slow-{kind}/{model}", "messages": USER}
        )
        assert response.status_code == 502, response.text
        error = response.json()["error"]
        assert error["code"] == "upstream_timeout"
        assert "0.3" in error["message"]
        assert upstream.wait_disconnect(1.0), "the timed-out upstream request was not closed"
    finally:
        _clients[env.url].delete(f"/api/connections/{created.json()['id']}")


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("kind", ["oa", "an"])
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_a_rate_limit_passes_its_retry_after_on(
    env: ChatEnv, path: str, kind: str, stream: bool
) -> None:
    """An upstream 429 asking for a longer wait than Pluma retries for is
    answered at once, with the upstream's Retry-After for the client's own
    retry logic."""
    upstream = env.reset(kind, Script(status=429, error_message="slow down", retry_after="120"))
    response = post(env, path, {**BODIES[path](env.model(kind)), "stream": stream})
    assert response.status_code == 429, response.text
    assert response.headers["retry-after"] == "120"
    assert "slow down" in error_message(path, response)
    assert len(upstream.requests) == 1
