"""Ollama ``/api/chat`` NDJSON lines → neutral events, independent of HTTP.

Each line is one JSON object. :class:`OllamaParser` takes the decoded lines.

| line field                                    | effect                                             |
|-----------------------------------------------|----------------------------------------------------|
| ``model``                                     | ``message.model`` (first line)                     |
| ``message.thinking``                          | thinking block (consecutive pieces join)           |
| ``message.content``                           | text block (consecutive pieces join)               |
| ``message.tool_calls[]``                      | whole tool calls (start, one delta, end each);     |
| ``{id?, function: {name, arguments}}``        | arguments as an object (a JSON string is accepted);|
|                                               | no ``id`` → ``ollama_call_<n>_<random>``           |
| ``done: true``                                | the last line: ``done_reason``, usage, then        |
|                                               | ``done`` (see below)                               |
| ``{"error": "…"}``                            | terminal error with the upstream's message         |
| end of input without ``done: true``           | terminal error (the stream was cut)                |

done_reason → stop reason: ``stop`` → stop (toolUse when the reply holds
tool calls), ``length`` → length, absent → stop; anything else (``load``,
``unload``, reasons added later) → error naming it.

Usage: ``prompt_eval_count`` → ``input``, ``eval_count`` → ``output``.
Ollama reports no cache counts: a prompt prefix it kept from the previous
call is simply not evaluated again, so it is in neither number.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import orjson

from pluma.llm.errors import ProviderError
from pluma.llm.events import Event
from pluma.llm.protocols.parsing import OpenBlock, count, decode_object, one
from pluma.llm.types import (
    Model,
    StopReason,
    TextContent,
    ThinkingContent,
    ToolCall,
    calculate_cost,
)
from pluma.llm.writer import StreamWriter

DONE_REASONS: dict[str, StopReason] = {"stop": "stop", "length": "length", "": "stop"}

SYNTHETIC_ID_PREFIX = "ollama_call_"


class OllamaParser:
    """Turns one Ollama chat stream into neutral events through ``writer``.

    ``feed`` takes a decoded line, ``feed_data`` its raw bytes, ``feed_lines``
    all the raw lines of one network read (what the adapter uses: one call
    per read, the usual text line handled without a method call per line);
    ``finish`` ends the stream at end of input. After the terminal event every call
    returns ``[]``.
    """

    __slots__ = ("_calls", "_model", "_named", "_open", "message", "writer")

    def __init__(self, writer: StreamWriter, model: Model) -> None:
        self.writer = writer
        self.message = writer.message
        self._model = model
        self._open = OpenBlock(writer)
        self._calls = 0
        self._named = False

    @property
    def finished(self) -> bool:
        return self.writer.finished

    def feed_data(self, line: bytes | str) -> list[Event]:
        """One NDJSON line."""
        return self.feed_lines((line,))

    def feed_lines(self, lines: Sequence[bytes | str]) -> list[Event]:
        """The events of several NDJSON lines (all those one network read
        brought), in order; lines after the terminal event are ignored."""
        out: list[Event] = []
        writer = self.writer
        if writer.finished:
            return out
        message = self.message
        loads = orjson.loads
        opened = self._open
        block = opened.text
        append = block.appender() if block is not None else None
        index = opened.index
        for line in lines:
            try:
                item = loads(line)
            except orjson.JSONDecodeError:
                item = None
            if append is not None and type(item) is dict:
                # The hot path: a line whose message is only more text for the
                # open text block (``role`` and ``content``, nothing else, as
                # Ollama sends every token of a reply). The event is built
                # here rather than by writer.text_delta: the writer is started
                # (a block is open) and not finished (checked above and after
                # every other line), which is all text_delta would check.
                body = item.get("message")
                if type(body) is dict and len(body) == 2 and item.get("done") is False:
                    piece = body.get("content")
                    if piece and type(piece) is str and "role" in body:
                        append(piece)
                        out.append(Event("text_delta", index, piece, None, None, message))  # type: ignore[arg-type]
                        continue
            if type(item) is not dict:
                failure = decode_object(line, "line")
                out += self.fail(failure if isinstance(failure, ProviderError) else "")
                break
            out += self._line(item)
            if writer.finished:
                break
            block = opened.text
            append = block.appender() if block is not None else None
            index = opened.index
        return out

    def feed(self, item: dict[str, Any]) -> list[Event]:
        """The neutral events for one decoded line."""
        if self.writer.finished:
            return []
        return self._line(item)

    def _line(self, item: dict[str, Any]) -> list[Event]:
        body = item.get("message")
        error = item.get("error")
        if error:
            return self.fail(ProviderError(str(error)))
        if not self._named:
            self._named = True
            name = item.get("model")
            if isinstance(name, str) and name:
                self.message.model = name
        out: list[Event] = []
        if isinstance(body, dict):
            thinking = body.get("thinking")
            if thinking and isinstance(thinking, str):
                self._open.append(ThinkingContent, thinking, out)
            content = body.get("content")
            if content and isinstance(content, str):
                self._open.append(TextContent, content, out)
            calls = body.get("tool_calls")
            if isinstance(calls, list):
                for call in calls:
                    if isinstance(call, dict):
                        self._tool_call(call, out)
        if item.get("done") is True:
            out += self._done(item)
        return out

    def finish(self) -> list[Event]:
        """End of input: without a ``done: true`` line, the reply is incomplete."""
        if self.writer.finished:
            return []
        return self.fail(
            ProviderError(
                "the upstream stream ended before the reply was finished (no line with "
                '"done": true); the partial reply is kept — try again'
            )
        )

    def fail(self, error: BaseException | str) -> list[Event]:
        return one(self.writer.fail(error))

    # -- pieces ------------------------------------------------------------------

    def _tool_call(self, raw: dict[str, Any], out: list[Event]) -> None:
        self._open.close(out)
        function = raw.get("function")
        function = function if isinstance(function, dict) else {}
        call_id = raw.get("id")
        if not isinstance(call_id, str) or not call_id:
            call_id = f"{SYNTHETIC_ID_PREFIX}{self._calls}_{secrets.token_hex(4)}"
        self._calls += 1
        name = function.get("name")
        call = ToolCall(call_id, name if isinstance(name, str) else "")
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            text = arguments
        else:
            text = orjson.dumps(arguments if isinstance(arguments, dict) else {}).decode()
        content = self.message.content
        index = len(content)
        content.append(call)
        writer = self.writer
        out.extend(one(writer.toolcall_start(index, call)))
        call.append_arguments(text)
        out.extend(one(writer.toolcall_delta(index, call, text)))
        out.extend(one(writer.toolcall_end(index, call)))

    def _done(self, item: dict[str, Any]) -> list[Event]:
        out: list[Event] = []
        self._open.close(out)
        usage = self.message.usage
        usage.input = count(item.get("prompt_eval_count"))
        usage.output = count(item.get("eval_count"))
        calculate_cost(self._model, usage)
        reason = item.get("done_reason")
        reason = reason if isinstance(reason, str) else ""
        stop = DONE_REASONS.get(reason)
        if stop is None:
            return out + self.fail(
                ProviderError(
                    f"the upstream ended the reply with done_reason {reason!r}", code=reason
                )
            )
        if stop == "stop" and self._calls:
            stop = "toolUse"
        return out + one(self.writer.done(stop))
