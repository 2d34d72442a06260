"""The provider-neutral vocabulary: content blocks, messages, usage, models, context.

Every protocol adapter converts its wire format to and from these types, and
every server edge codec encodes events built from them. Nothing here knows any
vendor's wire format.

Streaming cost must stay linear in the length of a message, so the blocks that
grow during a stream (text, thinking) keep their deltas in a list and join them
only when ``text``/``thinking`` is read; appending a delta is O(1) whatever the
length of the block so far. Tool calls keep their raw argument text the same
way and parse it lazily (see :mod:`pluma.llm.toolargs`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

StopReason: TypeAlias = Literal["stop", "length", "toolUse", "error", "aborted"]
"""Why a message ended. ``toolUse``: the model wants tool results before going on."""

ReasoningLevel: TypeAlias = Literal["off", "minimal", "low", "medium", "high", "xhigh"]
Modality: TypeAlias = Literal["text", "image"]


class _GrowingText:
    """A string built from deltas without quadratic re-copying.

    ``append`` is O(1); reading the value joins pending deltas once and caches
    the result, so a reader who looks only at the end pays one join in total.
    """

    __slots__ = ("_parts", "_value")

    def __init__(self, value: str = "") -> None:
        self._value = value
        self._parts: list[str] = []

    def append(self, delta: str) -> None:
        self._parts.append(delta)

    def get(self) -> str:
        if self._parts:
            self._parts.insert(0, self._value)
            self._value = "".join(self._parts)
            self._parts.clear()
        return self._value

    def set(self, value: str) -> None:
        self._value = value
        self._parts.clear()


class TextContent:
    """A block of visible text. ``text_signature`` is an opaque replay token some
    protocols attach to text (kept so history can be sent back unchanged)."""

    __slots__ = ("_text", "text_signature")
    type: Literal["text"] = "text"

    def __init__(self, text: str = "", text_signature: str | None = None) -> None:
        self._text = _GrowingText(text)
        self.text_signature = text_signature

    @property
    def text(self) -> str:
        return self._text.get()

    @text.setter
    def text(self, value: str) -> None:
        self._text.set(value)

    def append(self, delta: str) -> None:
        """Add a streamed delta in O(1)."""
        self._text.append(delta)

    def appender(self) -> Callable[[str], None]:
        """A function that does what :meth:`append` does, for a parser's hot
        loop: it skips two Python calls per delta. Valid for the block's life."""
        return self._text._parts.append

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, TextContent)
            and self.text == other.text
            and self.text_signature == other.text_signature
        )

    def __repr__(self) -> str:
        return f"TextContent(text={self.text!r})"


class ThinkingContent:
    """Model reasoning. ``signature`` must be replayed verbatim to protocols that
    verify it (Anthropic); ``redacted`` blocks carry only an encrypted payload in
    ``signature`` and no readable text.

    ``duration_ms``: how long the model spent on this block, when whoever
    watched the stream measured it (the chat server does, for its page). It
    describes the block rather than being part of it: no protocol sends it
    upstream and equality ignores it."""

    __slots__ = ("_thinking", "duration_ms", "redacted", "signature")
    type: Literal["thinking"] = "thinking"

    def __init__(
        self,
        thinking: str = "",
        signature: str | None = None,
        redacted: bool = False,
        duration_ms: int | None = None,
    ) -> None:
        self._thinking = _GrowingText(thinking)
        self.signature = signature
        self.redacted = redacted
        self.duration_ms = duration_ms

    @property
    def thinking(self) -> str:
        return self._thinking.get()

    @thinking.setter
    def thinking(self, value: str) -> None:
        self._thinking.set(value)

    def append(self, delta: str) -> None:
        """Add a streamed delta in O(1)."""
        self._thinking.append(delta)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ThinkingContent)
            and self.thinking == other.thinking
            and self.signature == other.signature
            and self.redacted == other.redacted
        )

    def __repr__(self) -> str:
        return f"ThinkingContent(thinking={self.thinking!r}, redacted={self.redacted})"


@dataclass(slots=True)
class ImageContent:
    """An inline image: base64 ``data`` with its MIME type."""

    data: str
    mime_type: str
    type: Literal["image"] = "image"


class ToolCall:
    """A tool invocation requested by the model.

    While a call streams, adapters feed raw argument text with
    :meth:`append_arguments`; ``arguments`` then parses it lazily (best effort,
    cached until more text arrives), so per-delta cost does not grow with the
    size of the arguments. :meth:`finish_arguments` does the final parse with
    incomplete-JSON recovery and returns the recovery mode.
    """

    __slots__ = ("_arguments", "_parsed_len", "_raw", "id", "name", "thought_signature")
    type: Literal["toolCall"] = "toolCall"

    def __init__(
        self,
        id: str,
        name: str,
        arguments: dict[str, Any] | None = None,
        thought_signature: str | None = None,
    ) -> None:
        self.id = id
        self.name = name
        self.thought_signature = thought_signature
        self._arguments: dict[str, Any] = arguments if arguments is not None else {}
        self._raw: _GrowingText | None = None
        self._parsed_len = 0

    @property
    def arguments(self) -> dict[str, Any]:
        raw = self._raw
        if raw is not None:
            text = raw.get()
            if len(text) != self._parsed_len:
                from pluma.llm.toolargs import parse_partial_arguments

                self._arguments = parse_partial_arguments(text)
                self._parsed_len = len(text)
        return self._arguments

    @arguments.setter
    def arguments(self, value: dict[str, Any]) -> None:
        self._arguments = value
        self._raw = None

    @property
    def raw_arguments(self) -> str | None:
        """The argument text streamed so far, or None when arguments came whole."""
        return None if self._raw is None else self._raw.get()

    def append_arguments(self, delta: str) -> None:
        """Add a streamed fragment of the JSON argument text in O(1)."""
        if self._raw is None:
            self._raw = _GrowingText()
        self._raw.append(delta)

    def finish_arguments(self) -> str:
        """Parse the complete argument text and freeze the result.

        Returns the recovery mode (``strict``, ``repaired``, ``partial`` or
        ``invalid``); anything but ``strict`` is worth a diagnostic.
        """
        if self._raw is None:
            return "strict"
        from pluma.llm.toolargs import parse_tool_arguments

        parsed = parse_tool_arguments(self._raw.get())
        self._arguments = parsed.arguments
        self._raw = None
        return parsed.mode

    def copy(self) -> ToolCall:
        """A deep copy (the seed's CloneToolCall): events hand these out so a
        consumer that mutates one cannot corrupt the message being assembled."""
        import copy

        return ToolCall(self.id, self.name, copy.deepcopy(self.arguments), self.thought_signature)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ToolCall)
            and self.id == other.id
            and self.name == other.name
            and self.arguments == other.arguments
            and self.thought_signature == other.thought_signature
        )

    def __repr__(self) -> str:
        return f"ToolCall(id={self.id!r}, name={self.name!r}, arguments={self.arguments!r})"


AssistantContent: TypeAlias = TextContent | ThinkingContent | ToolCall
UserContent: TypeAlias = TextContent | ImageContent
ContentBlock: TypeAlias = TextContent | ThinkingContent | ImageContent | ToolCall


@dataclass(slots=True)
class Cost:
    """Money spent, in US dollars, split like :class:`Usage`."""

    input: float = 0.0
    output: float = 0.0
    cache_read: float = 0.0
    cache_write: float = 0.0

    @property
    def total(self) -> float:
        return self.input + self.output + self.cache_read + self.cache_write


@dataclass(slots=True)
class Usage:
    """Token counts of one response.

    ``input`` excludes cached tokens: ``cache_read`` and ``cache_write`` are
    counted apart so cost can price each at its own rate. ``total`` is the sum
    of all four.
    """

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    cost: Cost = field(default_factory=Cost)

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_write


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class UserMessage:
    """What the user said: a plain string or text/image blocks."""

    content: str | list[UserContent]
    timestamp: int = field(default_factory=_now_ms)
    role: Literal["user"] = "user"


@dataclass(slots=True)
class Diagnostic:
    """Something an adapter recovered from while assembling a message (for
    example tool arguments that needed repair). Kept on the message so callers
    can log or surface it."""

    kind: str
    message: str
    content_index: int | None = None


@dataclass(slots=True)
class AssistantMessage:
    """The model's reply, as assembled from a stream.

    During a stream this object is the live ``partial``; after the terminal
    event it is final. ``error_message`` is set when ``stop_reason`` is
    ``error`` or ``aborted``.
    """

    content: list[AssistantContent] = field(default_factory=list)
    protocol: str = ""
    provider: str = ""
    model: str = ""
    usage: Usage = field(default_factory=Usage)
    stop_reason: StopReason = "stop"
    error_message: str | None = None
    response_id: str | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    timestamp: int = field(default_factory=_now_ms)
    role: Literal["assistant"] = "assistant"
    stop_sequence: str | None = None
    """The stop sequence that ended the reply (``stop_reason`` is then ``stop``),
    when the upstream says which one matched."""

    @property
    def text(self) -> str:
        """All visible text blocks joined (a convenience for simple callers)."""
        return "".join(b.text for b in self.content if isinstance(b, TextContent))

    @property
    def thinking(self) -> str:
        return "".join(
            b.thinking for b in self.content if isinstance(b, ThinkingContent) and not b.redacted
        )

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [b for b in self.content if isinstance(b, ToolCall)]


@dataclass(slots=True, frozen=True)
class ResponseFormat:
    """The shape the reply must take.

    ``text`` is the default (no constraint); ``json_object`` asks for any JSON
    object; ``json_schema`` asks for JSON matching ``schema`` (named ``name``,
    enforced exactly when ``strict``). A protocol without an equivalent refuses
    the call before any byte leaves, unless its adapter documents a faithful
    emulation.
    """

    type: Literal["text", "json_object", "json_schema"] = "text"
    schema: dict[str, Any] | None = None
    name: str | None = None
    description: str | None = None
    strict: bool | None = None


@dataclass(slots=True)
class ToolResultMessage:
    """The result of running a tool, answering the call with ``tool_call_id``."""

    tool_call_id: str
    tool_name: str
    content: list[UserContent]
    is_error: bool = False
    timestamp: int = field(default_factory=_now_ms)
    role: Literal["toolResult"] = "toolResult"


Message: TypeAlias = UserMessage | AssistantMessage | ToolResultMessage


@dataclass(slots=True)
class Tool:
    """A function the model may call; ``parameters`` is a JSON Schema object.

    Build one from a pydantic model with :func:`pluma.llm.tool_from_model`.
    """

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(slots=True)
class Context:
    """Everything sent to the model: system prompt, history and tools."""

    messages: list[Message] = field(default_factory=list)
    system_prompt: str | None = None
    tools: list[Tool] = field(default_factory=list)


@dataclass(slots=True)
class ModelCost:
    """Prices in US dollars per million tokens."""

    input: float = 0.0
    output: float = 0.0
    cache_read: float = 0.0
    cache_write: float = 0.0


@dataclass(slots=True)
class Model:
    """A model at an endpoint, and how to talk to it.

    ``protocol`` picks the adapter from the registry. ``compat`` overrides the
    vendor quirks an adapter would otherwise detect from ``base_url`` and
    ``provider`` (see each adapter's compat table). ``headers`` may carry
    credentials, so ``repr`` leaves them out.
    """

    id: str
    provider: str
    protocol: str
    base_url: str = ""
    name: str = ""
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    reasoning: bool = False
    input: list[Modality] = field(default_factory=lambda: ["text"])
    context_window: int = 128_000
    max_tokens: int = 4096
    cost: ModelCost = field(default_factory=ModelCost)
    compat: dict[str, Any] = field(default_factory=dict)


def calculate_cost(model: Model, usage: Usage) -> Cost:
    """Price ``usage`` at ``model``'s rates, store it on ``usage`` and return it."""
    rates = model.cost
    usage.cost = Cost(
        input=usage.input * rates.input / 1_000_000,
        output=usage.output * rates.output / 1_000_000,
        cache_read=usage.cache_read * rates.cache_read / 1_000_000,
        cache_write=usage.cache_write * rates.cache_write / 1_000_000,
    )
    return usage.cost
