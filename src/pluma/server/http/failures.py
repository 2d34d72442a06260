"""Failures → HTTP status and each client protocol's error body.

Before a stream starts, a failure is an HTTP error; after, the stream encoders
put it inline (``event: error``). Who is at fault picks the status:

| failure                                        | status | kind                   |
|------------------------------------------------|--------|------------------------|
| bad body (:class:`RequestError`)               | 400    | invalid_request_error  |
| body over ``--max-body`` (raised while reading it) | 413 | request_too_large      |
| no key for a remote profile                    | 401    | authentication_error   |
| unknown connection (profile)                   | 404    | not_found_error        |
| ``<prefix>/<model>`` naming no connection and no listed model | 404 | not_found_error (``model_not_found``) |
| no model named, none by default, several offered | 400  | invalid_request_error (``model_required``) |
| no connection configured                       | 409    | invalid_request_error  |
| other caller mistakes                          | 400    | invalid_request_error  |
| upstream refused the connection's key (401 / 403) | same, with ``x-should-retry: false`` | authentication_error / permission_error (``upstream_key_rejected``), naming the connection and ``pluma keys set NAME`` |
| upstream said 404                              | 404    | not_found_error, naming the URL tried (and suggesting ``/v1`` added or removed) |
| upstream said 400 / 413 / 422 (the request or model is wrong) | same | invalid_request_error |
| upstream said 429                              | 429    | rate_limit_error (its ``Retry-After`` passed on) |
| any other upstream failure (refused, 5xx, cut, timeout) | 502 | api_error (upstream) |
| the secret store cannot be read                | 503    | api_error              |
| a server fault (logged with its traceback)     | 500    | api_error              |

Messages carry the upstream's own words and status where there were any; keys
never appear (providers never put them in errors). A 401 or 403 is never
retried by the official SDKs, so a rejected key costs one upstream call, not
three; the status is the upstream's, so a client tells "Pluma refused me"
from "the upstream refused Pluma's key" by the message and code only.
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
from pluma.server.chat.codecs.errors import RequestError

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
    final: bool = False
    """Retrying cannot help (``x-should-retry: false``, which both official
    SDKs obey)."""

    def __str__(self) -> str:
        return self.message

    def headers(self) -> dict[str, str]:
        """Response headers that go with the error body."""
        headers = {"x-should-retry": "false"} if self.final else {}
        if self.retry_after is not None:
            headers["retry-after"] = str(max(0, math.ceil(self.retry_after)))
        return headers

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
    from pluma.server.chat.providers.adapted import NoAPIKeyError
    from pluma.server.chat.routing import ModelRequired, UnknownModelPrefix
    from pluma.server.profiles.connections import NoConnection, ProfileNotFound
    from pluma.server.storage.conversations import ConversationStoreError
    from pluma.server.storage.secrets import SecretStoreError

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
    if isinstance(error, UnknownModelPrefix):
        return Failure(404, "not_found_error", "model_not_found", str(error))
    if isinstance(error, ModelRequired):
        return Failure(400, "invalid_request_error", "model_required", str(error))
    if isinstance(error, llm.ProviderError):
        status = error.status
        if status in (401, 403, 404):
            return _upstream_refusal(error, status)
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


def _upstream_refusal(error: llm.ProviderError, status: int) -> Failure:
    """An upstream 401 / 403 (the key) or 404 (the URL or the model), told
    with the connection and URL the request was routed to."""
    from pluma.server.chat.routing import routed
    from pluma.server.profiles.upstream import base_url_hint

    where = routed.get()
    words = error.message
    if status in (401, 403):
        name = where.connection if where is not None else None
        subject = f"connection {name!r}" if name else "the connection"
        fix = (
            f"set the right key with `pluma keys set {name}` or in Settings → Connections"
            if name
            else "set the connection's key with `pluma keys set NAME` or in Settings → Connections"
        )
        return Failure(
            status,
            "authentication_error" if status == 401 else "permission_error",
            "upstream_key_rejected",
            f"the upstream of {subject} refused its API key (HTTP {status}: {words}); {fix}",
            final=True,
        )
    if where is None or not where.chat_url:
        return Failure(404, "not_found_error", "upstream_404", f"upstream: {error}")
    # The transport may already have named the URL (" — POST … was not found").
    tried = "" if where.chat_url in words else f" from POST {where.chat_url}"
    message = f"upstream: {words} (HTTP 404{tried})"
    if not _names_the_model(error):
        hint = base_url_hint(where.compat, where.upstream)
        message += f"; {hint}" if hint else ""
    return Failure(404, "not_found_error", "upstream_404", message)


def _names_the_model(error: llm.ProviderError) -> bool:
    """The 404 is about the model (OpenAI's ``model_not_found``, Anthropic's
    ``model: …``), not the path: no base-URL advice then."""
    own_words = error.message.split(" — ", 1)[0]  # before the transport's own note
    return "model" in f"{error.code or ''} {own_words}".lower()
