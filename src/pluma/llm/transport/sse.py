"""Incremental Server-Sent Events decoding over raw bytes.

Written here rather than taken from ``httpx-sse`` because we need two things
it does not do: dispatch a last event that lacks its trailing blank line
(many OpenAI-compatible servers end with ``data: [DONE]\\n``), and work on raw
bytes so that lines and UTF-8 characters split across network reads cost
nothing extra and no text is decoded twice. The framing rules follow the
WHATWG ``text/event-stream`` grammar:

| input                          | handling                                        |
|--------------------------------|-------------------------------------------------|
| ``\\n``, ``\\r\\n``, lone ``\\r``    | each ends a line (a ``\\r`` at a read's end waits) |
| blank line                     | dispatches the pending event, if it has data    |
| ``:comment`` / keep-alive       | ignored                                         |
| ``data: x`` (repeated)          | lines joined with ``\\n``; one leading space cut  |
| ``event:``, ``id:``, ``retry:``  | recorded on the pending event                    |
| a field with no colon          | the whole line is the field name, value empty   |
| unknown field                  | ignored                                         |
| end of input                   | the pending event is dispatched (lenient)       |
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ServerSentEvent:
    """One dispatched event. ``event`` is "" when the stream named none."""

    data: str
    event: str = ""
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Feed it bytes as they arrive; it returns the events each read completes."""

    __slots__ = ("_carry", "_data", "_event", "_id", "_retry")

    def __init__(self) -> None:
        self._carry: list[bytes] = []
        self._data: list[bytes] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        if b"\r" in chunk or (self._carry and self._carry[-1].endswith(b"\r")):
            return self._feed_with_cr(chunk)
        if b"\n" not in chunk:
            if chunk:
                self._carry.append(chunk)
            return []
        if self._carry:
            self._carry.append(chunk)
            chunk = b"".join(self._carry)
            self._carry.clear()
        lines = chunk.split(b"\n")
        rest = lines.pop()
        if rest:
            self._carry.append(rest)
        return self._lines(lines)

    def _feed_with_cr(self, chunk: bytes) -> list[ServerSentEvent]:
        if self._carry:
            self._carry.append(chunk)
            chunk = b"".join(self._carry)
            self._carry.clear()
        # A CR at the very end may be the first half of a CRLF: keep it back.
        held = b""
        if chunk.endswith(b"\r"):
            chunk, held = chunk[:-1], b"\r"
        chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = chunk.split(b"\n")
        rest = lines.pop()
        if rest or held:
            self._carry.append(rest + held)
        return self._lines(lines)

    def flush(self) -> list[ServerSentEvent]:
        """End of input: finish the last line and dispatch what is pending."""
        lines: list[bytes] = []
        if self._carry:
            tail = b"".join(self._carry).replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            self._carry.clear()
            lines.extend(tail.split(b"\n"))
        lines.append(b"")
        return self._lines(lines)

    def _lines(self, lines: list[bytes]) -> list[ServerSentEvent]:
        out: list[ServerSentEvent] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    payload = data[0] if len(data) == 1 else b"\n".join(data)
                    out.append(
                        ServerSentEvent(
                            payload.decode("utf-8", "replace"), self._event, self._id, self._retry
                        )
                    )
                    data.clear()
                self._event = ""
                continue
            # Fast path: nearly every line of a stream is ``data: …``, or
            # ``event: …`` for Anthropic. Same result as the general rules below
            # (the field name, then one leading space cut), with fewer tests.
            if line.startswith(b"data: "):
                data.append(line[6:])
                continue
            if line.startswith(b"event: "):
                self._event = line[7:].decode("utf-8", "replace")
                continue
            if line.startswith(b"data:"):
                value = line[5:]
                if value.startswith(b" "):
                    value = value[1:]
                data.append(value)
                continue
            if line[0] == 0x3A:  # ":" comment / keep-alive
                continue
            name, sep, value = line.partition(b":")
            if sep and value.startswith(b" "):
                value = value[1:]
            if name == b"event":
                self._event = value.decode("utf-8", "replace")
            elif name == b"data":  # "data" with no colon: an empty data line
                data.append(b"")
            elif name == b"id":
                if b"\0" not in value:
                    self._id = value.decode("utf-8", "replace")
            elif name == b"retry" and value.isdigit():
                self._retry = int(value)
        return out
