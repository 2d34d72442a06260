"""The server's one error model.

Every failure the server answers with is a :class:`PlumaError`: the HTTP
``status``, the ``kind`` (the error type both OpenAI and Anthropic clients
read) and a stable ``code`` are class attributes of each subclass, declared
beside the code that raises it (``ProfileNotFound`` in ``profiles``,
``SecretStoreError`` in ``storage``, ``RequestError`` in the codecs, …).
``str(error)`` is the message for the user: what happened and what to do.

:mod:`pluma.server.http.errors` is the one renderer: it turns any exception
into a :class:`PlumaError` (:func:`~pluma.server.http.errors.as_error`) and
writes it in the shape the client speaks. Nothing else builds an error body.

| kind                    | status                                          |
|-------------------------|-------------------------------------------------|
| ``invalid_request_error`` | 400, 409, 422: the caller can fix the request |
| ``authentication_error``  | 401                                           |
| ``permission_error``      | 403                                           |
| ``not_found_error``       | 404                                           |
| ``request_too_large``     | 413                                           |
| ``rate_limit_error``      | 429                                           |
| ``api_error``             | 5xx and 499: the server or the upstream failed |
| ``overloaded_error``, ``timeout_error`` | 502: the upstream was overloaded or too slow |

The kinds are the ones Anthropic publishes; OpenAI's SDK reads ``type``
without checking it against a list, so one set serves both.

:func:`as_error` is where exceptions that are not a :class:`PlumaError` are
classified (the library's, Starlette's, and anything unexpected); the CLI
uses it too, so a terminal shows the message a client would get:

| raised                                         | becomes                                      |
|------------------------------------------------|----------------------------------------------|
| :class:`PlumaError`                            | itself                                       |
| Starlette ``HTTPException`` (e.g. the 413 of ``--max-body`` while a route reads the body) | :class:`HTTPError` with its status |
| ``llm.ProviderError`` 401 / 403               | the same status, ``upstream_key_rejected``, final, naming the connection and ``pluma keys set NAME`` |
| ``llm.ProviderError`` 404                      | 404 ``upstream_404``, naming the URL tried (and a base-URL hint unless the model is at fault) |
| other ``llm.ProviderError``                    | :class:`UpstreamError` (its status passed on where the caller is at fault, else 502) |
| ``llm.AbortedError``                           | :class:`ClientClosed` (499)                  |
| ``llm.ConfigurationError``, ``ValueError``     | :class:`InvalidRequest` (400)                |
| anything else                                  | :class:`InternalError` (500), logged with its traceback |
"""

from __future__ import annotations

import logging
import math

from starlette.exceptions import HTTPException

from pluma import llm

log = logging.getLogger("pluma.server.errors")

KINDS: dict[int, str] = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
}


def kind_for(status: int) -> str:
    """The kind for a status decided elsewhere (an upstream's answer,
    Starlette's ``HTTPException``)."""
    return KINDS.get(status) or ("invalid_request_error" if status < 500 else "api_error")


class PlumaError(Exception):
    """Base of every error the server answers with (see the module docstring).

    Subclasses set ``status``, ``kind`` and ``code``; an instance may override
    them when the value is only known at run time (an upstream's status).
    """

    status: int = 500
    kind: str = "api_error"
    code: str = "internal_error"
    param: str | None = None
    """The request field at fault, when one is (OpenAI's ``param``)."""
    retry_after: float | None = None
    """Seconds the client should wait (an upstream 429's ``Retry-After``)."""
    final: bool = False
    """Retrying cannot help (``x-should-retry: false``, which both official
    SDKs obey), e.g. the upstream refused the connection's key."""

    def headers(self) -> dict[str, str]:
        """Response headers that go with the error body."""
        headers = {"x-should-retry": "false"} if self.final else {}
        if self.retry_after is not None:
            headers["retry-after"] = str(max(0, math.ceil(self.retry_after)))
        return headers


class HTTPError(PlumaError):
    """An error whose status is decided where it is raised: the security
    checks, Starlette's ``HTTPException``, a route's own 4xx."""

    def __init__(self, status: int, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind_for(status)
        self.code = code or self.kind


class InvalidRequest(PlumaError, ValueError):
    """The request cannot be served as sent; ``param`` names the field when
    one is at fault."""

    status = 400
    kind = "invalid_request_error"
    code = "invalid_request"

    def __init__(self, message: str, *, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.param = param
        self.status = status


class UpstreamError(PlumaError):
    """The upstream failed. Its 400/404/413/422/429 pass through (the request
    or model is wrong, or the caller must slow down: the client's own SDK
    should see that status); anything else is a 502."""

    status = 502
    kind = "api_error"
    code = "upstream_error"
    PASSED_THROUGH = frozenset({400, 404, 413, 422, 429})

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        timeout: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        if status in self.PASSED_THROUGH:
            assert status is not None
            self.status = status
            self.kind = kind_for(status)
            self.code = f"upstream_{status}"
            self.retry_after = retry_after if status == 429 else None
        elif timeout:
            self.kind = "timeout_error"
            self.code = "upstream_timeout"
        elif status in (503, 529):
            self.kind = "overloaded_error"


class ClientClosed(PlumaError):
    """The client went away (or aborted) before the answer was complete."""

    status = 499
    kind = "api_error"
    code = "aborted"


class InternalError(PlumaError):
    """A server fault: the message names the exception; the log has the
    traceback."""

    status = 500
    kind = "api_error"
    code = "internal_error"


def as_error(error: BaseException) -> PlumaError:
    """Classify anything raised or reported (see the module table)."""
    if isinstance(error, PlumaError):
        return error
    if isinstance(error, HTTPException):
        detail = error.detail if isinstance(error.detail, str) else str(error.detail)
        return HTTPError(error.status_code, detail)
    if isinstance(error, llm.ProviderError):
        if error.status in (401, 403, 404):
            return _upstream_refusal(error, error.status)
        return UpstreamError(
            f"upstream: {error}",
            status=error.status,
            timeout=isinstance(error, llm.UpstreamTimeout),
            retry_after=error.retry_after,
        )
    if isinstance(error, llm.AbortedError):
        return ClientClosed(str(error))
    if isinstance(error, llm.ConfigurationError | ValueError):
        return InvalidRequest(str(error))
    log.error("request failed inside the server", exc_info=error)
    return InternalError(
        f"internal error ({type(error).__name__}: {error}); the server log has the details"
    )


def error_for_event(event: llm.Event) -> PlumaError:
    """The error a terminal ``error`` event reports."""
    if event.error is not None:
        return as_error(event.error)
    text = (event.message.error_message if event.message else None) or "the upstream failed"
    return UpstreamError(f"upstream: {text}")


def _upstream_refusal(error: llm.ProviderError, status: int) -> PlumaError:
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
        refused = HTTPError(
            status,
            f"the upstream of {subject} refused its API key (HTTP {status}: {words}); {fix}",
            code="upstream_key_rejected",
        )
        refused.final = True
        return refused
    if where is None or not where.chat_url:
        return HTTPError(404, f"upstream: {error}", code="upstream_404")
    # The transport may already have named the URL (" — POST … was not found").
    tried = "" if where.chat_url in words else f" from POST {where.chat_url}"
    message = f"upstream: {words} (HTTP 404{tried})"
    if not _names_the_model(error):
        hint = base_url_hint(where.compat, where.upstream)
        message += f"; {hint}" if hint else ""
    return HTTPError(404, message, code="upstream_404")


def _names_the_model(error: llm.ProviderError) -> bool:
    """The 404 is about the model (OpenAI's ``model_not_found``, Anthropic's
    ``model: …``), not the path: no base-URL advice then."""
    own_words = error.message.split(" — ", 1)[0]  # before the transport's own note
    return "model" in f"{error.code or ''} {own_words}".lower()
