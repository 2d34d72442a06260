"""The transport seam: what :mod:`pluma.llm.transport.http` needs from an
HTTP client, and nothing more.

Policy (retries, timeouts, error wording, SSE decoding) lives in
:mod:`~pluma.llm.transport.http` and is the same whatever sends the bytes.
A transport only sends one request and hands back a response whose body can
be read in pieces. Two ship with Pluma:

- :class:`~pluma.llm.transport.default.AiohttpTransport`, the default: one
  pooled ``aiohttp`` session per event loop (or a session you give it);
- :class:`~pluma.llm.transport.mock.MockTransport`, in memory, for tests of
  code built on ``pluma.llm`` that need no socket at all.

Failures a transport reports, as this module's exceptions (the policy decides
what is retried)::

    TransportError
    ├── ConnectTimeout        no connection within Timeouts.connect   (retried)
    ├── ConnectError          refused, unreachable, DNS failure       (retried)
    ├── InvalidURL            not an http:// or https:// URL          (not retried)
    ├── UntrustedCertificate  the server's TLS certificate is refused (not retried)
    ├── NotHTTP               what answered does not speak HTTP       (not retried)
    └── ReadError             the connection failed mid-body          (never retried)

Failures while reading a body are whatever the response's reader raises
(:class:`ReadError`, or the HTTP library's own exceptions);
:meth:`Response.describe_error` turns them into words, so the hot read path
carries no wrapper around each read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(slots=True)
class Request:
    """One request to send. ``connect_timeout`` bounds waiting for a pooled
    connection and opening a new one; the caller bounds the rest."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""
    connect_timeout: float | None = None


@runtime_checkable
class Response(Protocol):
    """An answer whose status and headers have arrived and whose body has not
    been read yet. ``headers`` is case-insensitive."""

    status: int
    reason: str
    headers: Mapping[str, str]

    def read(self, n: int) -> Awaitable[bytes]:
        """At most ``n`` bytes of the body, as soon as some are there; ``b""`` at the end."""
        ...

    def readany(self) -> Awaitable[bytes]:
        """Whatever part of the body is there (waiting for some); ``b""`` at the end."""
        ...

    def at_eof(self) -> bool:
        """Whether the whole body has been read."""
        ...

    def release(self) -> None:
        """Done with a body read to its end: its connection may be reused."""
        ...

    def close(self) -> None:
        """Done early: drop the connection now (the server sees it close)."""
        ...

    def describe_error(self, exc: BaseException) -> str | None:
        """Words for a failure raised by :meth:`read` / :meth:`readany`, or
        None when ``exc`` is not a transport failure (it is then re-raised)."""
        ...


@runtime_checkable
class Transport(Protocol):
    """Sends requests. One transport may serve many concurrent calls."""

    async def send(self, request: Request) -> Response:
        """Send ``request`` and return once the response's headers are in.

        Raises a :class:`TransportError` when no HTTP answer could be had.
        """
        ...

    async def aclose(self) -> None:
        """Close pooled connections (a transport may be used again after)."""
        ...


class TransportError(Exception):
    """No HTTP answer could be had; ``str(exc)`` says why in plain words."""


class ConnectTimeout(TransportError):
    """No connection within the connect timeout."""


class ConnectError(TransportError):
    """The connection failed: refused, unreachable, a name that does not resolve."""


class InvalidURL(TransportError):
    """The URL is not a usable http:// or https:// URL."""


class UntrustedCertificate(TransportError):
    """The server's TLS certificate was not trusted."""


class NotHTTP(TransportError):
    """Something answered, but not in HTTP (wrong port or scheme)."""


class ReadError(TransportError):
    """The connection failed while the body was being read."""
