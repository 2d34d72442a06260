"""A final assistant message → an OpenAI Responses ``response`` object
(``POST /v1/responses`` without ``stream``).

The items are the ones the stream encoder (:mod:`.responses_stream`) would
have sent, in content order: text → a ``message`` item with one
``output_text`` part, thinking → a ``reasoning`` item, a tool call → a
``function_call`` item. ``length`` answers ``status: incomplete`` with
``incomplete_details.reason: max_output_tokens``.
"""

from __future__ import annotations

from typing import Any

import orjson

from pluma import llm
from pluma.server.chat.codecs.responses_stream import (
    ResponseBuilder,
    ResponseEcho,
    function_call_item,
    message_item,
    reasoning_item,
    text_part,
)


def encode_response(message: llm.AssistantMessage, echo: ResponseEcho) -> dict[str, Any]:
    builder = ResponseBuilder(echo)
    for block in message.content:
        if isinstance(block, llm.TextContent):
            item = message_item()
            item["content"] = [text_part(block.text)]
            item["status"] = "completed"
        elif isinstance(block, llm.ThinkingContent):
            item = reasoning_item()
            del item["status"]
            builder.reasoning_item(block, item, message)
        else:
            item = function_call_item(block)
            item["arguments"] = orjson.dumps(block.arguments).decode()
            item["status"] = "completed"
        builder.add_item(item)
    if message.stop_reason == "length":
        return builder.response("incomplete", usage=message.usage, incomplete="max_output_tokens")
    return builder.response("completed", usage=message.usage)
