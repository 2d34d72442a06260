"""Message JSON: every message and block kind round-trips with the wire names
of DESIGN.md, and content a role may not hold is rejected with its path."""

from __future__ import annotations

import json

import pytest

from pluma import llm

HISTORY: list[llm.Message] = [
    llm.UserMessage("Plain text", timestamp=1),
    llm.UserMessage(
        [llm.TextContent("Look:"), llm.ImageContent(data="aGk=", mime_type="image/png")],
        timestamp=2,
    ),
    llm.AssistantMessage(
        content=[
            llm.ThinkingContent("Hmm.", signature="sig-1"),
            llm.ThinkingContent("", signature="opaque", redacted=True),
            llm.TextContent("Calling.", text_signature="ts"),
            llm.ToolCall(
                "call_1", "weather", {"city": "Paris", "n": [1, 2]}, thought_signature="g"
            ),
        ],
        protocol="anthropic-messages",
        provider="anthropic",
        model="claude-sonnet-4-5",
        usage=llm.Usage(
            input=10, output=5, cache_read=3, cache_write=2, cost=llm.Cost(0.1, 0.2, 0.01, 0.02)
        ),
        stop_reason="toolUse",
        response_id="msg_1",
        diagnostics=[llm.Diagnostic("tool_arguments_repaired", "fixed", 3)],
        timestamp=3,
    ),
    llm.ToolResultMessage(
        tool_call_id="call_1",
        tool_name="weather",
        content=[llm.TextContent("18 °C"), llm.ImageContent("aGk=", "image/jpeg")],
        is_error=True,
        timestamp=4,
    ),
    llm.AssistantMessage(
        content=[llm.TextContent("Part")],
        stop_reason="aborted",
        error_message="the request was aborted",
        timestamp=5,
    ),
]


def test_round_trip_of_every_kind() -> None:
    text = llm.messages_to_json(HISTORY)
    back = llm.messages_from_json(text)
    assert back == HISTORY
    for message in HISTORY:
        assert llm.from_json(llm.to_json(message)) == message


def test_wire_names() -> None:
    data = json.loads(llm.messages_to_json(HISTORY))
    assert [m["role"] for m in data] == ["user", "user", "assistant", "toolResult", "assistant"]
    assert data[0]["content"] == "Plain text"
    assert data[1]["content"][1] == {"type": "image", "data": "aGk=", "mimeType": "image/png"}
    assistant = data[2]
    assert assistant["content"] == [
        {"type": "thinking", "thinking": "Hmm.", "thinkingSignature": "sig-1"},
        {"type": "thinking", "thinking": "", "thinkingSignature": "opaque", "redacted": True},
        {"type": "text", "text": "Calling.", "textSignature": "ts"},
        {
            "type": "toolCall",
            "id": "call_1",
            "name": "weather",
            "arguments": {"city": "Paris", "n": [1, 2]},
            "thoughtSignature": "g",
        },
    ]
    assert assistant["stopReason"] == "toolUse"
    assert assistant["responseId"] == "msg_1"
    assert assistant["protocol"] == assistant["api"] == "anthropic-messages"
    assert assistant["usage"] == {
        "input": 10,
        "output": 5,
        "cacheRead": 3,
        "cacheWrite": 2,
        "totalTokens": 20,
        "cost": {
            "input": 0.1,
            "output": 0.2,
            "cacheRead": 0.01,
            "cacheWrite": 0.02,
            "total": pytest.approx(0.33),
        },
    }
    assert assistant["diagnostics"] == [
        {"kind": "tool_arguments_repaired", "message": "fixed", "contentIndex": 3}
    ]
    result = data[3]
    assert (result["toolCallId"], result["toolName"], result["isError"]) == (
        "call_1",
        "weather",
        True,
    )
    assert data[4]["errorMessage"] == "the request was aborted"
    assert "errorMessage" not in assistant


def test_reference_form_with_api_reads() -> None:
    message = llm.from_json(
        '{"role": "assistant", "api": "openai-completions", "content": [], "stopReason": "stop"}'
    )
    assert isinstance(message, llm.AssistantMessage)
    assert message.protocol == "openai-completions"


@pytest.mark.parametrize(
    ("document", "error"),
    [
        (
            '[{"role": "user", "content": [{"type": "text", "text": "hi"},'
            ' {"type": "toolCall", "id": "1", "name": "f"}]}]',
            "messages[0].content[1]: user messages may hold text, image content, not 'toolCall'",
        ),
        (
            '[{"role": "toolResult", "toolCallId": "1", "content": [{"type": "thinking", "thinking": ""}]}]',
            "messages[0].content[0]: toolResult messages may hold text, image content, not 'thinking'",
        ),
        (
            '[{"role": "user", "content": "ok"}, {"role": "assistant", "content": [{"type": "image", "data": "", "mimeType": "image/png"}]}]',
            "messages[1].content[0]: assistant messages may hold text, thinking, toolCall content, not 'image'",
        ),
        ('[{"role": "system", "content": "x"}]', "messages[0].role: expected 'user', 'assistant'"),
        ('[{"role": "user", "content": 5}]', "messages[0].content: expected a string or a list"),
        ('[{"role": "assistant"}]', "messages[0]: missing 'content'"),
        (
            '[{"role": "assistant", "content": [], "stopReason": "finished"}]',
            "messages[0].stopReason: 'finished' is not one of",
        ),
        (
            '[{"role": "toolResult", "content": []}]',
            "messages[0]: missing 'toolCallId'",
        ),
        (
            '[{"role": "user", "content": [{"type": "text"}]}]',
            "messages[0].content[0]: missing 'text'",
        ),
        (
            '[{"role": "user", "content": [{"type": "text", "text": 3}]}]',
            "messages[0].content[0].text: expected str",
        ),
        (
            '[{"role": "assistant", "content": [{"type": "toolCall", "id": "1", "name": "f", "arguments": [1]}]}]',
            "messages[0].content[0].arguments: expected an object",
        ),
        (
            '[{"role": "assistant", "content": [], "usage": {"input": "many"}}]',
            "messages[0].usage: token counts and costs must be numbers",
        ),
        (
            '[{"role": "assistant", "content": [], "errorMessage": 5}]',
            "messages[0].errorMessage: expected a string",
        ),
        (
            '[{"role": "user", "content": ["hi"]}]',
            "messages[0].content[0]: a content block must be",
        ),
        ("[1]", "messages[0]: a message must be an object"),
        ('{"role": "user"}', "expected a JSON array of messages"),
        ("[{", "not valid JSON"),
    ],
)
def test_rejections_name_the_path(document: str, error: str) -> None:
    with pytest.raises(llm.MessageFormatError) as info:
        llm.messages_from_json(document)
    assert error in str(info.value)
    assert isinstance(info.value, ValueError)


def test_single_message_errors_use_message_path() -> None:
    with pytest.raises(llm.MessageFormatError, match=r"^message\.content\[0\]"):
        llm.from_json('{"role": "user", "content": [{"type": "toolCall", "id": "1", "name": "f"}]}')
