"""Tool-argument parsing with incomplete-JSON recovery.

Models stream tool arguments as JSON text in fragments, and streams get cut.
The final parse reports how the arguments were obtained:

| mode       | meaning                                                        |
|------------|----------------------------------------------------------------|
| strict     | the text is a valid JSON object                                |
| repaired   | valid after fixing a common defect: code fences around it,     |
|            | trailing commas, raw control characters inside strings, or a   |
|            | Python dict literal (single quotes, True/False/None)           |
| partial    | the text was cut short; the complete prefix is kept            |
| invalid    | nothing usable; arguments are ``{}``                           |

Partial parsing uses pydantic-core's ``from_json(allow_partial=...)`` (a
Rust parser we already depend on through pydantic) rather than a hand-written
one.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import orjson
import pydantic_core

ParseMode: TypeAlias = Literal["strict", "repaired", "partial", "invalid"]

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


@dataclass(slots=True)
class ParsedArguments:
    arguments: dict[str, Any]
    mode: ParseMode


def _as_object(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _escape_controls_in_strings(text: str) -> str:
    out: list[str] = []
    in_string = False
    escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            elif ch < " ":
                out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch, f"\\u{ord(ch):04x}"))
                continue
        elif ch == '"':
            in_string = True
        out.append(ch)
    return "".join(out)


def _python_literal(text: str) -> dict[str, Any] | None:
    """A Python dict literal (``{'city': 'Paris', 'ok': True}``), as some
    local models write, read safely with ``ast.literal_eval`` (literals only,
    never code) and accepted if it is a JSON-compatible object."""
    if len(text) > 100_000 or "{" not in text:
        return None
    try:
        value = ast.literal_eval(text.strip())
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            return None
        orjson.dumps(value)  # JSON-compatible (no sets, tuples as keys, bytes…)
    except (
        ValueError,
        TypeError,
        SyntaxError,
        MemoryError,
        RecursionError,
        orjson.JSONEncodeError,
    ):
        return None
    return value


def parse_tool_arguments(text: str) -> ParsedArguments:
    """The final parse of a complete (or cut) argument text."""
    if not text.strip():
        return ParsedArguments({}, "strict")
    try:
        value = _as_object(orjson.loads(text))
        if value is not None:
            return ParsedArguments(value, "strict")
    except orjson.JSONDecodeError:
        pass
    repaired = text
    fence = _FENCE.match(repaired)
    if fence:
        repaired = fence.group(1)
    repaired = _TRAILING_COMMA.sub(r"\1", _escape_controls_in_strings(repaired))
    try:
        value = _as_object(orjson.loads(repaired))
        if value is not None:
            return ParsedArguments(value, "repaired")
    except orjson.JSONDecodeError:
        pass
    value = _python_literal(repaired)
    if value is not None:
        return ParsedArguments(value, "repaired")
    try:
        value = _as_object(pydantic_core.from_json(repaired, allow_partial="trailing-strings"))
        if value is not None:
            return ParsedArguments(value, "partial")
    except ValueError:
        pass
    return ParsedArguments({}, "invalid")


def parse_partial_arguments(text: str) -> dict[str, Any]:
    """Best-effort arguments from a prefix of the JSON text (for live display
    while a call streams). Never raises."""
    if not text:
        return {}
    try:
        value = pydantic_core.from_json(text, allow_partial="trailing-strings")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
