"""Neutral events → OpenAI ``chat.completion.chunk`` SSE lines.

What the official SDK's accumulator and the page need (DESIGN.md, "Wire
compatibility"):

| event            | chunk ``choices[0].delta``                                         |
|------------------|--------------------------------------------------------------------|
| start            | ``{"role": "assistant", "content": ""}`` (role only here, once)    |
| text_delta       | ``{"content": delta}``                                             |
| thinking_delta   | ``{"reasoning_content": delta}``                                   |
| toolcall_start   | ``{"tool_calls": [{index, id, type, function: {name, arguments: ""}}]}`` |
| toolcall_delta   | ``{"tool_calls": [{index, function: {arguments: delta}}]}``         |
| toolcall_end     | the whole arguments once, only if no fragment was sent             |
| done             | ``{}`` with ``finish_reason``; then usage (``choices: []``) if asked; ``[DONE]`` |
| error            | ``event: error`` + ``data: {"error": {message, type, code}}``      |
| *_start/_end     | nothing (OpenAI has no block boundaries)                           |

``index`` of a tool call counts tool calls (0, 1, …), not content blocks.
``id``, ``type`` and ``name`` go only on a call's first fragment: the SDK
concatenates repeated string fields.

| stop reason | finish_reason |
|-------------|---------------|
| stop        | stop          |
| length      | length        |
| toolUse     | tool_calls    |
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from pluma import llm
from pluma.server.errors import error_for_event
from pluma.server.http.errors import error_frame

FINISH_REASONS: dict[str, str] = {"stop": "stop", "length": "length", "toolUse": "tool_calls"}

DONE_LINE = "data: [DONE]\n\n"


def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def usage_json(usage: llm.Usage, *, cost: bool = False) -> dict[str, Any]:
    """OpenAI's usage: prompt tokens include cached ones (ours keep them apart).

    ``cost`` adds Pluma's own ``cost`` member (US dollars, priced from the
    catalog; zeros for models it does not know), which the page shows."""
    prompt = usage.input + usage.cache_read + usage.cache_write
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output,
        "total_tokens": prompt + usage.output,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read},
    }
    if cost:
        spent = usage.cost
        out["cost"] = {
            "input": spent.input,
            "output": spent.output,
            "cache_read": spent.cache_read,
            "cache_write": spent.cache_write,
            "total": spent.total,
        }
    return out


class OpenAIChunkEncoder:
    """Encodes one stream. Call :meth:`encode` per event; it returns the SSE
    lines (each ending in a blank line) to send, possibly none."""

    __slots__ = (
        "_args_sent",
        "_created",
        "_head",
        "_id",
        "_include_cost",
        "_include_usage",
        "_model",
        "_tool_index",
    )

    def __init__(
        self,
        model: str,
        *,
        include_usage: bool = False,
        include_cost: bool = False,
        id: str | None = None,
    ) -> None:
        self._id = id or completion_id()
        self._created = int(time.time())
        self._model = model
        self._include_usage = include_usage
        self._include_cost = include_cost
        # content_index → tool-call ordinal; ordinals whose arguments were streamed.
        self._tool_index: dict[int, int] = {}
        self._args_sent: set[int] = set()
        # Everything before ``"choices"`` is the same in every chunk: encode it once.
        self._head = (
            'data: {"id":'
            + orjson.dumps(self._id).decode()
            + ',"object":"chat.completion.chunk","created":'
            + str(self._created)
            + ',"model":'
            + orjson.dumps(model).decode()
            + ","
        )

    @property
    def id(self) -> str:
        return self._id

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> str:
        choices = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
        return self._head + '"choices":' + orjson.dumps(choices).decode() + "}\n\n"

    def encode(self, event: llm.Event) -> list[str]:
        kind = event.type
        if kind == "text_delta":
            return [self._chunk({"content": event.delta})] if event.delta else []
        if kind == "thinking_delta":
            return [self._chunk({"reasoning_content": event.delta})] if event.delta else []
        if kind == "toolcall_delta":
            ordinal = self._tool_index.get(event.content_index)
            if ordinal is None or not event.delta:
                return []
            self._args_sent.add(ordinal)
            return [
                self._chunk(
                    {"tool_calls": [{"index": ordinal, "function": {"arguments": event.delta}}]}
                )
            ]
        if kind == "start":
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "toolcall_start":
            call = event.tool_call
            if call is None:
                return []
            ordinal = len(self._tool_index)
            self._tool_index[event.content_index] = ordinal
            fragment = {
                "index": ordinal,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            return [self._chunk({"tool_calls": [fragment]})]
        if kind == "toolcall_end":
            ordinal = self._tool_index.get(event.content_index)
            call = event.tool_call
            if ordinal is None or call is None or ordinal in self._args_sent:
                return []
            self._args_sent.add(ordinal)
            arguments = orjson.dumps(call.arguments).decode()
            return [
                self._chunk(
                    {"tool_calls": [{"index": ordinal, "function": {"arguments": arguments}}]}
                )
            ]
        if kind == "done":
            return self._finish(event.message)
        if kind == "error":
            message = event.message
            text = (message.error_message if message else None) or llm.LLMError.__name__
            return [error_frame(error_for_event(event), "openai", text)]
        return []

    def _finish(self, message: llm.AssistantMessage | None) -> list[str]:
        stop = message.stop_reason if message is not None else "stop"
        lines = []
        # A call whose arguments were never streamed (and never ended) gets them whole.
        if message is not None:
            for content_index, ordinal in self._tool_index.items():
                block = (
                    message.content[content_index] if content_index < len(message.content) else None
                )
                if isinstance(block, llm.ToolCall) and ordinal not in self._args_sent:
                    self._args_sent.add(ordinal)
                    arguments = orjson.dumps(block.arguments).decode()
                    lines.append(
                        self._chunk(
                            {
                                "tool_calls": [
                                    {"index": ordinal, "function": {"arguments": arguments}}
                                ]
                            }
                        )
                    )
        lines.append(self._chunk({}, FINISH_REASONS.get(stop, "stop")))
        if self._include_usage and message is not None:
            usage = orjson.dumps(usage_json(message.usage, cost=self._include_cost)).decode()
            lines.append(self._head + '"choices":[],"usage":' + usage + "}\n\n")
        lines.append(DONE_LINE)
        return lines
