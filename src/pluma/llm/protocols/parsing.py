"""What the native stream parsers share: decoding one payload, reading
counts, and the open text or thinking block of a stream whose text and
thinking come one after another (Gemini, Ollama).

In :class:`OpenBlock`, a new kind of piece (thinking after text, or a tool
call) ends the open block and starts the next one; pieces of the same kind
append to it in O(1). ``text`` is the open block when it is text, for a
parser's hot path.
"""

from __future__ import annotations

from typing import Any

import orjson

from pluma.llm.errors import ProviderError
from pluma.llm.events import Event
from pluma.llm.types import TextContent, ThinkingContent
from pluma.llm.writer import StreamWriter


def one(event: Event | None) -> list[Event]:
    """``event`` as a list of events to yield (none once the writer finished)."""
    return [] if event is None else [event]


def count(value: Any) -> int:
    """A token count from the wire: the int, or 0 for anything else."""
    return value if type(value) is int else 0


def decode_object(data: str | bytes, what: str) -> dict[str, Any] | ProviderError:
    """One payload (an SSE ``data:`` or an NDJSON line) as a JSON object, or
    the error to end the stream with, quoting the payload's start."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        value = None
    if type(value) is dict:
        return value
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    return ProviderError(f"the upstream sent a malformed {what}: {text.strip()[:200]!r}")


class OpenBlock:
    """Tracks the one open text/thinking block of ``writer.message``."""

    __slots__ = ("index", "text", "writer")

    def __init__(self, writer: StreamWriter) -> None:
        self.writer = writer
        self.index: int | None = None
        self.text: TextContent | None = None  # the open block, when it is text

    def append(
        self, kind: type[TextContent] | type[ThinkingContent], delta: str, out: list[Event]
    ) -> TextContent | ThinkingContent:
        """Add ``delta`` to the open block of ``kind``, first opening one if the
        open block is of another kind (or none is open); return the block. An
        empty ``delta`` only opens the block."""
        writer = self.writer
        content = writer.message.content
        index = self.index
        block = content[index] if index is not None else None
        if index is None or type(block) is not kind:
            self.close(out)
            index = len(content)
            block = kind()
            content.append(block)
            self.index = index
            self.text = block if isinstance(block, TextContent) else None
            out.extend(
                one(
                    writer.text_start(index)
                    if kind is TextContent
                    else writer.thinking_start(index)
                )
            )
        if isinstance(block, TextContent):
            if delta:
                block.append(delta)
                out.extend(one(writer.text_delta(index, delta)))
            return block
        assert isinstance(block, ThinkingContent)
        if delta:
            block.append(delta)
            out.extend(one(writer.thinking_delta(index, delta)))
        return block

    def close(self, out: list[Event]) -> None:
        """End the open block, if any."""
        index = self.index
        if index is not None:
            self.index = None
            self.text = None
            out.extend(one(self.writer.end_open_block(index)))
