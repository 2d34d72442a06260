"""Neutral events → OpenAI Responses stream events (``POST /v1/responses``).

Each content block becomes one output item, in order; the item's
``output_index`` is its position among the items. The official SDK's
``responses.stream()`` accumulator checks the order strictly: an item must be
``added`` before any of its deltas and ``done`` before ``response.completed``,
and the ``response.id`` must not change.

| event           | Responses events                                                   |
|-----------------|--------------------------------------------------------------------|
| start           | ``response.created``, ``response.in_progress``                     |
| thinking_start  | ``output_item.added`` (``reasoning``), ``reasoning_summary_part.added`` |
| thinking_delta  | ``reasoning_summary_text.delta``                                   |
| thinking_end    | ``reasoning_summary_text.done``, ``reasoning_summary_part.done``,  |
|                 | ``output_item.done`` (``encrypted_content`` = the signature, when  |
|                 | the client asked for ``reasoning.encrypted_content``)              |
| text_start      | ``output_item.added`` (``message``), ``content_part.added``        |
| text_delta      | ``output_text.delta``                                              |
| text_end        | ``output_text.done``, ``content_part.done``, ``output_item.done``  |
| toolcall_start  | ``output_item.added`` (``function_call``: ``call_id``, ``name``)   |
| toolcall_delta  | ``function_call_arguments.delta``                                  |
| toolcall_end    | ``function_call_arguments.done``, ``output_item.done``             |
| done            | items left open are closed; ``response.completed``, or             |
|                 | ``response.incomplete`` (``max_output_tokens``) for ``length``     |
| error           | items left open are closed; ``response.failed`` with               |
|                 | ``error {code, message}`` and the partial output                   |

``encrypted_content`` is opaque to clients, so Pluma wraps the upstream's
signature in a token that also names where it came from (protocol, provider,
model): a client that sends the reasoning item back gets it replayed to the
upstream that signed it, and turned into plain text for any other (see
:func:`wrap_signature`).

Every event carries a ``sequence_number`` counting from 0. A call's argument
text in ``function_call_arguments.done`` is exactly the concatenation of its
deltas (the SDK accumulates them), or the whole arguments as JSON when the
upstream sent none.
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from pluma import llm
from pluma.server.errors import error_for_event

ENCRYPTED_REASONING = "reasoning.encrypted_content"


SIGNATURE_TOKEN = "pluma.v1."


@dataclass(frozen=True, slots=True)
class SignatureOrigin:
    """Where a reasoning signature came from, and the signature itself."""

    protocol: str
    provider: str
    model: str
    signature: str


def wrap_signature(signature: str, message: llm.AssistantMessage | None) -> str:
    """The ``encrypted_content`` for a signature from ``message``'s upstream."""
    origin = {
        "protocol": message.protocol if message else "",
        "provider": message.provider if message else "",
        "model": message.model if message else "",
        "signature": signature,
    }
    return SIGNATURE_TOKEN + base64.urlsafe_b64encode(orjson.dumps(origin)).decode()


def unwrap_signature(content: str) -> SignatureOrigin:
    """The origin of an ``encrypted_content`` a client sent back. Content that
    is not Pluma's token came from OpenAI's own Responses API."""
    if content.startswith(SIGNATURE_TOKEN):
        try:
            origin = orjson.loads(base64.urlsafe_b64decode(content[len(SIGNATURE_TOKEN) :]))
            return SignatureOrigin(
                str(origin["protocol"]),
                str(origin["provider"]),
                str(origin["model"]),
                str(origin["signature"]),
            )
        except (binascii.Error, ValueError, KeyError, TypeError):
            pass
    return SignatureOrigin("openai-responses", "", "", content)


def response_id() -> str:
    return "resp_" + uuid.uuid4().hex


def item_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def usage_json(usage: llm.Usage) -> dict[str, Any]:
    """The Responses usage: input tokens include cached ones (ours keep them apart)."""
    prompt = usage.input + usage.cache_read + usage.cache_write
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": usage.cache_read},
        "output_tokens": usage.output,
        "output_tokens_details": {"reasoning_tokens": getattr(usage, "reasoning", 0) or 0},
        "total_tokens": prompt + usage.output,
    }


@dataclass(slots=True)
class ResponseEcho:
    """What the response object repeats of the request (the API echoes it)."""

    model: str
    instructions: str | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: Any = "auto"
    parallel_tool_calls: bool = True
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    reasoning: dict[str, Any] | None = None
    text: dict[str, Any] = field(default_factory=lambda: {"format": {"type": "text"}})
    user: str | None = None
    store: bool = False
    include: tuple[str, ...] = ()


class ResponseBuilder:
    """The response object and its output items, built from neutral events.

    Shared by the stream encoder and the non-streaming answer, so both
    describe a message the same way.
    """

    __slots__ = ("_arguments", "_echo", "_items", "_open", "created_at", "id")

    def __init__(self, echo: ResponseEcho, *, id: str | None = None) -> None:
        self.id = id or response_id()
        self.created_at = int(time.time())
        self._echo = echo
        # content_index → output_index; output items in order.
        self._open: dict[int, int] = {}
        self._items: list[dict[str, Any]] = []
        # output_index → argument fragments sent for a function call.
        self._arguments: dict[int, list[str]] = {}

    def response(
        self,
        status: str,
        *,
        usage: llm.Usage | None = None,
        error: dict[str, Any] | None = None,
        incomplete: str | None = None,
    ) -> dict[str, Any]:
        echo = self._echo
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": False,
            "error": error,
            "incomplete_details": None if incomplete is None else {"reason": incomplete},
            "instructions": echo.instructions,
            "max_output_tokens": echo.max_output_tokens,
            "metadata": echo.metadata,
            "model": echo.model,
            "output": list(self._items),
            "parallel_tool_calls": echo.parallel_tool_calls,
            "previous_response_id": None,
            "reasoning": echo.reasoning or {"effort": None, "summary": None},
            "store": echo.store,
            "temperature": echo.temperature,
            "text": echo.text,
            "tool_choice": echo.tool_choice,
            "tools": echo.tools,
            "top_p": echo.top_p,
            "truncation": "disabled",
            "usage": None if usage is None else usage_json(usage),
            "user": echo.user,
        }

    # -- items -----------------------------------------------------------------

    def open_item(self, content_index: int, item: dict[str, Any]) -> int:
        self._items.append(item)
        index = len(self._items) - 1
        self._open[content_index] = index
        return index

    def output_index(self, content_index: int) -> int | None:
        return self._open.get(content_index)

    def item(self, output_index: int) -> dict[str, Any]:
        return self._items[output_index]

    def add_arguments(self, output_index: int, delta: str) -> None:
        self._arguments.setdefault(output_index, []).append(delta)

    def arguments(self, output_index: int, call: llm.ToolCall | None) -> str:
        sent = self._arguments.get(output_index)
        if sent:
            return "".join(sent)
        return orjson.dumps(call.arguments if call is not None else {}).decode()

    def reasoning_item(
        self,
        block: llm.ThinkingContent | None,
        item: dict[str, Any],
        message: llm.AssistantMessage | None,
    ) -> None:
        text = block.thinking if block is not None and not block.redacted else ""
        item["summary"] = [{"type": "summary_text", "text": text}] if text else []
        if block is not None and block.signature and ENCRYPTED_REASONING in self._echo.include:
            item["encrypted_content"] = wrap_signature(block.signature, message)

    def unfinished(self) -> list[tuple[int, int]]:
        """``(output_index, content_index)`` of the items still in progress, in order."""
        return sorted(
            (index, content_index)
            for content_index, index in self._open.items()
            if self._items[index].get("status") == "in_progress"
        )

    def add_item(self, item: dict[str, Any]) -> None:
        """Append a finished item (the non-streaming answer)."""
        self._items.append(item)


def message_item() -> dict[str, Any]:
    return {
        "id": item_id("msg"),
        "type": "message",
        "status": "in_progress",
        "role": "assistant",
        "content": [],
    }


def text_part(text: str = "") -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def reasoning_item() -> dict[str, Any]:
    # Reasoning items have no status in the API's final output; "in_progress"
    # marks ours as open until the block ends (dropped then).
    return {"id": item_id("rs"), "type": "reasoning", "summary": [], "status": "in_progress"}


def function_call_item(call: llm.ToolCall) -> dict[str, Any]:
    return {
        "id": item_id("fc"),
        "type": "function_call",
        "status": "in_progress",
        "call_id": call.id,
        "name": call.name,
        "arguments": "",
    }


class ResponsesEventEncoder:
    """Encodes one stream: :meth:`encode` per event returns the SSE frames to send."""

    __slots__ = ("_builder", "_sequence", "_text")

    def __init__(self, echo: ResponseEcho) -> None:
        self._builder = ResponseBuilder(echo)
        self._sequence = 0
        # output_index → text fragments of an open message or reasoning item.
        self._text: dict[int, list[str]] = {}

    @property
    def id(self) -> str:
        return self._builder.id

    def _frame(self, kind: str, payload: dict[str, Any]) -> str:
        payload["type"] = kind
        payload["sequence_number"] = self._sequence
        self._sequence += 1
        return "event: " + kind + "\ndata: " + orjson.dumps(payload).decode() + "\n\n"

    def encode(self, event: llm.Event) -> list[str]:
        kind = event.type
        builder = self._builder
        if kind == "text_delta" or kind == "thinking_delta":
            index = builder.output_index(event.content_index)
            if index is None or not event.delta:
                return []
            self._text[index].append(event.delta)
            item = builder.item(index)
            if kind == "text_delta":
                return [
                    self._frame(
                        "response.output_text.delta",
                        {
                            "item_id": item["id"],
                            "output_index": index,
                            "content_index": 0,
                            "delta": event.delta,
                            "logprobs": [],
                        },
                    )
                ]
            return [
                self._frame(
                    "response.reasoning_summary_text.delta",
                    {
                        "item_id": item["id"],
                        "output_index": index,
                        "summary_index": 0,
                        "delta": event.delta,
                    },
                )
            ]
        if kind == "toolcall_delta":
            index = builder.output_index(event.content_index)
            if index is None or not event.delta:
                return []
            builder.add_arguments(index, event.delta)
            return [
                self._frame(
                    "response.function_call_arguments.delta",
                    {
                        "item_id": builder.item(index)["id"],
                        "output_index": index,
                        "delta": event.delta,
                    },
                )
            ]
        if kind == "start":
            return [
                self._frame("response.created", {"response": builder.response("in_progress")}),
                self._frame("response.in_progress", {"response": builder.response("in_progress")}),
            ]
        if kind == "text_start":
            return self._open_message(event.content_index)
        if kind == "thinking_start":
            return self._open_reasoning(event.content_index)
        if kind == "toolcall_start":
            call = event.tool_call
            if call is None:
                return []
            item = function_call_item(call)
            index = builder.open_item(event.content_index, item)
            return [
                self._frame("response.output_item.added", {"output_index": index, "item": item})
            ]
        if kind in ("text_end", "thinking_end", "toolcall_end"):
            index = builder.output_index(event.content_index)
            if index is None:
                return []
            return self._close(index, event.partial, event.content_index)
        if kind == "done":
            message = event.message
            frames = self._close_all(message, "completed")
            if message is not None and message.stop_reason == "length":
                response = builder.response(
                    "incomplete", usage=message.usage, incomplete="max_output_tokens"
                )
                return [*frames, self._frame("response.incomplete", {"response": response})]
            usage = message.usage if message is not None else llm.Usage()
            response = builder.response("completed", usage=usage)
            return [*frames, self._frame("response.completed", {"response": response})]
        if kind == "error":
            message = event.message
            frames = self._close_all(message, "incomplete")
            text = (message.error_message if message else None) or llm.LLMError.__name__
            response = builder.response(
                "failed",
                usage=message.usage if message is not None else None,
                error={"code": error_for_event(event).code, "message": text},
            )
            return [*frames, self._frame("response.failed", {"response": response})]
        return []

    def _open_message(self, content_index: int) -> list[str]:
        builder = self._builder
        item = message_item()
        index = builder.open_item(content_index, item)
        self._text[index] = []
        return [
            self._frame("response.output_item.added", {"output_index": index, "item": item}),
            self._frame(
                "response.content_part.added",
                {
                    "item_id": item["id"],
                    "output_index": index,
                    "content_index": 0,
                    "part": text_part(),
                },
            ),
        ]

    def _open_reasoning(self, content_index: int) -> list[str]:
        builder = self._builder
        item = reasoning_item()
        index = builder.open_item(content_index, item)
        self._text[index] = []
        added = dict(item)
        del added["status"]
        return [
            self._frame("response.output_item.added", {"output_index": index, "item": added}),
            self._frame(
                "response.reasoning_summary_part.added",
                {
                    "item_id": item["id"],
                    "output_index": index,
                    "summary_index": 0,
                    "part": {"type": "summary_text", "text": ""},
                },
            ),
        ]

    def _close(
        self,
        index: int,
        message: llm.AssistantMessage | None,
        content_index: int,
        status: str = "completed",
    ) -> list[str]:
        """Finish output item ``index`` (block ``content_index`` of ``message``,
        when known); ``status`` is ``incomplete`` for an item cut by a failure."""
        builder = self._builder
        block = _block(message, content_index)
        item = builder.item(index)
        if item.get("status") != "in_progress":
            return []
        kind = item["type"]
        frames: list[str] = []
        if kind == "message":
            text = "".join(self._text.pop(index, ()))
            part = text_part(text)
            frames.append(
                self._frame(
                    "response.output_text.done",
                    {
                        "item_id": item["id"],
                        "output_index": index,
                        "content_index": 0,
                        "text": text,
                        "logprobs": [],
                    },
                )
            )
            frames.append(
                self._frame(
                    "response.content_part.done",
                    {
                        "item_id": item["id"],
                        "output_index": index,
                        "content_index": 0,
                        "part": part,
                    },
                )
            )
            item["content"] = [part]
            item["status"] = status
        elif kind == "reasoning":
            text = "".join(self._text.pop(index, ()))
            thinking = block if isinstance(block, llm.ThinkingContent) else None
            if thinking is None:
                thinking = llm.ThinkingContent(text)
            del item["status"]
            builder.reasoning_item(thinking, item, message)
            summary = {"type": "summary_text", "text": text}
            common = {"item_id": item["id"], "output_index": index, "summary_index": 0}
            frames.append(
                self._frame("response.reasoning_summary_text.done", {**common, "text": text})
            )
            frames.append(
                self._frame("response.reasoning_summary_part.done", {**common, "part": summary})
            )
            item["summary"] = [summary] if text else []
        else:
            call = block if isinstance(block, llm.ToolCall) else None
            arguments = builder.arguments(index, call)
            frames.append(
                self._frame(
                    "response.function_call_arguments.done",
                    {
                        "item_id": item["id"],
                        "output_index": index,
                        "name": item["name"],
                        "arguments": arguments,
                    },
                )
            )
            item["arguments"] = arguments
            item["status"] = status
        frames.append(
            self._frame("response.output_item.done", {"output_index": index, "item": dict(item)})
        )
        return frames

    def _close_all(self, message: llm.AssistantMessage | None, status: str) -> list[str]:
        """Close every item still open when the stream ends (an upstream that
        skipped an end event, or a failure mid-block)."""
        frames: list[str] = []
        for index, content_index in self._builder.unfinished():
            frames.extend(self._close(index, message, content_index, status))
        return frames


def _block(message: llm.AssistantMessage | None, content_index: int) -> llm.AssistantContent | None:
    if message is None or content_index >= len(message.content):
        return None
    return message.content[content_index]
