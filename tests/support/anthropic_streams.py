"""Anthropic Messages SSE streams, built per the published streaming API.

Each helper returns one SSE event as text (``event: <name>`` then one
``data:`` line of JSON, then a blank line), exactly as api.anthropic.com
frames them, so a list of them is a body for
:meth:`tests.support.scripted_server.Reply.sse`. Payload shapes follow the
API reference ("Streaming Messages"): ``message_start`` carries a full
message object with empty content and the input-side usage,
``message_delta`` the stop reason and cumulative output usage.
"""

from __future__ import annotations

import json
from typing import Any

MODEL = "claude-test-1"


def event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def message_start(
    id: str = "msg_01TestStream",
    model: str = MODEL,
    *,
    input_tokens: int = 12,
    output_tokens: int = 1,
    cache_read: int | None = None,
    cache_write: int | None = None,
) -> str:
    usage: dict[str, Any] = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    if cache_read is not None:
        usage["cache_read_input_tokens"] = cache_read
    if cache_write is not None:
        usage["cache_creation_input_tokens"] = cache_write
    return event(
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": usage,
            },
        },
    )


def block_start(index: int, block: dict[str, Any]) -> str:
    return event(
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": block},
    )


def text_start(index: int) -> str:
    return block_start(index, {"type": "text", "text": ""})


def thinking_start(index: int) -> str:
    return block_start(index, {"type": "thinking", "thinking": "", "signature": ""})


def redacted_thinking(index: int, data: str) -> str:
    return block_start(index, {"type": "redacted_thinking", "data": data})


def tool_start(index: int, id: str, name: str, input: dict[str, Any] | None = None) -> str:
    return block_start(
        index, {"type": "tool_use", "id": id, "name": name, "input": input if input else {}}
    )


def delta(index: int, body: dict[str, Any]) -> str:
    return event(
        "content_block_delta", {"type": "content_block_delta", "index": index, "delta": body}
    )


def text_delta(index: int, text: str) -> str:
    return delta(index, {"type": "text_delta", "text": text})


def thinking_delta(index: int, text: str) -> str:
    return delta(index, {"type": "thinking_delta", "thinking": text})


def signature_delta(index: int, signature: str) -> str:
    return delta(index, {"type": "signature_delta", "signature": signature})


def input_json_delta(index: int, partial: str) -> str:
    return delta(index, {"type": "input_json_delta", "partial_json": partial})


def block_stop(index: int) -> str:
    return event("content_block_stop", {"type": "content_block_stop", "index": index})


def message_delta(
    stop_reason: str | None = "end_turn", output_tokens: int = 20, **usage: int
) -> str:
    """``usage`` may add input_tokens / cache_read_input_tokens /
    cache_creation_input_tokens (the API repeats them here when it knows them)."""
    return event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": output_tokens, **usage},
        },
    )


def message_stop() -> str:
    return event("message_stop", {"type": "message_stop"})


def ping() -> str:
    return event("ping", {"type": "ping"})


def error(type: str, message: str) -> str:
    return event("error", {"type": "error", "error": {"type": type, "message": message}})


def error_body(type: str, message: str) -> dict[str, Any]:
    """The JSON body of an HTTP error answer from the API."""
    return {"type": "error", "error": {"type": type, "message": message}, "request_id": "req_test"}


def text_stream(*chunks: str, stop_reason: str = "end_turn", output_tokens: int = 20) -> list[str]:
    """A complete one-text-block reply."""
    return [
        message_start(),
        text_start(0),
        *(text_delta(0, c) for c in chunks),
        block_stop(0),
        message_delta(stop_reason, output_tokens),
        message_stop(),
    ]
