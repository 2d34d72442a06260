"""Anthropic Messages stream events → Pluma events, independent of HTTP.

:class:`EventParser` takes each decoded SSE event (its name and its JSON
``data``) and returns the Pluma events it produces, so anything that has
Anthropic stream events in hand (a recorded log, a proxy, a test) can reuse it.

Stream rules, per the published Messages streaming API:

| upstream event                     | effect                                                   |
|------------------------------------|----------------------------------------------------------|
| message_start                      | response id, model, first usage (input and cache counts) |
| content_block_start text           | new text block (``text_start``)                          |
| content_block_start thinking       | new thinking block (``thinking_start``)                  |
| content_block_start redacted_thinking | new thinking block, ``redacted``, ``data`` kept as its signature |
| content_block_start tool_use       | new tool call; ``input`` given whole is kept unless      |
|                                    | ``input_json_delta`` fragments follow, which replace it  |
| content_block_start (other types)  | ignored with its deltas (server tools, search results)   |
| text_delta / thinking_delta        | appended in O(1), ``*_delta``                            |
| signature_delta                    | sets the thinking block's signature (as the SDK does)    |
| input_json_delta                   | raw argument text appended, ``toolcall_delta``           |
| citations_delta                    | ignored (citations are not part of the vocabulary)       |
| content_block_stop                 | ``*_end`` (tool arguments parsed with recovery)          |
| message_delta                      | stop reason and ``stop_sequence`` (the matched one, kept |
|                                    | as ``AssistantMessage.stop_sequence``); usage merged:    |
|                                    | output replaces, input and cache counts replace only     |
|                                    | when present                                             |
| message_stop                       | open blocks closed, then ``done`` or ``error`` per the   |
|                                    | stop-reason table below                                  |
| ping, unknown events               | ignored                                                  |
| error                              | terminal ``error`` with the upstream's message; content  |
|                                    | received so far is kept                                  |
| end of input before message_stop   | terminal ``error`` (see :meth:`EventParser.finish`)      |

An upstream that ignores ``stream: true`` and answers one JSON message is
read through the same parser: :func:`message_as_events` rewrites the message
into the events that would have streamed it.

Stop reasons:

| Anthropic                     | Pluma                                  |
|-------------------------------|----------------------------------------|
| end_turn, stop_sequence       | stop                                   |
| pause_turn                    | stop (the caller may send it back to continue) |
| max_tokens                    | length                                 |
| model_context_window_exceeded | length, and a ``context_window_exceeded`` |
|                               | diagnostic (the reply is valid but the |
|                               | window is full: compact to go on)      |
| tool_use                      | toolUse                                |
| refusal                       | error, with a message saying so        |
| absent                        | stop                                   |
| anything else                 | error, naming the unknown reason       |

JSON output emulation (``json_tool`` given, see
:mod:`pluma.llm.protocols.anthropic_messages.request`): a ``tool_use`` block
calling that tool becomes a text block, its ``input_json_delta`` fragments
text deltas (an input given whole at block start becomes one delta), and the
``tool_use`` stop it causes becomes ``stop``.

Usage: Anthropic's ``input_tokens`` already excludes cached tokens, so it is
Pluma's ``input`` as is; ``cache_read_input_tokens`` → ``cache_read``,
``cache_creation_input_tokens`` → ``cache_write``.
"""

from __future__ import annotations

from typing import Any

import orjson

from pluma.llm.errors import ProviderError
from pluma.llm.events import Event
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

CONTEXT_WINDOW_EXCEEDED = "model_context_window_exceeded"

STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    CONTEXT_WINDOW_EXCEEDED: "length",
    "tool_use": "toolUse",
}

# Error types after which trying again later may succeed.
_RETRYABLE_ERRORS = frozenset(
    {"overloaded_error", "api_error", "rate_limit_error", "timeout_error"}
)


def _one(event: Event | None) -> list[Event]:
    return [] if event is None else [event]


class EventParser:
    """Turns one Anthropic message stream into Pluma events through ``writer``.

    ``writer.message`` is filled in place. Call :meth:`feed` per upstream
    event and :meth:`finish` when the input ends; both return the events to
    pass on (an empty list when there are none). After a terminal event every
    call returns an empty list.
    """

    __slots__ = (
        "_blocks",
        "_json_given",
        "_json_tool",
        "_model",
        "_open",
        "_stop_reason",
        "_writer",
    )

    def __init__(self, writer: StreamWriter, model: Model, *, json_tool: str | None = None) -> None:
        self._writer = writer
        self._model = model
        self._json_tool = json_tool
        # content index of a JSON-tool text block → the input given at its start,
        # shown only if no input_json_delta follows.
        self._json_given: dict[int, object] = {}
        # Anthropic block index → index in message.content (None: ignored block).
        self._blocks: dict[int, int | None] = {}
        self._open: dict[int, None] = {}  # content indexes not yet ended, in order
        self._stop_reason: str | None = None

    @property
    def finished(self) -> bool:
        return self._writer.finished

    # -- entry points --------------------------------------------------------

    def feed(self, event_name: str, data: dict[str, Any]) -> list[Event]:
        """The Pluma events for one upstream event.

        ``event_name`` is the SSE ``event:`` field; when empty, ``data["type"]``
        is used (some relays drop the event line).
        """
        if self._writer.finished:
            return []  # the message is final: nothing may change it any more
        kind = event_name or str(data.get("type", ""))
        if kind == "content_block_delta":
            return self._delta(data)
        if kind == "content_block_start":
            return self._block_start(data)
        if kind == "content_block_stop":
            return self._block_stop(data)
        if kind == "message_start":
            return self._message_start(data)
        if kind == "message_delta":
            return self._message_delta(data)
        if kind == "message_stop":
            return self._message_stop()
        if kind == "error":
            return self._error(data)
        return []  # ping and event types added after this was written

    def finish(self) -> list[Event]:
        """The input ended. Without a ``message_stop`` first, the reply is
        incomplete: a terminal error keeping the content received so far."""
        if self._writer.finished:
            return []
        return _one(
            self._writer.fail(
                ProviderError(
                    "the upstream closed the stream before the message was complete "
                    "(no message_stop); the partial reply is kept, try again"
                )
            )
        )

    # -- message-level events -------------------------------------------------

    def _message_start(self, data: dict[str, Any]) -> list[Event]:
        body = data.get("message")
        writer = self._writer
        if isinstance(body, dict):
            message = writer.message
            if isinstance(body.get("id"), str):
                message.response_id = body["id"]
            if isinstance(body.get("model"), str) and body["model"]:
                message.model = body["model"]
            usage = body.get("usage")
            if isinstance(usage, dict):
                self._merge_usage(usage)
        return _one(writer.start())

    def _message_delta(self, data: dict[str, Any]) -> list[Event]:
        delta = data.get("delta")
        if isinstance(delta, dict):
            if delta.get("stop_reason") is not None:
                self._stop_reason = str(delta["stop_reason"])
            matched = delta.get("stop_sequence")
            if isinstance(matched, str) and matched:
                self._writer.message.stop_sequence = matched
        usage = data.get("usage")
        if isinstance(usage, dict):
            self._merge_usage(usage)
        return []

    def _merge_usage(self, usage: dict[str, Any]) -> None:
        """Counts are cumulative: each present one replaces the previous value."""
        target = self._writer.message.usage
        value = usage.get("input_tokens")
        if isinstance(value, int):
            target.input = value
        value = usage.get("output_tokens")
        if isinstance(value, int):
            target.output = value
        value = usage.get("cache_read_input_tokens")
        if isinstance(value, int):
            target.cache_read = value
        value = usage.get("cache_creation_input_tokens")
        if isinstance(value, int):
            target.cache_write = value
        calculate_cost(self._model, target)

    def _message_stop(self) -> list[Event]:
        writer = self._writer
        if writer.finished:
            return []
        events = self._close_open_blocks()
        raw = self._stop_reason
        if raw == "tool_use" and self._json_tool is not None and not writer.message.tool_calls:
            raw = "end_turn"  # the JSON tool answered: a finished reply, not a tool call
        mapped = STOP_REASONS.get(raw) if raw is not None else "stop"
        if raw == CONTEXT_WINDOW_EXCEEDED:
            # A valid reply (Anthropic documents it as such), cut because prompt
            # and reply filled the context window rather than by max_tokens: the
            # caller can only get more by compacting, so say which limit it was.
            writer.message.diagnostics.append(
                Diagnostic(
                    kind="context_window_exceeded",
                    message="the reply stopped because the model's context window is full "
                    "(stop_reason 'model_context_window_exceeded'); compact the history "
                    "to let it continue",
                )
            )
        if mapped is not None:
            events.extend(_one(writer.done(mapped)))
        elif raw == "refusal":
            events.extend(
                _one(
                    writer.fail(
                        ProviderError(
                            "the model refused to answer (stop_reason 'refusal'); "
                            "rephrase the request",
                            code="refusal",
                        )
                    )
                )
            )
        else:
            events.extend(
                _one(
                    writer.fail(
                        ProviderError(
                            f"the upstream ended the message with an unknown stop_reason "
                            f"{raw!r}; the reply may be incomplete",
                            code=raw,
                        )
                    )
                )
            )
        return events

    def _error(self, data: dict[str, Any]) -> list[Event]:
        error = data.get("error")
        message = ""
        etype: str | None = None
        if isinstance(error, dict):
            message = str(error.get("message") or "")
            etype = str(error["type"]) if error.get("type") is not None else None
        elif isinstance(error, str):
            message = error
        if not message:
            message = etype or "unspecified error"
        return _one(
            self._writer.fail(
                ProviderError(
                    f"the upstream reported an error mid-stream: {message}",
                    type=etype,
                    retryable=etype in _RETRYABLE_ERRORS,
                )
            )
        )

    # -- content blocks ---------------------------------------------------------

    def _block_start(self, data: dict[str, Any]) -> list[Event]:
        block = data.get("content_block")
        upstream_index = data.get("index")
        if not isinstance(block, dict) or not isinstance(upstream_index, int):
            return []
        writer = self._writer
        content = writer.message.content
        index = len(content)
        kind = block.get("type")
        item: AssistantContent
        initial: object = None
        if kind == "text":
            item = TextContent()
            initial = block.get("text")
        elif kind == "thinking":
            signature = block.get("signature")
            item = ThinkingContent(
                signature=signature if isinstance(signature, str) and signature else None
            )
            initial = block.get("thinking")
        elif kind == "redacted_thinking":
            data_field = block.get("data")
            item = ThinkingContent(
                signature=data_field if isinstance(data_field, str) else "", redacted=True
            )
        elif (
            kind == "tool_use"
            and self._json_tool is not None
            and (block.get("name") == self._json_tool)
        ):
            item = TextContent()
            given = block.get("input")
            if isinstance(given, dict) and given:
                self._json_given[index] = given
        elif kind == "tool_use":
            given = block.get("input")
            item = ToolCall(
                str(block.get("id") or ""),
                str(block.get("name") or ""),
                dict(given) if isinstance(given, dict) else {},
            )
        else:
            self._blocks[upstream_index] = None
            return []
        content.append(item)
        self._blocks[upstream_index] = index
        self._open[index] = None
        if isinstance(item, ToolCall):
            return _one(writer.toolcall_start(index, item))
        if isinstance(item, TextContent):
            first = writer.text_start(index)
        else:
            first = writer.thinking_start(index)
        events = _one(first)
        if isinstance(initial, str) and initial:
            # Text given at block start (not sent by Anthropic itself, but
            # allowed by the schema): keep it and show it as a first delta.
            item.append(initial)
            delta = (
                writer.text_delta(index, initial)
                if isinstance(item, TextContent)
                else writer.thinking_delta(index, initial)
            )
            events = [*events, *_one(delta)]
        return events

    def _delta(self, data: dict[str, Any]) -> list[Event]:
        index = self._blocks.get(data.get("index"))  # type: ignore[arg-type]
        delta = data.get("delta")
        if index is None or not isinstance(delta, dict):
            return []
        block = self._writer.message.content[index]
        kind = delta.get("type")
        if kind == "text_delta":
            # The hot path of every stream: kept to a few dict reads, one
            # O(1) append and one event.
            text = delta.get("text")
            if text and type(text) is str and type(block) is TextContent:
                block.append(text)
                event = self._writer.text_delta(index, text)
                return [event] if event is not None else []
        elif kind == "input_json_delta":
            fragment = delta.get("partial_json")
            if type(block) is TextContent and isinstance(fragment, str) and fragment:
                # The JSON-output tool: its input is the reply's text.
                self._json_given.pop(index, None)
                block.append(fragment)
                return _one(self._writer.text_delta(index, fragment))
            if isinstance(block, ToolCall) and isinstance(fragment, str) and fragment:
                # The first fragment starts the raw text, which then replaces
                # any input given at block start (usually ``{}``), never adds to it.
                block.append_arguments(fragment)
                return _one(self._writer.toolcall_delta(index, block, fragment))
        elif kind == "thinking_delta":
            text = delta.get("thinking")
            if isinstance(block, ThinkingContent) and isinstance(text, str) and text:
                block.append(text)
                return _one(self._writer.thinking_delta(index, text))
        elif kind == "signature_delta":
            signature = delta.get("signature")
            if isinstance(block, ThinkingContent) and isinstance(signature, str):
                block.signature = signature
        return []

    def _block_stop(self, data: dict[str, Any]) -> list[Event]:
        index = self._blocks.get(data.get("index"))  # type: ignore[arg-type]
        if index is None or index not in self._open:
            return []
        del self._open[index]
        return [*self._json_whole(index), *_one(self._writer.end_open_block(index))]

    def _json_whole(self, index: int) -> list[Event]:
        """A JSON-tool input given whole at block start, shown as one text delta."""
        given = self._json_given.pop(index, None)
        block = self._writer.message.content[index]
        if given is None or not isinstance(block, TextContent):
            return []
        text = orjson.dumps(given).decode()
        block.append(text)
        return _one(self._writer.text_delta(index, text))

    def _close_open_blocks(self) -> list[Event]:
        events: list[Event] = []
        for index in list(self._open):
            events.extend(self._json_whole(index))
            events.extend(_one(self._writer.end_open_block(index)))
        self._open.clear()
        return events


def message_as_events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """A whole (non-streamed) Messages API answer as ``(event name, data)``
    pairs for :meth:`EventParser.feed`: ``message_start``, a start and stop
    per content block (text and thinking given whole at block start, which the
    parser shows as one delta), ``message_delta`` with the stop reason and
    usage, ``message_stop``. An error object or unreadable JSON becomes one
    ``error`` event."""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        payload = None
    if not isinstance(payload, dict):
        text = raw.decode("utf-8", "replace")[:200]
        return [("error", {"type": "error", "error": {"message": f"malformed JSON: {text!r}"}})]
    if payload.get("type") == "error" or payload.get("error"):
        return [("error", payload)]
    usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": {**payload, "content": []}})
    ]
    for index, block in enumerate(payload.get("content") or []):
        if isinstance(block, dict):
            events.append(
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": block},
                )
            )
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    delta = {
        "stop_reason": payload.get("stop_reason"),
        "stop_sequence": payload.get("stop_sequence"),
    }
    events.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events
