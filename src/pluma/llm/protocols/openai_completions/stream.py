"""Chat Completions stream chunks → neutral events, independent of HTTP.

:class:`ChunkParser` is public so that anything holding OpenAI-shaped chunks
can turn them into events: the adapter feeds it the ``data:`` payloads it
reads, and the server feeds it the lines of a plain seed-contract provider.

    message = llm.AssistantMessage(protocol="openai-completions", provider=p, model=m)
    writer = llm.StreamWriter(message)
    parser = ChunkParser(writer, model)
    for data in payloads:                  # the text after "data: "
        events.extend(parser.feed_data(data))
    events.extend(parser.finish())         # at end of input

How each part of a chunk is read:

| chunk field                                   | effect                                               |
|-----------------------------------------------|------------------------------------------------------|
| ``id`` / ``model``                            | ``message.response_id`` / ``message.model`` (first)  |
| ``choices[0].delta.content``, ``refusal``     | text block (opened on first non-empty delta)         |
| ``delta.reasoning_content`` / ``reasoning``   | thinking block (the first field a stream uses wins;  |
| / ``reasoning_details[].text``                | OpenRouter repeats the same text in several)         |
| ``delta.tool_calls[]``                        | tool call found by ``id`` if known, else ``index``;  |
|                                               | a fragment with an unknown id *and* a name, or with  |
|                                               | neither key known, starts a new call                 |
| ``function.arguments`` (string or object)     | appended to that call's raw argument text            |
| ``delta.function_call`` (legacy)              | one tool call                                        |
| ``usage`` at top level, in ``choices[].usage`` | usage, read in every shape of the usage table below   |
| or in ``x_groq.usage``                        | (input excludes cache reads and writes)              |
| ``finish_reason``                             | remembered; ends the message at ``[DONE]``/``finish``|
| ``choices[].stop_reason`` a string (vLLM)     | ``AssistantMessage.stop_sequence`` (the stop string  |
|                                               | that matched; OpenAI itself never says which)        |
| ``{"error": …}`` (any chunk), or              | terminal error with the upstream's message           |
| ``{"object": "error", "message"}`` (vLLM)     |                                                      |
| ``[DONE]``                                    | open blocks end; ``done`` (or error, see below)      |

finish_reason → stop reason: ``stop`` → stop (toolUse when the reply holds
tool calls: some servers say ``stop`` there), ``length`` → length,
``tool_calls`` / ``function_call`` → toolUse, ``content_filter`` → error
"stopped by the upstream's content filter", anything else → error naming it.
A stream that ends with neither ``finish_reason`` nor ``[DONE]`` was cut: the
terminal event is an error that keeps the partial content.

Usage: where each upstream puts its token counts, and whose shape it is.

| shape                                                   | source                               |
|---------------------------------------------------------|--------------------------------------|
| top-level ``usage`` in a last chunk with ``choices: []`` | OpenAI (``stream_options.include_usage``) and most compatible servers |
| ``usage`` inside ``choices[0]``                          | Moonshot (Kimi)                      |
| ``x_groq.usage``                                         | Groq                                 |
| ``prompt_tokens_details.cached_tokens`` (part of         | OpenAI, OpenRouter, xAI, Groq        |
| ``prompt_tokens``)                                       |                                      |
| ``cached_tokens`` flat in ``usage``                      | Moonshot (Kimi)                      |
| ``prompt_cache_hit_tokens`` / ``_miss_tokens``           | DeepSeek                             |
| ``prompt_tokens_details.cache_write_tokens`` (part of    | OpenRouter (Anthropic and Gemini models)|
| ``prompt_tokens``)                                       |                                      |
| ``cache_creation_input_tokens``                          | Anthropic-backed compatible gateways |
| ``completion_tokens_details.reasoning_tokens``, part of  | OpenAI, OpenRouter, DeepSeek          |
| ``completion_tokens``                                    |                                      |
| ``reasoning_tokens`` on top of ``completion_tokens``     | xAI: ``total_tokens`` = prompt +     |
| (told apart by ``total_tokens``)                         | completion + reasoning; added to output |

Text and thinking blocks are sequential: a new kind of delta (or a tool call)
ends the open text/thinking block. Tool calls stay open until the end,
because parallel calls may interleave their fragments.
"""

from __future__ import annotations

from typing import Any

import orjson

from pluma.llm.errors import ProviderError
from pluma.llm.events import Event
from pluma.llm.types import (
    Model,
    StopReason,
    TextContent,
    ThinkingContent,
    ToolCall,
    calculate_cost,
)
from pluma.llm.writer import StreamWriter

# finish_reason → (stop reason, error message or None)
FINISH_REASONS: dict[str, tuple[StopReason, str | None]] = {
    "stop": ("stop", None),
    "length": ("length", None),
    "tool_calls": ("toolUse", None),
    "function_call": ("toolUse", None),
    "content_filter": ("error", "the reply was stopped by the upstream's content filter"),
}

# Prefix of the ids given to calls whose upstream sent none.
_GENERATED_ID = "call_pluma_"

_REASONING_FIELDS = ("reasoning_content", "reasoning", "reasoning_details")


class ChunkParser:
    """Turns Chat Completions chunks into events through ``writer``.

    ``feed`` takes a decoded chunk dict, ``feed_data`` the raw text of one
    ``data:`` payload (``[DONE]`` included). Both return the events the input
    produced (possibly none). ``finish`` ends the stream at end of input;
    after the terminal event every call returns ``[]``. Costs are priced at
    ``model``'s rates.

    Work per chunk is constant: deltas are appended to their blocks, never
    re-joined.
    """

    __slots__ = (
        "_by_id",
        "_by_index",
        "_calls",
        "_finish_reason",
        "_model",
        "_open",
        "_reasoning_field",
        "_saw_done",
        "message",
        "writer",
    )

    def __init__(self, writer: StreamWriter, model: Model) -> None:
        self.writer = writer
        self.message = writer.message
        self._model = model
        self._open: int | None = None  # content index of the open text/thinking block
        self._calls: list[int] = []  # content indexes of tool calls, in order
        self._by_index: dict[int, int] = {}  # wire index → content index
        self._by_id: dict[str, int] = {}  # wire id → content index
        self._finish_reason: str | None = None
        self._reasoning_field: str | None = None
        self._saw_done = False

    @property
    def finished(self) -> bool:
        """True once the terminal event has been produced."""
        return self.writer.finished

    @property
    def finish_reason(self) -> str | None:
        """The upstream's ``finish_reason``, once seen."""
        return self._finish_reason

    # -- input -------------------------------------------------------------

    def feed_data(self, data: str) -> list[Event]:
        """One ``data:`` payload: ``[DONE]`` or a JSON chunk. A payload that is
        not JSON ends the stream with an error quoting its start."""
        if self.writer.finished:
            return []
        stripped = data.strip()
        if stripped == "[DONE]":
            self._saw_done = True
            return self._end()
        if not stripped:
            return []
        try:
            chunk = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            return self.fail(
                ProviderError(f"the upstream sent a malformed chunk: {stripped[:200]!r}")
            )
        if not isinstance(chunk, dict):
            return self.fail(
                ProviderError(
                    f"the upstream sent a chunk that is not an object: {stripped[:200]!r}"
                )
            )
        return self._chunk(chunk)

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        """One decoded chunk (``chat.completion.chunk`` or an error object)."""
        if self.writer.finished:
            return []
        return self._chunk(chunk)

    def _chunk(self, chunk: dict[str, Any]) -> list[Event]:
        """``feed`` once the stream is known not to have ended (``feed_data``
        has checked that already)."""
        writer = self.writer
        message = self.message
        index = self._open
        if index is not None and message.response_id is not None:
            # Fast path for nearly every chunk of a stream: more text for the
            # open text block and nothing else (see _plain_text). It does what
            # the general path below does for such a chunk — append the text,
            # one text_delta — without its dozen lookups and three calls.
            block = message.content[index]
            if type(block) is TextContent:
                text = _plain_text(chunk)
                if text is not None:
                    block.append(text)
                    event = writer.text_delta(index, text)
                    return [event] if event is not None else []
        if chunk.get("error"):
            return self.fail(_chunk_error(chunk["error"]))
        if chunk.get("object") == "error":  # vLLM's error shape, sent as a chunk
            return self.fail(_chunk_error(chunk))
        if message.response_id is None:
            rid = chunk.get("id")
            if isinstance(rid, str) and rid:
                message.response_id = rid
                model_name = chunk.get("model")
                if isinstance(model_name, str) and model_name:
                    message.model = model_name
        out: list[Event] = []
        choices = chunk.get("choices")
        if choices and isinstance(choices, list):
            # Only the first choice (n=1) is assembled; others are skipped.
            choice = choices[0]
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                delta = choice.get("delta")
                if delta and isinstance(delta, dict):
                    self._delta(delta, out)
                reason = choice.get("finish_reason")
                if reason and isinstance(reason, str):
                    self._finish_reason = reason
                    matched = choice.get("stop_reason")
                    if reason == "stop" and isinstance(matched, str) and matched:
                        message.stop_sequence = matched
                usage = choice.get("usage")
                if usage:
                    self._usage(usage)
        usage = chunk.get("usage")
        if not usage:
            groq = chunk.get("x_groq")  # Groq puts it here
            usage = groq.get("usage") if isinstance(groq, dict) else None
        if usage:
            self._usage(usage)
        return out

    def finish(self) -> list[Event]:
        """End of input. Ends open blocks and emits ``done`` when the stream
        reached its end (``finish_reason`` or ``[DONE]`` seen), else an error
        keeping the partial content."""
        if self.writer.finished:
            return []
        if self._finish_reason is None and not self._saw_done:
            return self.fail(
                ProviderError(
                    "the upstream stream ended before the reply was finished (no finish_reason "
                    "and no [DONE]); the partial reply is kept — try again"
                )
            )
        return self._end()

    def fail(self, error: BaseException | str) -> list[Event]:
        """End with an error event, keeping what was assembled."""
        event = self.writer.fail(error)
        return [event] if event is not None else []

    # -- deltas ------------------------------------------------------------

    def _delta(self, delta: dict[str, Any], out: list[Event]) -> None:
        field = self._reasoning_field
        if field is None:
            for name in _REASONING_FIELDS:
                if delta.get(name):
                    field = self._reasoning_field = name
                    break
        if field is not None:
            value = delta.get(field)
            if value:
                if field == "reasoning_details":
                    value = _details_text(value)
                if isinstance(value, str) and value:
                    self._append(ThinkingContent, value, out)
        content = delta.get("content")
        if content and isinstance(content, str):
            self._append(TextContent, content, out)
        refusal = delta.get("refusal")
        if refusal and isinstance(refusal, str):
            self._append(TextContent, refusal, out)
        calls = delta.get("tool_calls")
        if calls:
            for fragment in calls:
                if isinstance(fragment, dict):
                    self._tool_fragment(fragment, out)
        legacy = delta.get("function_call")
        if legacy and isinstance(legacy, dict):
            self._tool_fragment({"index": 0, "function": legacy}, out)

    def _append(
        self, kind: type[TextContent] | type[ThinkingContent], delta: str, out: list[Event]
    ) -> None:
        writer = self.writer
        content = self.message.content
        index = self._open
        block = content[index] if index is not None else None
        if index is None or type(block) is not kind:
            self._close_open(out)
            index = len(content)
            block = kind()
            content.append(block)
            self._open = index
            start = (
                writer.text_start(index) if kind is TextContent else writer.thinking_start(index)
            )
            if start is not None:
                out.append(start)
        if isinstance(block, TextContent):
            block.append(delta)
            event = writer.text_delta(index, delta)
        elif isinstance(block, ThinkingContent):
            block.append(delta)
            event = writer.thinking_delta(index, delta)
        else:  # pragma: no cover - _open only ever points at text or thinking
            return
        if event is not None:
            out.append(event)

    def _close_open(self, out: list[Event]) -> None:
        index = self._open
        if index is not None:
            self._open = None
            event = self.writer.end_open_block(index)
            if event is not None:
                out.append(event)

    def _tool_fragment(self, fragment: dict[str, Any], out: list[Event]) -> None:
        wire_index = fragment.get("index")
        if not isinstance(wire_index, int):
            wire_index = None
        call_id = fragment.get("id")
        if not isinstance(call_id, str) or not call_id:
            call_id = None
        function = fragment.get("function") or {}
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str):
            name = None
        arguments = function.get("arguments") if isinstance(function, dict) else None

        at: int | None = None
        if call_id is not None:
            at = self._by_id.get(call_id)
        if at is None and wire_index is not None and wire_index in self._by_index:
            known = self._by_index[wire_index]
            # Same index but a new id and a name: a server that numbers every
            # call 0 (keying calls by id) has started another call. A new id
            # without a name is a server that re-ids each fragment.
            known_id = self._call(known).id
            if call_id is None or not name or known_id.startswith(_GENERATED_ID):
                at = known
        if at is None and call_id is None and wire_index is None and self._calls:
            at = self._calls[-1]  # neither key: continues the latest call
        content = self.message.content
        if at is None:
            self._close_open(out)
            at = len(content)
            call = ToolCall(call_id or f"{_GENERATED_ID}{len(self._calls)}", name or "")
            content.append(call)
            self._calls.append(at)
            if call_id is not None:
                self._by_id[call_id] = at
            if wire_index is not None:
                self._by_index[wire_index] = at
            event = self.writer.toolcall_start(at, call)
            if event is not None:
                out.append(event)
        else:
            call = self._call(at)
            if call_id is not None and call.id != call_id and call.id.startswith(_GENERATED_ID):
                call.id = call_id  # the id came after the first fragment
                self._by_id[call_id] = at
            if name and name != call.name:
                call.name = call.name + name if call.name else name
            if wire_index is not None and wire_index not in self._by_index:
                self._by_index[wire_index] = at
        if arguments is None or arguments == "":
            return
        text = arguments if isinstance(arguments, str) else orjson.dumps(arguments).decode()
        call.append_arguments(text)
        event = self.writer.toolcall_delta(at, call, text)
        if event is not None:
            out.append(event)

    def _call(self, index: int) -> ToolCall:
        block = self.message.content[index]
        assert isinstance(block, ToolCall)
        return block

    # -- usage and the end ---------------------------------------------------

    def _usage(self, raw: dict[str, Any]) -> None:
        """Usage in any of the shapes of the module's usage table."""
        if not isinstance(raw, dict):
            return
        prompt = _int(raw.get("prompt_tokens"))
        completion = _int(raw.get("completion_tokens"))
        details = raw.get("prompt_tokens_details")
        details = details if isinstance(details, dict) else {}
        cached = (
            _int(details.get("cached_tokens"))
            or _int(raw.get("cached_tokens"))
            or _int(raw.get("prompt_cache_hit_tokens"))
        )
        written = _int(details.get("cache_write_tokens")) or _int(
            raw.get("cache_creation_input_tokens")
        )
        output_details = raw.get("completion_tokens_details")
        reasoning = (
            _int(output_details.get("reasoning_tokens"))
            if isinstance(output_details, dict)
            else _int(raw.get("reasoning_tokens"))
        )
        if reasoning and _int(raw.get("total_tokens")) == prompt + completion + reasoning:
            completion += reasoning  # counted apart from completion_tokens (xAI)
        usage = self.message.usage
        usage.cache_read = cached
        usage.cache_write = written
        usage.input = max(0, prompt - cached - written)
        usage.output = completion
        calculate_cost(self._model, usage)

    def _end(self) -> list[Event]:
        out: list[Event] = []
        self._close_open(out)
        writer = self.writer
        for index in self._calls:
            event = writer.toolcall_end(index, self._call(index))
            if event is not None:
                out.append(event)
        reason = self._finish_reason
        stop: StopReason
        if reason is None:
            stop = "toolUse" if self._calls else "stop"
            error = None
        else:
            stop, error = FINISH_REASONS.get(
                reason,
                ("error", f"the upstream ended the reply with an unknown finish_reason {reason!r}"),
            )
        if stop == "stop" and self._calls:
            stop = "toolUse"
        if error is not None:
            out.extend(self.fail(ProviderError(error, code=reason)))
            return out
        event = writer.done(stop)
        if event is not None:
            out.append(event)
        return out


def _plain_text(chunk: dict[str, Any]) -> str | None:
    """The text of a plain content-delta chunk, else None.

    Plain means: the first choice has index 0 and a delta holding only a
    non-empty ``content`` string, and nothing else in the chunk would act —
    no ``finish_reason``, no ``usage`` (in the choice or the chunk), no
    ``x_groq``, no ``error``, no ``object: "error"``. ``ChunkParser.feed``
    handles such a chunk on its fast path; every other chunk (role, reasoning,
    tool calls, refusal, finish, usage, errors) takes the general path.
    """
    choices = chunk.get("choices")
    if type(choices) is not list or not choices:
        return None
    choice = choices[0]
    if type(choice) is not dict:
        return None
    delta = choice.get("delta")
    if type(delta) is not dict or len(delta) != 1:
        return None
    text = delta.get("content")
    if (
        not text
        or type(text) is not str
        or choice.get("index", 0) != 0
        or choice.get("finish_reason")
        or choice.get("usage")
        or chunk.get("usage")
        or chunk.get("error")
        or chunk.get("object") == "error"
        or "x_groq" in chunk
    ):
        return None
    return text


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _details_text(details: Any) -> str:
    """The readable text of OpenRouter ``reasoning_details`` entries."""
    if not isinstance(details, list):
        return ""
    parts: list[str] = []
    for item in details:
        if isinstance(item, dict):
            text = item.get("text") or item.get("summary")
            if isinstance(text, str):
                parts.append(text)
    return "".join(parts)


def _chunk_error(error: Any) -> ProviderError:
    """The upstream's own words from an ``error`` member sent inside a stream."""
    if isinstance(error, dict):
        message = str(error.get("message") or "the upstream reported an error mid-stream")
        code = error.get("code")
        etype = error.get("type")
        return ProviderError(
            message,
            code=None if code is None else str(code),
            type=None if etype is None else str(etype),
        )
    return ProviderError(str(error))
