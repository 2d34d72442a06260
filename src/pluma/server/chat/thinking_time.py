"""How long the model thought: each reasoning block timed as it streams.

The page titles a stored reasoning block "Thought for 4 s"; the time has to
be measured while the reply streams and kept with the stored message. A
:class:`ThinkingClock` sees every event of one reply on its way to the
client and writes the time from a block's ``thinking_start`` to its
``thinking_end`` into the block (:attr:`pluma.llm.ThinkingContent.duration_ms`,
stored as ``durationMs`` in the message JSON). A block still open when the
reply ends (the client stopped it, the upstream failed) is timed up to then.

The field only labels the block: no protocol adapter sends it upstream.

Cost per event: one string comparison (``thinking_*`` events are a few per
reply, the rest pass straight through).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pluma import llm

Encode = Callable[[llm.Event], list[str]]


class ThinkingClock:
    """Times the reasoning blocks of one reply."""

    __slots__ = ("_now", "_started")

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._started: dict[int, float] = {}  # content index -> start

    def watching(self, encode: Encode) -> Encode:
        """``encode`` that first lets the clock see each event."""

        def timed(event: llm.Event) -> list[str]:
            if event.type.startswith("thinking_"):
                self._see(event)
            return encode(event)

        return timed

    def _see(self, event: llm.Event) -> None:
        if event.type == "thinking_start":
            self._started[event.content_index] = self._now()
        elif event.type == "thinking_end" and event.partial is not None:
            self._stamp(event.partial, event.content_index)

    def _stamp(self, message: llm.AssistantMessage, index: int) -> None:
        started = self._started.pop(index, None)
        if started is None or not 0 <= index < len(message.content):
            return
        block = message.content[index]
        if isinstance(block, llm.ThinkingContent):
            block.duration_ms = round((self._now() - started) * 1000)

    def finish(self, message: llm.AssistantMessage) -> None:
        """Time the blocks still open when the reply ended."""
        for index in list(self._started):
            self._stamp(message, index)
