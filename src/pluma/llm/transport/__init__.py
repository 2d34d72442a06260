"""How adapters reach upstreams: the transport seam, HTTP policy and SSE.

| module        | what it holds                                                        |
|---------------|----------------------------------------------------------------------|
| ``base``      | ``Transport`` / ``Response`` protocols, ``Request``, transport errors |
| ``default``   | ``AiohttpTransport`` (imported on first use: aiohttp is heavy)       |
| ``mock``      | ``MockTransport``: requests answered by a function, in memory        |
| ``http``      | ``open_stream`` and the body readers: retries, timeouts, errors      |
| ``sse``       | the incremental SSE decoder                                          |

The public names are re-exported here; ``AiohttpTransport`` is loaded when it
is first named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pluma.llm.transport.base import (
    ConnectError,
    ConnectTimeout,
    InvalidURL,
    NotHTTP,
    ReadError,
    Request,
    Response,
    Transport,
    TransportError,
    UntrustedCertificate,
)
from pluma.llm.transport.mock import MockResponse, MockTransport

if TYPE_CHECKING:
    from pluma.llm.transport.default import AiohttpTransport


def __getattr__(name: str) -> Any:
    if name == "AiohttpTransport":
        from pluma.llm.transport.default import AiohttpTransport

        return AiohttpTransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AiohttpTransport",
    "ConnectError",
    "ConnectTimeout",
    "InvalidURL",
    "MockResponse",
    "MockTransport",
    "NotHTTP",
    "ReadError",
    "Request",
    "Response",
    "Transport",
    "TransportError",
    "UntrustedCertificate",
]
