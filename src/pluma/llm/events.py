"""The typed event stream.

A stream is: one ``start``; then, per content block, ``*_start``, any number
of ``*_delta`` and one ``*_end``; then exactly one terminal event, ``done`` or
``error``. Non-terminal events carry ``partial``, the message assembled so far;
terminal events carry ``message``, the final one.

| type            | content_index | delta | content          | tool_call            |
|-----------------|---------------|-------|------------------|----------------------|
| start           |               |       |                  |                      |
| text_start      | yes           |       |                  |                      |
| text_delta      | yes           | text  |                  |                      |
| text_end        | yes           |       | the whole text   |                      |
| thinking_start  | yes           |       |                  |                      |
| thinking_delta  | yes           | text  |                  |                      |
| thinking_end    | yes           |       | the whole text   |                      |
| toolcall_start  | yes           |       |                  | copy (id, name)      |
| toolcall_delta  | yes           | JSON  |                  | live call (read-only)|
| toolcall_end    | yes           |       |                  | final copy           |
| done            |               |       |                  |                      |
| error           |               |       |                  |                      |

``partial`` is the live message, not a copy: reading it costs nothing, and its
growing blocks join their deltas only when read. Copy what you keep past the
next event. ``toolcall_delta`` hands out the live call so its
best-effort-parsed ``arguments`` can be read at any point without per-delta
copying; treat it as read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from pluma.llm.types import AssistantMessage, ToolCall

EventType: TypeAlias = Literal[
    "start",
    "text_start",
    "text_delta",
    "text_end",
    "thinking_start",
    "thinking_delta",
    "thinking_end",
    "toolcall_start",
    "toolcall_delta",
    "toolcall_end",
    "done",
    "error",
]

TERMINAL_TYPES: frozenset[str] = frozenset({"done", "error"})


@dataclass(slots=True)
class Event:
    """One step of a stream; see the module docstring for which fields each type sets."""

    type: EventType
    content_index: int = -1
    delta: str = ""
    content: str | None = None
    tool_call: ToolCall | None = None
    partial: AssistantMessage | None = None
    message: AssistantMessage | None = None
    error: BaseException | None = None

    @property
    def is_terminal(self) -> bool:
        return self.type == "done" or self.type == "error"
