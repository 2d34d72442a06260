"""Incremental newline-delimited JSON (NDJSON) line splitting over raw bytes.

Ollama's native API streams one JSON object per line. Written here rather
than taken from a library because what is needed is small and hot: split raw
reads into complete lines without decoding them (``orjson`` parses bytes),
keep a line split across reads (even one byte at a time) without re-copying
it on every read, and hand over a last line that lacks its newline.

| input                   | handling                                           |
|-------------------------|----------------------------------------------------|
| ``\\n`` or ``\\r\\n``       | ends a line (a ``\\r`` stays: JSON reads it as space) |
| blank / whitespace line | skipped                                            |
| a line split over reads | held back until its newline arrives                |
| end of input            | a pending last line is handed over (lenient)       |
"""

from __future__ import annotations


class LineDecoder:
    """Feed it bytes as they arrive; it returns the complete, non-blank lines."""

    __slots__ = ("_carry",)

    def __init__(self) -> None:
        self._carry: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        newlines = chunk.count(b"\n")
        if not newlines:
            if chunk:
                self._carry.append(chunk)
            return []
        if self._carry:
            self._carry.append(chunk)
            chunk = b"".join(self._carry)
            self._carry.clear()
        elif newlines == 1 and chunk[-1] == 0x0A:
            # One whole line per read: what a live upstream sends per token.
            return [] if chunk.isspace() else [chunk]
        lines = chunk.split(b"\n")
        rest = lines.pop()
        if rest:
            self._carry.append(rest)
        return [line for line in lines if line and not line.isspace()]

    def flush(self) -> list[bytes]:
        """End of input: the last line if it had no newline."""
        if not self._carry:
            return []
        tail = b"".join(self._carry)
        self._carry.clear()
        return [] if tail.isspace() else [tail]
