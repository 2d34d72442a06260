"""A final assistant message → Anthropic ``message`` JSON (non-streaming).

Blocks keep their order; readable thinking keeps its signature, redacted
thinking becomes ``redacted_thinking`` with its data; stop reasons and usage
as in :mod:`anthropic_stream`.
"""

from __future__ import annotations

from typing import Any

from pluma import llm
from pluma.server.chat.codecs.anthropic_stream import message_id, stop_fields, usage_json


def encode_message(message: llm.AssistantMessage, model: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for block in message.content:
        if isinstance(block, llm.TextContent):
            content.append({"type": "text", "text": block.text})
        elif isinstance(block, llm.ThinkingContent):
            if block.redacted:
                content.append({"type": "redacted_thinking", "data": block.signature or ""})
            else:
                content.append(
                    {
                        "type": "thinking",
                        "thinking": block.thinking,
                        "signature": block.signature or "",
                    }
                )
        elif isinstance(block, llm.ToolCall):
            content.append(
                {"type": "tool_use", "id": block.id, "name": block.name, "input": block.arguments}
            )
    return {
        "id": message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        **stop_fields(message),
        "usage": usage_json(message.usage),
    }
