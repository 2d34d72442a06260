"""The one error renderer: any exception → a :class:`PlumaError` → the error
body in the shape the client speaks.

| shape         | who                                  | body                                                   |
|---------------|--------------------------------------|--------------------------------------------------------|
| ``anthropic`` | ``/v1/messages…`` (Anthropic SDKs)   | ``{"type": "error", "error": {"type", "message"}}``    |
| ``openai``    | every other path: OpenAI SDKs, and   | ``{"error": {"message", "type", "code", "param"}}``    |
|               | the page, which reads the same shape |                                                        |

Both official SDKs surface ``error.message`` to the user, and the page shows
it with a next step picked from ``code``. Before a stream starts a failure is
an HTTP error; after, the stream encoders put the same body inline
(``event: error``).

Exceptions that are not a ``PlumaError`` are classified first by
:func:`pluma.server.errors.as_error`.

Keys never appear: upstream messages are masked by ``pluma.llm`` before they
become errors, and the server's own messages never include a secret.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from starlette.responses import JSONResponse

from pluma.server.errors import PlumaError, as_error

Shape = Literal["openai", "anthropic"]


def shape_for(path: str) -> Shape:
    """The shape a path's clients read."""
    return "anthropic" if path == "/v1/messages" or path.startswith("/v1/messages/") else "openai"


def error_body(error: PlumaError, shape: Shape, message: str | None = None) -> dict[str, Any]:
    """``error`` in ``shape``; ``message`` replaces ``str(error)`` (a stream's
    own words for its failure)."""
    text = str(error) if message is None else message
    if shape == "anthropic":
        return {"type": "error", "error": {"type": error.kind, "message": text}}
    return {
        "error": {"message": text, "type": error.kind, "code": error.code, "param": error.param}
    }


def error_response(error: BaseException, shape: Shape) -> JSONResponse:
    """The HTTP error answering ``error``, in ``shape``."""
    found = as_error(error)
    return JSONResponse(error_body(found, shape), status_code=found.status, headers=found.headers())


def error_frame(error: PlumaError, shape: Shape, message: str | None = None) -> str:
    """``error`` as one inline SSE ``error`` event, for a stream already under way."""
    return (
        "event: error\ndata: " + orjson.dumps(error_body(error, shape, message)).decode() + "\n\n"
    )
