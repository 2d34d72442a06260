"""Generation settings: the sampling controls a conversation (or a
connection, as defaults for new conversations) remembers.

One small JSON object, stored as it is in the conversation record and in the
connection profile; the chat relay puts its values on the neutral
:class:`~pluma.server.chat.providers.base.ChatRequest` fields the protocol
adapters already map (``temperature``, ``max_tokens``, ``top_p``, ``stop``,
``reasoning``).

| key           | value                                  | on ``ChatRequest`` |
|---------------|----------------------------------------|--------------------|
| ``temperature`` | number, 0 to 2                        | ``temperature``    |
| ``max_tokens``  | integer, 1 or more                    | ``max_tokens``     |
| ``top_p``       | number, 0 to 1                        | ``top_p``          |
| ``stop``        | up to 4 non-empty strings             | ``stop``           |
| ``reasoning``   | off, minimal, low, medium, high, xhigh | ``reasoning``     |

A key left out (or null) leaves the upstream's own default. Why checked
here rather than by a pydantic model: the page needs a 400 whose message
names the field and the allowed range, the same wording for a conversation
and for a connection profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from pluma import llm
from pluma.server.errors import InvalidRequest

KEYS = ("temperature", "max_tokens", "top_p", "stop", "reasoning")
MAX_STOP = 4
"""OpenAI's limit, the strictest of the protocols that take stop sequences."""
MAX_STOP_LENGTH = 200
REASONING = tuple(get_args(llm.ReasoningLevel))


def _number(value: Any, path: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"{path} must be a number from {low:g} to {high:g}", param=path)
    if not low <= value <= high:
        raise InvalidRequest(f"{path} must be from {low:g} to {high:g}, got {value:g}", param=path)
    return float(value)


def check_generation(value: Any, where: str = "settings") -> dict[str, Any]:
    """The settings, checked and normalized (nulls dropped); raises
    :class:`InvalidRequest` (a 400 naming the field) for a bad value."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidRequest(f"{where} must be an object of {', '.join(KEYS)}", param=where)
    out: dict[str, Any] = {}
    for key, item in value.items():
        path = f"{where}.{key}"
        if key not in KEYS:
            raise InvalidRequest(f"{path} is unknown; use {', '.join(KEYS)}", param=path)
        if item is None:
            continue
        if key == "temperature":
            out[key] = _number(item, path, 0, 2)
        elif key == "top_p":
            out[key] = _number(item, path, 0, 1)
        elif key == "max_tokens":
            if isinstance(item, bool) or not isinstance(item, int) or item < 1:
                raise InvalidRequest(f"{path} must be a whole number of 1 or more", param=path)
            out[key] = item
        elif key == "stop":
            out[key] = _stop(item, path)
        elif key == "reasoning":
            if item not in REASONING:
                raise InvalidRequest(
                    f"{path} must be one of {', '.join(REASONING)}, got {item!r}", param=path
                )
            out[key] = item
    return out


def _stop(value: Any, path: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise InvalidRequest(f"{path} must be a list of strings", param=path)
    if len(items) > MAX_STOP:
        raise InvalidRequest(
            f"{path} takes at most {MAX_STOP} sequences, got {len(items)}", param=path
        )
    for item in items:
        if not isinstance(item, str) or not item:
            raise InvalidRequest(f"{path} must hold non-empty strings", param=path)
        if len(item) > MAX_STOP_LENGTH:
            raise InvalidRequest(
                f"{path}: a stop sequence is at most {MAX_STOP_LENGTH} characters", param=path
            )
    return list(items)


def apply_generation(request: Any, settings: Mapping[str, Any]) -> None:
    """Put ``settings`` on a ``ChatRequest`` wherever the request itself left
    the field unset (a value in the request body wins)."""
    for key in KEYS:
        value = settings.get(key)
        if value is not None and getattr(request, key) is None:
            setattr(request, key, list(value) if key == "stop" else value)
