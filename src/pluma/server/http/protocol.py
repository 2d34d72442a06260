"""The HTTP/1.1 connection handling ``pluma serve`` runs: uvicorn's httptools
protocol with the limits it lacks.

uvicorn's httptools protocol reads request heads without bound: httptools
accumulates a header value chunk by chunk, so one client sending a 100 MiB
header line holds the event loop (and every other request) for seconds and
leaves hundreds of MB behind; and a connection that never finishes its head
is never closed, so idle sockets pile up until the process runs out of file
descriptors. Neither is configurable in uvicorn, so this subclass adds, per
connection:

| limit                 | default            | when exceeded                                 |
|-----------------------|--------------------|-----------------------------------------------|
| request head size     | 64 KiB (request    | ``431`` (JSON error, ``connection: close``),   |
| (line + headers)      | line and headers)  | the rest of what the client sends is discarded|
|                       |                    | for up to :data:`LINGER_SECONDS`, then closed |
| time to send the head | 5 s from its first | the connection is closed (no response: the     |
|                       | byte (or from      | client has not said what it wants)             |
|                       | connecting)        |                                               |
| open connections      | half the file      | a new connection gets ``503`` and is closed;   |
|                       | descriptor limit   | a warning is logged (at most every 10 s)      |

The size is checked as data arrives, before the parser has seen more than
one read (at most 256 KiB) past the limit, so the cost of a flood is bounded
by the limit, not by what the client sends. Once a request's head is
complete nothing here applies: bodies have their own limit (``--max-body``,
checked in :mod:`pluma.server.http.security`) and streaming responses run as long
as they need.

This is written by hand because no uvicorn setting does it (``h11`` has
``h11_max_incomplete_event_size`` but is several times slower per request
and has no head timeout either).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import resource
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from pluma.server.errors import HTTPError
from pluma.server.http.errors import error_body

log = logging.getLogger("pluma.server")

DEFAULT_MAX_HEAD_BYTES = 64 * 1024
DEFAULT_HEAD_TIMEOUT = 5.0
LINGER_SECONDS = 2.0
"""How long a refused connection keeps reading (and discarding) what its
client still sends, so the client can finish sending and read the answer
instead of seeing its connection reset."""
WARN_EVERY_SECONDS = 10.0


def default_max_connections() -> int:
    """Half the process's file-descriptor limit (each proxied request also
    holds an upstream socket), at least 64."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 10_000
    return max(64, (soft - 64) // 2)


def raise_fd_limit() -> None:
    """Raise the soft file-descriptor limit to the hard one (capped at 65,536):
    a server holding many streams needs more than the common default of 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = 65_536 if hard == resource.RLIM_INFINITY else min(hard, 65_536)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES
    head_timeout: float = DEFAULT_HEAD_TIMEOUT
    max_connections: int = 1000


class _Throttled:
    """A warning logged at most every :data:`WARN_EVERY_SECONDS`, with how
    many times it happened meanwhile (a flood must not flood the log)."""

    def __init__(self) -> None:
        self.last = 0.0
        self.count = 0

    def warn(self, message: str, *args: Any) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.last < WARN_EVERY_SECONDS:
            return
        log.warning(message + " (%d time(s) since the last such message)", *args, self.count)
        self.last = now
        self.count = 0


_over_capacity = _Throttled()
_head_too_large = _Throttled()


def _raw_response(status: int, message: str, code: str) -> bytes:
    payload = json.dumps(error_body(HTTPError(status, message, code=code), "openai")).encode()
    return b"".join(
        [
            STATUS_LINE[status],
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(payload)).encode() + b"\r\n",
            b"connection: close\r\n",
            b"\r\n",
            payload,
        ]
    )


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of the module table.

    ``limits`` is set on a subclass made by :func:`protocol_class`.
    """

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Waiting for (or reading) a request head; false from the end of a
        # head to the end of that request's body.
        self._in_head = True
        self._head_bytes = 0
        self._heads_done = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    # -- connection ----------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        limits = self.limits
        if len(self.connections) >= limits.max_connections:
            self._refused = True
            self.transport = transport
            _over_capacity.warn(
                "connection limit reached: %d connections are open (limit %d, set with "
                "--max-connections / PLUMA_MAX_CONNECTIONS); refusing new ones with 503",
                len(self.connections),
                limits.max_connections,
            )
            self.transport.write(
                _raw_response(
                    503,
                    f"the server has {limits.max_connections} connections open, its limit; "
                    "retry shortly",
                    "too_many_connections",
                )
            )
            self.transport.close()
            return
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        if self._refused and self.flow is None:
            return  # refused in connection_made: nothing else was set up
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # discarding what follows a refusal
        head_before = self._in_head
        heads_before = self._heads_done
        if head_before and self._head_timer is None:
            self._arm_head_timer()
        super().data_received(data)
        if self._in_head and head_before and self._heads_done == heads_before and not self._refused:
            # Only reads that are wholly part of one unfinished head count: a
            # read holding a whole request (head and a large body), or a
            # body's tail and the next head, never does.
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_head_bytes:
                self._refuse_head()

    # -- parser callbacks ------------------------------------------------------

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._heads_done += 1
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True

    # -- limits ------------------------------------------------------------------

    def _refuse_head(self) -> None:
        self._refused = True
        self._cancel_head_timer()
        if self.cycle is not None and not self.cycle.response_complete:
            # A response is still being sent on this connection: no room for
            # an answer, so end it (a pipelined head this large is an attack).
            self.transport.close()
            return
        limit = self.limits.max_head_bytes
        _head_too_large.warn(
            "refused a request from %s whose line and headers exceed %d bytes (431)",
            self._peer(),
            limit,
        )
        self.transport.write(
            _raw_response(
                431,
                f"the request line and headers are larger than the server's limit of {limit} "
                "bytes; send smaller headers (long cookies or tokens are the usual cause)",
                "headers_too_large",
            )
        )
        try:
            self.transport.write_eof()
        except (NotImplementedError, OSError, RuntimeError):
            self.transport.close()
            return
        self.loop.call_later(LINGER_SECONDS, self._close)

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.limits.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self._refused:
            log.debug(
                "closing a connection from %s: no complete request head in %.1f s",
                self._peer(),
                self.limits.head_timeout,
            )
            self._close()

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "a client"

    def _close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()


def protocol_class(limits: ConnectionLimits) -> type[BoundedHttpToolsProtocol]:
    """The protocol class to hand to ``uvicorn.Config(http=...)``."""
    return type("PlumaHttpProtocol", (BoundedHttpToolsProtocol,), {"limits": limits})


def __getattr__(name: str) -> Any:
    """``WorkerHttpProtocol``: the protocol each ``pluma serve --workers``
    process uses. uvicorn imports it by name in the worker (a class made at
    run time cannot be handed to a spawned process), so its limits come from
    the ``PLUMA_*`` variables the parent set from its settings."""
    if name != "WorkerHttpProtocol":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from pluma.server.config import Settings

    settings = Settings.from_env()
    made = protocol_class(
        ConnectionLimits(
            max_head_bytes=settings.max_header_bytes,
            head_timeout=settings.header_timeout,
            max_connections=settings.max_connections or default_max_connections(),
        )
    )
    globals()[name] = made
    return made
