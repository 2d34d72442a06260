"""Typed reads from a decoded JSON body, each failing with a
:class:`RequestError` that names the member's path.

Hand-written rather than a pydantic model because the two client protocols
accept loosely shaped members (a string *or* a list of parts) and the error
must name the exact path in the client's own terms.
"""

from __future__ import annotations

from typing import Any

from pluma.server.chat.codecs.errors import RequestError

_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
}


def describe(value: Any) -> str:
    """How a JSON value reads in an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return _JSON_TYPES.get(type(value), type(value).__name__)


def require_object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RequestError(path, f"expected an object, got {describe(value)}")
    return value


def require_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise RequestError(path, f"expected an array, got {describe(value)}")
    return value


def require_str(body: dict[str, Any], key: str, path: str) -> str:
    if key not in body:
        raise RequestError(path, "is required")
    value = body[key]
    if not isinstance(value, str):
        raise RequestError(path, f"expected a string, got {describe(value)}")
    return value


def opt_str(body: dict[str, Any], key: str, path: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RequestError(path, f"expected a string, got {describe(value)}")
    return value


def opt_bool(body: dict[str, Any], key: str, path: str) -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise RequestError(path, f"expected true or false, got {describe(value)}")
    return value


def opt_number(
    body: dict[str, Any], key: str, path: str, *, low: float, high: float
) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(path, f"expected a number, got {describe(value)}")
    if not low <= value <= high:
        raise RequestError(path, f"must be between {low:g} and {high:g}, got {value}")
    return float(value)


def opt_positive_int(body: dict[str, Any], key: str, path: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(path, f"expected an integer, got {describe(value)}")
    if value <= 0:
        raise RequestError(path, f"must be a positive integer, got {value}")
    return value


def parse_data_url(url: str, path: str) -> tuple[str, str]:
    """``data:<mime>;base64,<data>`` → (mime type, base64 data)."""
    if not url.startswith("data:"):
        raise RequestError(
            path,
            "only inline images are supported: send a data: URL "
            "(data:image/png;base64,...), not a link",
        )
    header, sep, data = url[5:].partition(",")
    mime, _, encoding = header.partition(";")
    if not sep or encoding != "base64" or not mime.startswith("image/") or not data:
        raise RequestError(path, "expected a data URL like data:image/png;base64,<data>")
    return mime, data
