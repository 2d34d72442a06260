"""StreamWriter: the lifecycle bookkeeping every adapter shares.

An adapter is an async generator that yields the events its writer returns::

    writer = StreamWriter(message)
    yield writer.start()
    yield writer.text_delta(0, "Hi")
    yield writer.done()

The writer guarantees, whatever the adapter does:

* one ``start`` — emitted lazily: the first event the writer makes is
  preceded by it if the adapter did not ask for it (see :meth:`emit`; the
  stream wrapper in :mod:`pluma.llm.event_stream` delivers the pair);
* ``partial`` set on every non-terminal event to the live message;
* exactly one terminal event: after ``done``/``fail``/``abort`` every call
  returns None, and the stream wrapper skips None;
* a terminal error keeps the content assembled so far and records the reason
  (``stop_reason`` ``error``, or ``aborted`` for cancellation);
* given the call's ``secrets`` (see :func:`pluma.llm.redact.secrets_of`), a
  failure's message never contains them, whatever the upstream quoted.
"""

from __future__ import annotations

from collections.abc import Iterable

from pluma.llm.errors import AbortedError, ProviderError
from pluma.llm.events import Event
from pluma.llm.overflow import classify as classify_overflow
from pluma.llm.redact import mask
from pluma.llm.types import (
    AssistantMessage,
    StopReason,
    TextContent,
    ThinkingContent,
    ToolCall,
)


def describe_error(error: BaseException | str) -> str:
    """A one-line message for an error, never empty."""
    if isinstance(error, str):
        return error or "unknown error"
    return str(error) or type(error).__name__


class StreamWriter:
    """Builds the events of one assistant message.

    ``message`` is owned by the adapter, which appends content blocks to it and
    sets usage, stop reason and response id; the writer only reads it (to
    attach ``partial``) and sets the stop reason and error on failure.
    ``secrets`` (the call's API key and credential header values) are masked
    in failure messages.
    """

    __slots__ = ("_finished", "_started", "message", "secrets")

    def __init__(self, message: AssistantMessage, *, secrets: Iterable[str] = ()) -> None:
        self.message = message
        self.secrets = tuple(secrets)
        self._started = False
        self._finished = False

    @property
    def started(self) -> bool:
        return self._started

    @property
    def finished(self) -> bool:
        return self._finished

    def start(self) -> Event | None:
        """The ``start`` event, the first time only."""
        if self._started or self._finished:
            return None
        self._started = True
        return Event("start", partial=self.message)

    def emit(self, event: Event) -> Event | None:
        """Attach ``partial`` and return ``event``, or None once finished.

        If ``start`` was never returned, the stream wrapper inserts it before
        this event (start is lazy), so adapters may skip calling :meth:`start`.
        """
        if self._finished:
            return None
        self._started = True
        event.partial = self.message
        return event

    # Convenience builders for the content-block lifecycle. Each returns the
    # event to yield (or None once finished).

    def text_start(self, index: int) -> Event | None:
        return self.emit(Event("text_start", content_index=index))

    def text_delta(self, index: int, delta: str) -> Event | None:
        return self.emit(Event("text_delta", content_index=index, delta=delta))

    def text_end(self, index: int) -> Event | None:
        block = self.message.content[index]
        text = block.text if isinstance(block, TextContent) else ""
        return self.emit(Event("text_end", content_index=index, content=text))

    def thinking_start(self, index: int) -> Event | None:
        return self.emit(Event("thinking_start", content_index=index))

    def thinking_delta(self, index: int, delta: str) -> Event | None:
        return self.emit(Event("thinking_delta", content_index=index, delta=delta))

    def thinking_end(self, index: int) -> Event | None:
        block = self.message.content[index]
        text = block.thinking if isinstance(block, ThinkingContent) else ""
        return self.emit(Event("thinking_end", content_index=index, content=text))

    def toolcall_start(self, index: int, call: ToolCall) -> Event | None:
        return self.emit(Event("toolcall_start", content_index=index, tool_call=call.copy()))

    def toolcall_delta(self, index: int, call: ToolCall, delta: str) -> Event | None:
        return self.emit(Event("toolcall_delta", content_index=index, delta=delta, tool_call=call))

    def toolcall_end(self, index: int, call: ToolCall) -> Event | None:
        """Finish the call's arguments (with incomplete-JSON recovery, recorded
        as a diagnostic when not strict) and emit a copy of the final call."""
        from pluma.llm.types import Diagnostic

        mode = call.finish_arguments()
        if mode != "strict":
            self.message.diagnostics.append(
                Diagnostic(
                    kind=f"tool_arguments_{mode}",
                    message=f"arguments of tool call {call.name!r} ({call.id}) were {mode}",
                    content_index=index,
                )
            )
        return self.emit(Event("toolcall_end", content_index=index, tool_call=call.copy()))

    def end_open_block(self, index: int) -> Event | None:
        """The matching ``*_end`` for the block at ``index`` (used when a stream
        moves on or finishes with a block still open)."""
        block = self.message.content[index]
        if isinstance(block, TextContent):
            return self.text_end(index)
        if isinstance(block, ThinkingContent):
            return self.thinking_end(index)
        if isinstance(block, ToolCall):
            return self.toolcall_end(index, block)
        return None

    # Terminal events.

    def done(self, stop_reason: StopReason | None = None) -> Event | None:
        """The single ``done`` event carrying the final message."""
        if self._finished:
            return None
        self._finished = True
        if stop_reason is not None:
            self.message.stop_reason = stop_reason
        return Event("done", message=self.message)

    def fail(
        self, error: BaseException | str, *, stop_reason: StopReason = "error"
    ) -> Event | None:
        """The single ``error`` event; the message keeps its content so far."""
        if self._finished:
            return None
        self._finished = True
        if isinstance(error, AbortedError):
            stop_reason = "aborted"
        text = describe_error(error)
        if self.secrets:
            masked = mask(text, self.secrets)
            if masked != text:
                error, text = _masked(error, masked, self.secrets), masked
        self.message.stop_reason = stop_reason
        self.message.error_message = text
        exc = error if isinstance(error, BaseException) else ProviderError(error)
        if isinstance(exc, ProviderError):
            exc = classify_overflow(exc)
        return Event("error", message=self.message, error=exc)

    def abort(self, reason: str = "the request was aborted") -> Event | None:
        """End with ``stop_reason`` ``aborted``."""
        return self.fail(AbortedError(reason), stop_reason="aborted")


def _masked(
    error: BaseException | str, masked: str, secrets: tuple[str, ...]
) -> BaseException | str:
    """``error`` without the secrets its text quoted. A ProviderError keeps its
    type and fields; any other error becomes a ProviderError with the masked
    text and no cause (the cause would still hold the secret)."""
    if isinstance(error, ProviderError):
        error.message = mask(error.message, secrets)
        error.args = (error.message,)
        return error
    return masked
