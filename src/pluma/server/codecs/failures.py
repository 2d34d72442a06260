"""Failures → HTTP status and each client protocol's error body.

Before a stream starts, a failure is an HTTP error; after, the stream encoders
put it inline (``event: error``). Who is at fault picks the status:

| failure                                        | status | kind                   |
|------------------------------------------------|--------|------------------------|
| bad body (:class:`RequestError`)               | 400    | invalid_request_error  |
| body over ``--max-body`` (raised while reading it) | 413 | request_too_large      |
| no key for a remote profile                    | 401    | authentication_error   |
| unknown connection (profile)                   | 404    | not_found_error        |
| no connection configured                       | 409    | invalid_request_error  |
| other caller mistakes                          | 400    | invalid_request_error  |
| upstream said 400 / 404 / 413 / 422 (the request or model is wrong) | same | invalid_request_error / not_found_error |
| upstream said 429                              | 429    | rate_limit_error (its ``Retry-After`` passed on) |
| any other upstream failure (refused, 401, 5xx, cut, timeout) | 502 | api_error (upstream) |
| the secret store cannot be read                | 503    | api_error              |
| a server fault (logged with its traceback)     | 500    | api_error              |

Messages carry the upstream's own words and status where there were any; keys
never appear (providers never put them in errors).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from pluma import llm
from pluma.server.codecs.errors import RequestError

log = logging.getLogger("pluma.server.chat")

_PASSED_THROUGH = {400: "invalid_request_error", 404: "not_found_error",
                   413: "invalid_request_error", 422: "invalid_request_error",
                   429: "rate_limit_error"}  # fmt: skip


@dataclass(slots=True)
class Failure(Exception):
    status: int
    kind: str
    code: str
    message: str
    retry_after: float | None = None
    """Seconds the upstream asked to wait (a 429's ``Retry-After``), passed on
    so the client's own retry logic honours it."""

    def __str__(self) -> str:
        return self.message

    def headers(self) -> dict[str, str]:
        """Response headers that go with the error body."""
        if self.retry_after is None:
            return {}
        return {"retry-after": str(max(0, math.ceil(self.retry_after)))}

    def openai_body(self) -> dict[str, Any]:
        return {
            "error": {"message": self.message, "type": self.kind, "code": self.code, "param": None}
        }

    def anthropic_body(self) -> dict[str, Any]:
        return {"type": "error", "error": {"type": self.kind, "message": self.message}}


def error_response(error: BaseException, body: Callable[[Failure], dict[str, Any]]) -> JSONResponse:
    """The HTTP error answering ``error``, its body in the client's protocol
    (``Failure.openai_body`` or ``Failure.anthropic_body``)."""
    failure = failure_for(error)
    return JSONResponse(body(failure), status_code=failure.status, headers=failure.headers())


def failure_for(error: BaseException) -> Failure:
    """Classify anything raised or reported before the first byte went out."""
    from pluma.server.connections import NoConnection, ProfileNotFound
    from pluma.server.conversations import ConversationStoreError
    from pluma.server.providers.adapted import NoAPIKeyError
    from pluma.server.secrets import SecretStoreError

    if isinstance(error, Failure):
        return error
    if isinstance(error, RequestError):
        return Failure(400, "invalid_request_error", "invalid_request", str(error))
    if isinstance(error, HTTPException) and error.status_code < 500:
        # The security middleware's body limit, hit while the route reads a chunked body.
        kind = "request_too_large" if error.status_code == 413 else "invalid_request_error"
        return Failure(error.status_code, kind, kind, str(error.detail))
    if isinstance(error, NoAPIKeyError):
        return Failure(401, "authentication_error", "no_api_key", str(error))
    if isinstance(error, ProfileNotFound):
        return Failure(404, "not_found_error", "unknown_connection", str(error))
    if isinstance(error, NoConnection):
        return Failure(409, "invalid_request_error", "no_connection", str(error))
    if isinstance(error, llm.ProviderError):
        status = error.status
        if status in _PASSED_THROUGH:
            assert status is not None
            return Failure(
                status,
                _PASSED_THROUGH[status],
                f"upstream_{status}",
                f"upstream: {error}",
                retry_after=error.retry_after if status == 429 else None,
            )
        code = "upstream_timeout" if isinstance(error, llm.UpstreamTimeout) else "upstream_error"
        return Failure(502, "api_error", code, f"upstream: {error}")
    if isinstance(error, llm.ConfigurationError | ValueError):
        return Failure(400, "invalid_request_error", "invalid_request", str(error))
    if isinstance(error, llm.AbortedError):
        return Failure(499, "api_error", "aborted", str(error))
    if isinstance(error, SecretStoreError):
        return Failure(503, "api_error", "secret_store_unavailable", str(error))
    if isinstance(error, ConversationStoreError):
        return Failure(503, "api_error", "conversations_unavailable", str(error))
    log.error("chat request failed inside the server", exc_info=error)
    return Failure(
        500,
        "api_error",
        "internal_error",
        f"internal error ({type(error).__name__}: {error}); the server log has the details",
    )


def failure_from_event(event: llm.Event) -> Failure:
    """The failure a terminal error event reports."""
    if event.error is not None:
        return failure_for(event.error)
    text = (event.message.error_message if event.message else None) or "the upstream failed"
    return Failure(502, "api_error", "upstream_error", f"upstream: {text}")
