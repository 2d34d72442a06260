"""Error bodies in the caller's own protocol.

| path                  | shape                                                            |
|-----------------------|------------------------------------------------------------------|
| ``/v1/messages…``     | Anthropic: ``{"type": "error", "error": {"type", "message"}}``   |
| everything else       | OpenAI: ``{"error": {"message", "type", "code", "param"}}``      |

Both official SDKs surface ``error.message`` to the user, so every message
says what happened and what to do.
"""

from __future__ import annotations

from typing import Any

# HTTP status → (OpenAI-style type, Anthropic type)
_TYPES: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "invalid_request_error"),
    401: ("authentication_error", "authentication_error"),
    403: ("permission_error", "permission_error"),
    404: ("not_found_error", "not_found_error"),
    409: ("invalid_request_error", "invalid_request_error"),
    413: ("request_too_large", "request_too_large"),
    422: ("invalid_request_error", "invalid_request_error"),
    429: ("rate_limit_error", "rate_limit_error"),
    502: ("upstream_error", "api_error"),
    503: ("overloaded_error", "overloaded_error"),
}


def is_anthropic_path(path: str) -> bool:
    return path == "/v1/messages" or path.startswith("/v1/messages/")


def error_body(
    path: str,
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    openai_type, anthropic_type = _TYPES.get(
        status,
        ("invalid_request_error", "invalid_request_error")
        if status < 500
        else ("server_error", "api_error"),
    )
    if is_anthropic_path(path):
        return {"type": "error", "error": {"type": anthropic_type, "message": message}}
    return {
        "error": {
            "message": message,
            "type": openai_type,
            "code": code or str(status),
            "param": param,
        }
    }
