"""The page names a stored conversation and sends only the new turn; the
server reads the history from its own store. A multi-turn Anthropic
conversation with extended thinking and tool use then keeps every signed
thinking block on every later request, against an upstream that refuses a
turn whose thinking signature is missing, as the real API does (the old page
converted stored messages to OpenAI messages and lost them).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.chat_env import ChatEnv, chat_env
from tests.support.upstreams import Script, ToolUse

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatEnv]:
    with chat_env(Path(tmp_path_factory.mktemp("history"))) as e:
        e.anthropic.strict_thinking = True
        yield e


@pytest.fixture(scope="module")
def http(env: ChatEnv) -> Iterator[httpx.Client]:
    with env.server.client() as client:
        yield client


def _conversation(http: httpx.Client) -> str:
    response = http.post("/api/conversations", json={})
    assert response.status_code == 201, response.text
    conversation_id: str = response.json()["id"]
    return conversation_id


def _stored(http: httpx.Client, conversation_id: str, count: int) -> list[dict[str, Any]]:
    """The stored messages once there are ``count`` (the reply is saved as the
    stream ends, which may be just after the client saw it end)."""
    deadline = time.monotonic() + 5
    while True:
        messages: list[dict[str, Any]] = http.get(f"/api/conversations/{conversation_id}").json()[
            "messages"
        ]
        if len(messages) >= count or time.monotonic() > deadline:
            return messages
        time.sleep(0.02)


def _turn(http: httpx.Client, conversation_id: str, message: dict[str, Any]) -> str:
    """Send the page's body; the whole SSE answer."""
    response = http.post(
        "/api/chat",
        json={
            "conversation_id": conversation_id,
            "message": message,
            "model": "an/claude-test-1",
            "reasoning": "medium",
            "tools": TOOLS,
        },
    )
    assert response.status_code == 200, response.text
    assert "event: error" not in response.text, response.text
    assert response.text.endswith("data: [DONE]\n\n")
    return response.text


def _thinking_blocks(body: dict[str, Any]) -> list[tuple[int, str, str]]:
    """(message index, thinking, signature) of every thinking block sent."""
    return [
        (i, block["thinking"], block["signature"])
        for i, message in enumerate(body["messages"])
        if message["role"] == "assistant" and isinstance(message["content"], list)
        for block in message["content"]
        if block["type"] == "thinking"
    ]


def test_thinking_and_tool_use_keep_their_signatures_on_every_turn(
    env: ChatEnv, http: httpx.Client
) -> None:
    conversation_id = _conversation(http)

    # Turn 1: the model thinks, then calls a tool.
    env.reset(
        "an",
        Script(
            thinking="The user wants the weather; I should call the tool.",
            signature="sig-turn-1",
            text="",
            tools=[ToolUse("toolu_01", "get_weather", {"city": "Paris"})],
        ),
    )
    _turn(http, conversation_id, {"role": "user", "content": "Weather in Paris?"})
    first = env.anthropic.requests[-1].json()
    assert first["thinking"]["type"] == "enabled"  # so the upstream's checks apply
    stored = _stored(http, conversation_id, 2)
    assert [m["role"] for m in stored] == ["user", "assistant"]
    assert stored[1]["content"][0]["thinkingSignature"] == "sig-turn-1"

    # Turn 2: the tool's result; the upstream needs the signed thinking that
    # preceded the tool_use, or it refuses the request.
    env.reset("an", Script(thinking="Sunny: say so.", signature="sig-turn-2", text="Sunny, 21 C."))
    answer = _turn(
        http,
        conversation_id,
        {
            "role": "toolResult",
            "toolCallId": "toolu_01",
            "toolName": "get_weather",
            "content": [{"type": "text", "text": "sunny, 21 C"}],
            "isError": False,
        },
    )
    assert "Sunny" in answer
    second = env.anthropic.requests[-1].json()
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "user"]
    assert second["messages"][1]["content"][0]["type"] == "thinking"
    assert _thinking_blocks(second) == [
        (1, "The user wants the weather; I should call the tool.", "sig-turn-1")
    ]
    assert second["messages"][2]["content"][0]["type"] == "tool_result"

    # Turn 3: a new question; both earlier signed thinking blocks go back.
    env.reset("an", Script(thinking="Polite reply.", signature="sig-turn-3", text="Welcome!"))
    _turn(http, conversation_id, {"role": "user", "content": "Thanks! Anything else?"})
    third = env.anthropic.requests[-1].json()
    assert [sig for _, _, sig in _thinking_blocks(third)] == ["sig-turn-1", "sig-turn-2"]
    stored = _stored(http, conversation_id, 6)
    assert [m["role"] for m in stored] == [
        "user",
        "assistant",
        "toolResult",
        "assistant",
        "user",
        "assistant",
    ]


def test_the_upstream_refuses_a_history_that_lost_its_thinking(
    env: ChatEnv, http: httpx.Client
) -> None:
    """What the page used to send (stored messages as OpenAI messages, thinking
    dropped) is refused: the check above can fail."""
    env.reset("an", Script(text="never sent"))
    response = http.post(
        "/api/chat",
        json={
            "model": "an/claude-test-1",
            "reasoning": "medium",
            "tools": TOOLS,
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "toolu_01",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "toolu_01", "content": "sunny, 21 C"},
            ],
        },
    )
    assert "event: error" in response.text
    data = response.text.split("event: error\ndata: ", 1)[1].split("\n", 1)[0]
    assert "must start with a thinking block" in json.loads(data)["error"]["message"]


def test_a_page_turn_needs_a_known_conversation(env: ChatEnv, http: httpx.Client) -> None:
    message = {"role": "user", "content": "hi"}
    missing = http.post("/api/chat", json={"message": message, "model": "an/claude-test-1"})
    assert missing.status_code == 400
    assert missing.json()["error"]["param"] == "conversation_id"
    unknown = http.post(
        "/api/chat", json={"conversation_id": "nope", "message": message, "model": "an/x"}
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "conversation_not_found"
    conversation_id = _conversation(http)
    wrong = http.post(
        "/api/chat",
        json={
            "conversation_id": conversation_id,
            "message": {"role": "assistant", "content": []},
            "model": "an/x",
        },
    )
    assert wrong.status_code == 400
    assert "message.role" in wrong.json()["error"]["message"]
    assert http.get(f"/api/conversations/{conversation_id}").json()["messages"] == []
