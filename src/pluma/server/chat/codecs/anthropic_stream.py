"""Neutral events → Anthropic Messages SSE (named events).

| event            | SSE events sent                                                      |
|------------------|----------------------------------------------------------------------|
| start            | ``message_start`` (message with empty content and usage), ``ping``   |
| text_start       | ``content_block_start`` ``{type: text, text: ""}``                   |
| text_delta       | ``content_block_delta`` ``text_delta``                               |
| thinking_start   | ``content_block_start`` ``thinking`` (or ``redacted_thinking`` with its data) |
| thinking_delta   | ``content_block_delta`` ``thinking_delta``                           |
| thinking_end     | ``signature_delta`` when the block has a signature, then ``content_block_stop`` |
| toolcall_start   | ``content_block_start`` ``{type: tool_use, id, name, input: {}}``    |
| toolcall_delta   | ``content_block_delta`` ``input_json_delta``                         |
| toolcall_end     | the whole input as one ``input_json_delta`` if none was sent, ``content_block_stop`` |
| text_end         | ``content_block_stop``                                               |
| done             | stops for blocks still open, ``message_delta`` (stop_reason, usage), ``message_stop`` |
| error            | ``error`` ``{type: error, error: {type, message}}``                  |

Block indices are assigned in start order (0, 1, …), which is what the SDK's
accumulator indexes by.

| stop reason | stop_reason |
|-------------|-------------|
| stop        | end_turn; ``stop_sequence`` (with the sequence) when the message |
|             | records the stop sequence that ended it                          |
| length      | max_tokens  |
| toolUse     | tool_use    |
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from pluma import llm
from pluma.server.errors import error_for_event
from pluma.server.http.errors import error_frame

STOP_REASONS: dict[str, str] = {"stop": "end_turn", "length": "max_tokens", "toolUse": "tool_use"}


def stop_fields(message: llm.AssistantMessage) -> dict[str, str | None]:
    """``stop_reason`` and ``stop_sequence`` for a finished message."""
    if message.stop_reason == "stop" and message.stop_sequence is not None:
        return {"stop_reason": "stop_sequence", "stop_sequence": message.stop_sequence}
    return {"stop_reason": STOP_REASONS.get(message.stop_reason, "end_turn"), "stop_sequence": None}


def message_id() -> str:
    return "msg_" + uuid.uuid4().hex[:24]


def usage_json(usage: llm.Usage) -> dict[str, int]:
    return {
        "input_tokens": usage.input,
        "output_tokens": usage.output,
        "cache_creation_input_tokens": usage.cache_write,
        "cache_read_input_tokens": usage.cache_read,
    }


def sse(name: str, payload: dict[str, Any]) -> str:
    return "event: " + name + "\ndata: " + orjson.dumps(payload).decode() + "\n\n"


class AnthropicEventEncoder:
    """Encodes one stream; :meth:`encode` returns the SSE frames for an event."""

    __slots__ = ("_args_sent", "_id", "_index", "_model", "_open")

    def __init__(self, model: str, *, id: str | None = None) -> None:
        self._id = id or message_id()
        self._model = model
        self._index: dict[int, int] = {}  # content_index → Anthropic block index
        self._open: set[int] = set()
        self._args_sent: set[int] = set()

    def _start_block(self, content_index: int, block: dict[str, Any]) -> str:
        index = len(self._index)
        self._index[content_index] = index
        self._open.add(index)
        return sse(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": block},
        )

    def _delta(self, content_index: int, delta: dict[str, Any]) -> list[str]:
        index = self._index.get(content_index)
        if index is None:
            return []
        return [
            sse(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
        ]

    def _stop(self, content_index: int) -> list[str]:
        index = self._index.get(content_index)
        if index is None or index not in self._open:
            return []
        self._open.discard(index)
        return [sse("content_block_stop", {"type": "content_block_stop", "index": index})]

    def encode(self, event: llm.Event) -> list[str]:
        kind = event.type
        i = event.content_index
        if kind == "text_delta":
            return (
                self._delta(i, {"type": "text_delta", "text": event.delta}) if event.delta else []
            )
        if kind == "thinking_delta":
            return (
                self._delta(i, {"type": "thinking_delta", "thinking": event.delta})
                if event.delta
                else []
            )
        if kind == "toolcall_delta":
            index = self._index.get(i)
            if index is None or not event.delta:
                return []
            self._args_sent.add(index)
            return self._delta(i, {"type": "input_json_delta", "partial_json": event.delta})
        if kind == "start":
            return self._message_start(event.partial)
        if kind == "text_start":
            return [self._start_block(i, {"type": "text", "text": ""})]
        if kind == "thinking_start":
            block = _block_at(event.partial, i)
            if isinstance(block, llm.ThinkingContent) and block.redacted:
                return [
                    self._start_block(
                        i, {"type": "redacted_thinking", "data": block.signature or ""}
                    )
                ]
            return [self._start_block(i, {"type": "thinking", "thinking": "", "signature": ""})]
        if kind == "toolcall_start":
            call = event.tool_call
            if call is None:
                return []
            return [
                self._start_block(
                    i, {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
                )
            ]
        if kind == "text_end":
            return self._stop(i)
        if kind == "thinking_end":
            block = _block_at(event.partial, i)
            frames = []
            if isinstance(block, llm.ThinkingContent) and block.signature and not block.redacted:
                frames = self._delta(i, {"type": "signature_delta", "signature": block.signature})
            return frames + self._stop(i)
        if kind == "toolcall_end":
            index = self._index.get(i)
            frames = []
            if index is not None and index not in self._args_sent and event.tool_call is not None:
                self._args_sent.add(index)
                text = orjson.dumps(event.tool_call.arguments).decode()
                frames = self._delta(i, {"type": "input_json_delta", "partial_json": text})
            return frames + self._stop(i)
        if kind == "done":
            return self._finish(event.message)
        if kind == "error":
            message = event.message
            text = (message.error_message if message else None) or "the stream failed"
            return [error_frame(error_for_event(event), "anthropic", text)]
        return []

    def _message_start(self, partial: llm.AssistantMessage | None) -> list[str]:
        usage = usage_json(partial.usage if partial is not None else llm.Usage())
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        return [
            sse("message_start", {"type": "message_start", "message": message}),
            sse("ping", {"type": "ping"}),
        ]

    def _finish(self, message: llm.AssistantMessage | None) -> list[str]:
        final = message if message is not None else llm.AssistantMessage()
        frames: list[str] = []
        # Blocks the adapter left open: a tool call whose arguments were never
        # streamed gets them whole before its stop.
        for content_index, index in self._index.items():
            if index not in self._open:
                continue
            block = _block_at(final, content_index)
            if isinstance(block, llm.ToolCall) and index not in self._args_sent:
                self._args_sent.add(index)
                text = orjson.dumps(block.arguments).decode()
                frames += self._delta(
                    content_index, {"type": "input_json_delta", "partial_json": text}
                )
            frames += self._stop(content_index)
        frames.append(
            sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": stop_fields(final),
                    "usage": usage_json(final.usage),
                },
            )
        )
        frames.append(sse("message_stop", {"type": "message_stop"}))
        return frames


def _block_at(message: llm.AssistantMessage | None, index: int) -> llm.AssistantContent | None:
    if message is None or not 0 <= index < len(message.content):
        return None
    return message.content[index]
