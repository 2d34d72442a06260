"""OpenAI Responses stream events → neutral events, independent of HTTP.

:class:`ResponsesParser` takes each decoded event (the JSON ``data`` of one
SSE event; its ``type`` member names it) and returns the events it produces,
so a recorded log, a proxy or a test can reuse it without a network.

| upstream event                              | effect                                           |
|---------------------------------------------|--------------------------------------------------|
| ``response.created`` / ``in_progress``      | response id and model; ``start``                 |
| ``output_item.added`` ``reasoning``         | new thinking block                               |
| ``output_item.added`` ``function_call``     | new tool call; id = ``call_id`` (what a          |
|                                             | ``function_call_output`` answers)                |
| ``output_item.added`` ``message``           | nothing yet: its content parts open text blocks  |
| ``output_item.added`` other types           | ignored with a diagnostic (built-in tools Pluma  |
|                                             | never asks for)                                  |
| ``content_part.added`` ``output_text`` /    | new text block (a refusal is text too)           |
| ``refusal``                                 |                                                  |
| ``output_text.delta`` / ``refusal.delta``   | appended in O(1), ``text_delta``                 |
| ``*.done`` of text, refusal, arguments      | the block is set to the final value if the       |
|                                             | deltas disagreed with it (the final value wins,  |
|                                             | as in the SDK's accumulator)                     |
| ``content_part.done``                       | ``text_end``                                     |
| ``reasoning_summary_part.added``            | a blank line between two summary parts           |
| ``reasoning_summary_text.delta`` /          | appended to the thinking block                   |
| ``reasoning_text.delta``                    |                                                  |
| ``function_call_arguments.delta``           | raw argument text appended, ``toolcall_delta``   |
| ``output_item.done`` ``reasoning``          | ``encrypted_content`` → ``signature`` (replayed  |
|                                             | next turn); no readable text → ``redacted``;     |
|                                             | ``thinking_end``                                 |
| ``output_item.done`` ``function_call``      | ``toolcall_end`` (arguments parsed with recovery)|
| ``response.completed``                      | usage; items only listed there are adopted;      |
|                                             | ``done`` (``toolUse`` when the reply has calls)  |
| ``response.incomplete``                     | ``max_output_tokens`` → ``done`` with ``length``;|
|                                             | any other reason → error naming it               |
| ``response.failed``, ``error``              | one terminal error with the upstream's message   |
|                                             | and code; the partial content is kept            |
| end of input before a terminal event        | terminal error (the stream was cut)              |

Usage: ``input_tokens`` counts every input token, cached or written to the
cache, so ``input`` = ``input_tokens`` − ``input_tokens_details.cached_tokens``
− ``input_tokens_details.cache_write_tokens``, ``cache_read`` = the cached
count and ``cache_write`` = the written count; ``output_tokens`` already
includes ``output_tokens_details.reasoning_tokens``.
"""

from __future__ import annotations

from typing import Any

from pluma.llm.errors import ProviderError
from pluma.llm.events import Event
from pluma.llm.protocols.parsing import count, decode_object, one
from pluma.llm.types import (
    AssistantContent,
    Diagnostic,
    Model,
    StopReason,
    TextContent,
    ThinkingContent,
    ToolCall,
    calculate_cost,
)
from pluma.llm.writer import StreamWriter

# incomplete_details.reason → (stop reason, error message or None)
INCOMPLETE_REASONS: dict[str, tuple[StopReason, str | None]] = {
    "max_output_tokens": ("length", None),
    "content_filter": ("error", "the reply was stopped by the upstream's content filter"),
}

_RETRYABLE_CODES = frozenset({"server_error", "rate_limit_exceeded", "server_is_overloaded"})
_TEXT_PARTS = ("output_text", "refusal")


class ResponsesParser:
    """Turns one Responses stream into neutral events through ``writer``.

    ``feed`` takes a decoded event, ``feed_data`` the raw text of an SSE
    ``data:`` payload. Both return the events produced (possibly none);
    ``finish`` ends the stream at end of input. After the terminal event
    every call returns ``[]``. Work per event is constant.
    """

    __slots__ = (
        "_ignored",
        "_items",
        "_last_index",
        "_last_key",
        "_last_text",
        "_model",
        "_open",
        "_parts",
        "_summaries",
        "message",
        "writer",
    )

    def __init__(self, writer: StreamWriter, model: Model) -> None:
        self.writer = writer
        self.message = writer.message
        self._model = model
        self._items: dict[int, int] = {}  # output_index → content index (reasoning, call)
        self._parts: dict[tuple[Any, Any], int] = {}  # (output_index, part) → text block
        self._open: dict[int, None] = {}  # content indexes not yet ended, in order
        self._summaries: dict[int, int] = {}  # thinking block → summary parts seen
        self._ignored: set[int] = set()  # output indexes of items Pluma does not model
        # The text block the last text delta went to, for the hot path.
        self._last_key: tuple[Any, Any] | None = None
        self._last_text: TextContent | None = None
        self._last_index = -1

    @property
    def finished(self) -> bool:
        return self.writer.finished

    # -- entry points ----------------------------------------------------------

    def feed_data(self, data: str | bytes) -> list[Event]:
        """One SSE ``data:`` payload (a JSON object)."""
        if self.writer.finished:
            return []
        event = decode_object(data, "event")
        if isinstance(event, ProviderError):
            return self.fail(event)
        return self._event(event)

    def feed(self, event: dict[str, Any]) -> list[Event]:
        """The neutral events for one decoded upstream event."""
        if self.writer.finished:
            return []
        return self._event(event)

    def _event(self, event: dict[str, Any]) -> list[Event]:
        writer = self.writer
        kind = event.get("type")
        if kind == "response.output_text.delta":
            # The hot path: nearly every event of a long reply goes to the
            # text block the previous one went to.
            block = self._last_text
            last = self._last_key
            if (
                block is not None
                and event.get("content_index") == last[1]  # type: ignore[index]
                and event.get("output_index") == last[0]  # type: ignore[index]
            ):
                delta = event.get("delta")
                if not delta or type(delta) is not str:
                    return []
                block.append(delta)
                made = writer.text_delta(self._last_index, delta)
                return [made] if made is not None else []
            return self._text_delta(event, (event.get("output_index"), event.get("content_index")))
        if (
            kind == "response.reasoning_summary_text.delta"
            or kind == "response.reasoning_text.delta"
        ):
            return self._thinking_delta(event)
        if kind == "response.function_call_arguments.delta":
            return self._arguments_delta(event)
        if kind == "response.refusal.delta":
            return self._text_delta(event, (event.get("output_index"), event.get("content_index")))
        if kind == "response.output_item.added":
            return self._item_added(event)
        if kind == "response.output_item.done":
            return self._item_done(event)
        if kind == "response.content_part.added":
            return self._part_added(event)
        if kind == "response.content_part.done":
            return self._part_done(event)
        if kind == "response.output_text.done":
            self._settle_text(event, "text")
            return []
        if kind == "response.refusal.done":
            self._settle_text(event, "refusal")
            return []
        if kind == "response.function_call_arguments.done":
            self._settle_arguments(event.get("output_index"), event.get("arguments"))
            return []
        if kind == "response.reasoning_summary_part.added":
            return self._summary_part(event)
        if kind in ("response.created", "response.in_progress", "response.queued"):
            self._response_meta(event.get("response"))
            return one(writer.start())
        if kind == "response.completed":
            return self._completed(event.get("response"))
        if kind == "response.incomplete":
            return self._incomplete(event.get("response"))
        if kind == "response.failed":
            return self._failed(event.get("response"))
        if kind == "error":
            return self.fail(_error(event.get("error") or event))
        return []  # keep-alives, annotations and events added after this was written

    def feed_json(self, payload: Any) -> list[Event]:
        """A whole JSON Response (from a server that ignored ``stream: true``),
        read as the events that would have ended its stream."""
        out: list[Event] = []
        for event in response_as_events(payload):
            out += self.feed(event)
        return out

    def finish(self) -> list[Event]:
        """End of input: without a terminal event first, the reply is incomplete."""
        if self.writer.finished:
            return []
        return self.fail(
            ProviderError(
                "the upstream closed the stream before the response was complete (no "
                "response.completed); the partial reply is kept — try again"
            )
        )

    def fail(self, error: BaseException | str) -> list[Event]:
        """End with an error event, keeping what was assembled."""
        return one(self.writer.fail(error))

    # -- blocks ----------------------------------------------------------------

    def _add(self, block: AssistantContent) -> int:
        content = self.message.content
        index = len(content)
        content.append(block)
        self._open[index] = None
        return index

    def _end(self, index: int) -> list[Event]:
        if index not in self._open:
            return []
        del self._open[index]
        return one(self.writer.end_open_block(index))

    def _new_text(self, key: tuple[Any, Any], text: str, out: list[Event]) -> TextContent:
        block = TextContent()
        index = self._add(block)
        self._parts[key] = index
        out.extend(one(self.writer.text_start(index)))
        if text:
            block.append(text)
            out.extend(one(self.writer.text_delta(index, text)))
        return block

    def _text_delta(self, event: dict[str, Any], key: tuple[Any, Any]) -> list[Event]:
        delta = event.get("delta")
        if not isinstance(delta, str) or not delta:
            return []
        out: list[Event] = []
        index = self._parts.get(key)
        if index is None:  # a server that skipped content_part.added
            block = self._new_text(key, "", out)
            index = self._parts[key]
        else:
            found = self.message.content[index]
            if not isinstance(found, TextContent):
                return []
            block = found
        self._last_key, self._last_text, self._last_index = key, block, index
        block.append(delta)
        out.extend(one(self.writer.text_delta(index, delta)))
        return out

    def _thinking(self, output_index: Any) -> tuple[int, ThinkingContent] | None:
        index = self._items.get(output_index)
        if index is None:
            return None
        block = self.message.content[index]
        return (index, block) if isinstance(block, ThinkingContent) else None

    def _thinking_delta(self, event: dict[str, Any]) -> list[Event]:
        delta = event.get("delta")
        if not isinstance(delta, str) or not delta:
            return []
        out: list[Event] = []
        found = self._thinking(event.get("output_index"))
        if found is None:  # a server that skipped output_item.added
            out += self._item_added(
                {"output_index": event.get("output_index"), "item": {"type": "reasoning"}}
            )
            found = self._thinking(event.get("output_index"))
            if found is None:
                return out
        index, block = found
        block.append(delta)
        out.extend(one(self.writer.thinking_delta(index, delta)))
        return out

    def _summary_part(self, event: dict[str, Any]) -> list[Event]:
        found = self._thinking(event.get("output_index"))
        if found is None:
            return []
        index, block = found
        seen = self._summaries.get(index, 0)
        self._summaries[index] = seen + 1
        if seen:
            block.append("\n\n")
            return one(self.writer.thinking_delta(index, "\n\n"))
        return []

    def _call(self, output_index: Any) -> tuple[int, ToolCall] | None:
        index = self._items.get(output_index)
        if index is None:
            return None
        block = self.message.content[index]
        return (index, block) if isinstance(block, ToolCall) else None

    def _arguments_delta(self, event: dict[str, Any]) -> list[Event]:
        delta = event.get("delta")
        found = self._call(event.get("output_index"))
        if found is None or not isinstance(delta, str) or not delta:
            return []
        index, call = found
        call.append_arguments(delta)
        return one(self.writer.toolcall_delta(index, call, delta))

    # -- items and parts ---------------------------------------------------------

    def _item_added(self, event: dict[str, Any]) -> list[Event]:
        item = event.get("item")
        output_index = event.get("output_index")
        if not isinstance(item, dict) or output_index in self._items:
            return []
        kind = item.get("type")
        out: list[Event] = []
        if kind == "reasoning":
            index = self._add(ThinkingContent())
            self._items[output_index] = index  # type: ignore[index]
            out.extend(one(self.writer.thinking_start(index)))
        elif kind == "function_call":
            call_id = item.get("call_id") or item.get("id") or f"call_pluma_{output_index}"
            call = ToolCall(str(call_id), str(item.get("name") or ""))
            index = self._add(call)
            self._items[output_index] = index  # type: ignore[index]
            out.extend(one(self.writer.toolcall_start(index, call)))
            arguments = item.get("arguments")
            if isinstance(arguments, str) and arguments:
                call.append_arguments(arguments)
                out.extend(one(self.writer.toolcall_delta(index, call, arguments)))
        elif (
            kind != "message"
            and isinstance(output_index, int)
            and output_index not in self._ignored
        ):
            self._ignored.add(output_index)
            self.message.diagnostics.append(
                Diagnostic(
                    kind="ignored_output_item",
                    message=f"an output item of type {kind!r} was left out (Pluma's "
                    "vocabulary has no block for it)",
                )
            )
        return out

    def _part_added(self, event: dict[str, Any]) -> list[Event]:
        part = event.get("part")
        key = (event.get("output_index"), event.get("content_index"))
        if not isinstance(part, dict) or part.get("type") not in _TEXT_PARTS:
            return []
        if key in self._parts:
            return []
        text = part.get("text") if part.get("type") == "output_text" else part.get("refusal")
        out: list[Event] = []
        self._new_text(key, text if isinstance(text, str) else "", out)
        return out

    def _settle_text(self, event: dict[str, Any], field: str) -> None:
        index = self._parts.get((event.get("output_index"), event.get("content_index")))
        final = event.get(field)
        if index is None or not isinstance(final, str):
            return
        block = self.message.content[index]
        if isinstance(block, TextContent) and block.text != final:
            block.text = final

    def _part_done(self, event: dict[str, Any]) -> list[Event]:
        part = event.get("part")
        if isinstance(part, dict):
            field = "text" if part.get("type") == "output_text" else "refusal"
            self._settle_text({**event, field: part.get(field)}, field)
        index = self._parts.get((event.get("output_index"), event.get("content_index")))
        return [] if index is None else self._end(index)

    def _settle_arguments(self, output_index: Any, arguments: Any) -> None:
        found = self._call(output_index)
        if found is None or not isinstance(arguments, str):
            return
        call = found[1]
        if call.raw_arguments is not None and call.raw_arguments != arguments:
            call.arguments = {}
            call.append_arguments(arguments)
        elif call.raw_arguments is None and arguments and found[0] in self._open:
            call.append_arguments(arguments)

    def _item_done(self, event: dict[str, Any]) -> list[Event]:
        item = event.get("item")
        output_index = event.get("output_index")
        if not isinstance(item, dict):
            return []
        kind = item.get("type")
        out: list[Event] = []
        if output_index not in self._items and kind in ("reasoning", "function_call"):
            out += self._item_added(event)  # a server that sent only the finished item
        if kind == "reasoning":
            found = self._thinking(output_index)
            if found is None:
                return out
            index, block = found
            summary = item.get("summary")
            texts = [
                s["text"]
                for s in summary or []
                if isinstance(s, dict) and isinstance(s.get("text"), str)
            ]
            if texts and block.thinking != "\n\n".join(texts):
                block.thinking = "\n\n".join(texts)
            encrypted = item.get("encrypted_content")
            if isinstance(encrypted, str) and encrypted:
                block.signature = encrypted
                block.redacted = not block.thinking
            out += self._end(index)
        elif kind == "function_call":
            found_call = self._call(output_index)
            if found_call is None:
                return out
            index, call = found_call
            if isinstance(item.get("name"), str) and item["name"]:
                call.name = item["name"]
            self._settle_arguments(output_index, item.get("arguments"))
            out += self._end(index)
        elif kind == "message":
            for position, part in enumerate(item.get("content") or []):
                if not isinstance(part, dict) or part.get("type") not in _TEXT_PARTS:
                    continue
                key = (output_index, position)
                if key not in self._parts:  # a server that sent only the finished item
                    field = "text" if part.get("type") == "output_text" else "refusal"
                    value = part.get(field)
                    self._new_text(key, value if isinstance(value, str) else "", out)
                out += self._part_done(
                    {"output_index": output_index, "content_index": position, "part": part}
                )
        return out

    # -- the response ------------------------------------------------------------

    def _response_meta(self, response: Any) -> None:
        if not isinstance(response, dict):
            return
        message = self.message
        rid = response.get("id")
        if isinstance(rid, str) and rid:
            message.response_id = rid
        name = response.get("model")
        if isinstance(name, str) and name:
            message.model = name
        usage = response.get("usage")
        if isinstance(usage, dict):
            self._usage(usage)

    def _usage(self, raw: dict[str, Any]) -> None:
        details = raw.get("input_tokens_details")
        cached = written = 0
        if isinstance(details, dict):
            cached = count(details.get("cached_tokens"))
            written = count(details.get("cache_write_tokens"))
        usage = self.message.usage
        usage.cache_read = cached
        usage.cache_write = written
        usage.input = max(0, count(raw.get("input_tokens")) - cached - written)
        usage.output = count(raw.get("output_tokens"))
        calculate_cost(self._model, usage)

    def _adopt_output(self, response: dict[str, Any]) -> list[Event]:
        """Items the terminal response lists but the stream never announced
        (a server that sends only the final response): added and finished now."""
        out: list[Event] = []
        for position, item in enumerate(response.get("output") or []):
            if not isinstance(item, dict):
                continue
            if item.get("type") == "message":
                keys = [k for k in self._parts if k[0] == position]
                if keys:
                    continue
            elif position in self._items or position in self._ignored:
                continue
            added = {"output_index": position, "item": item}
            out += self._item_added(added)
            out += self._item_done(added)
        return out

    def _close_all(self) -> list[Event]:
        out: list[Event] = []
        for index in list(self._open):
            out += self._end(index)
        return out

    def _completed(self, response: Any) -> list[Event]:
        out: list[Event] = []
        if isinstance(response, dict):
            self._response_meta(response)
            out += self._adopt_output(response)
        out += self._close_all()
        stop: StopReason = "toolUse" if self.message.tool_calls else "stop"
        out.extend(one(self.writer.done(stop)))
        return out

    def _incomplete(self, response: Any) -> list[Event]:
        out: list[Event] = []
        reason = ""
        if isinstance(response, dict):
            self._response_meta(response)
            out += self._adopt_output(response)
            details = response.get("incomplete_details")
            if isinstance(details, dict) and isinstance(details.get("reason"), str):
                reason = details["reason"]
        out += self._close_all()
        stop, error = INCOMPLETE_REASONS.get(
            reason,
            ("error", f"the upstream left the response incomplete ({reason or 'no reason given'})"),
        )
        if error is not None:
            out += self.fail(ProviderError(error, code=reason or None))
        else:
            out.extend(one(self.writer.done(stop)))
        return out

    def _failed(self, response: Any) -> list[Event]:
        error: Any = None
        if isinstance(response, dict):
            self._response_meta(response)
            error = response.get("error")
        out = self._close_all()
        return out + self.fail(_error(error))


def _error(error: Any) -> ProviderError:
    """The upstream's own words from an ``error`` event or a failed response."""
    if isinstance(error, dict):
        message = error.get("message")
        code = error.get("code")
        etype = error.get("type")
        code_text = None if code is None else str(code)
        return ProviderError(
            str(message or "the upstream reported an error mid-stream")
            + (f" ({code_text})" if code_text and code_text not in str(message) else ""),
            code=code_text,
            type=None if etype is None else str(etype),
            retryable=code_text in _RETRYABLE_CODES,
        )
    if isinstance(error, str) and error:
        return ProviderError(error)
    return ProviderError("the upstream reported that the response failed, without a reason")


def response_as_events(payload: Any) -> list[dict[str, Any]]:
    """A whole (non-streamed) Response object as the terminal event that would
    have ended its stream, for :meth:`ResponsesParser.feed` (which adopts the
    items it lists)."""
    if not isinstance(payload, dict):
        return [{"type": "error", "message": "the upstream sent JSON that is not an object"}]
    if payload.get("error") and payload.get("object") != "response":
        return [{"type": "error", "error": payload["error"]}]
    status = payload.get("status")
    kind = {
        "incomplete": "response.incomplete",
        "failed": "response.failed",
    }.get(str(status), "response.completed")
    return [{"type": "response.created", "response": payload}, {"type": kind, "response": payload}]
