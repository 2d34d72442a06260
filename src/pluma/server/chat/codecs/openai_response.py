"""A final assistant message → OpenAI ``chat.completion`` JSON (non-streaming).

| message                    | ``choices[0].message``                           |
|----------------------------|--------------------------------------------------|
| text blocks (joined)       | ``content`` (null when there is none)            |
| thinking blocks (readable) | ``reasoning_content``                            |
| tool calls                 | ``tool_calls[{id, type: function, function: {name, arguments: JSON string}}]`` |
| stop reason                | ``finish_reason`` (see :mod:`openai_stream`)      |
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from pluma import llm
from pluma.server.chat.codecs.openai_stream import FINISH_REASONS, completion_id, usage_json


def encode_completion(message: llm.AssistantMessage, model: str) -> dict[str, Any]:
    body: dict[str, Any] = {"role": "assistant", "content": message.text or None}
    if message.thinking:
        body["reasoning_content"] = message.thinking
    calls = message.tool_calls
    if calls:
        body["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": orjson.dumps(call.arguments).decode()},
            }
            for call in calls
        ]
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": body,
                "logprobs": None,
                "finish_reason": FINISH_REASONS.get(message.stop_reason, "stop"),
            }
        ],
        "usage": usage_json(message.usage),
    }
