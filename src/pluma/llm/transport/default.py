"""The default transport: aiohttp, one pooled session per event loop.

Why aiohttp (the server's other HTTP clients use httpx): a streamed call is one
request and then hundreds of small body reads, and both ends are hot paths of
``pluma serve``. On the same streams (``bench/bench_llm.py``,
``bench/bench_gateway.py``) httpx's client stack — request building, cookie
handling, httpcore's pool and h11's pure-Python parser — cost about half of
the server's CPU per stream; aiohttp's C parser and lean stream reader do the
same work for a fraction of it.

This module is imported on the first call that needs it, so ``import
pluma.llm`` does not pay for aiohttp.

| setting                    | where it comes from                                          |
|----------------------------|--------------------------------------------------------------|
| CA bundle                  | ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``, else certifi's bundle  |
| proxy                      | ``HTTP(S)_PROXY`` unless ``NO_PROXY`` exempts the host, read |
|                            | once per session (only for the shared sessions)              |
| cookies                    | none kept (API calls carry none)                             |
| redirects                  | not followed (a redirected POST may lose its body)           |
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import ssl
import urllib.request
import weakref
from collections.abc import AsyncGenerator, Awaitable, Mapping
from urllib.parse import urlsplit

import aiohttp

from pluma.llm.transport.base import (
    ConnectError,
    ConnectTimeout,
    InvalidURL,
    NotHTTP,
    Request,
    UntrustedCertificate,
)

# The shared pool: enough connections for hundreds of concurrent streams.
MAX_CONNECTIONS = 1000


class AiohttpResponse:
    """An aiohttp response seen through :class:`~pluma.llm.transport.base.Response`."""

    __slots__ = ("_content", "_raw", "headers", "reason", "status")

    def __init__(self, raw: aiohttp.ClientResponse) -> None:
        self._raw = raw
        self._content = raw.content
        self.status: int = raw.status
        self.reason: str = raw.reason or ""
        self.headers: Mapping[str, str] = raw.headers

    def __repr__(self) -> str:
        return f"<AiohttpResponse {self.status} {self.reason}>"

    def read(self, n: int) -> Awaitable[bytes]:
        return self._content.read(n)

    def readany(self) -> Awaitable[bytes]:
        return self._content.readany()

    def at_eof(self) -> bool:
        return self._content.at_eof()

    def release(self) -> None:
        self._raw.release()

    def close(self) -> None:
        self._raw.close()

    def describe_error(self, exc: BaseException) -> str | None:
        return describe(exc) if isinstance(exc, aiohttp.ClientError) else None


class AiohttpTransport:
    """Sends with ``session``, or with the running loop's shared session.

    Give your own session for a proxy with its own settings, client
    certificates or a connection limit; you then own its lifetime. The shared
    sessions (one per event loop, since connections belong to the loop that
    opened them) are closed when their loop shuts down, or sooner by
    :func:`close_shared_session`.
    """

    __slots__ = ("_session",)

    def __init__(self, session: aiohttp.ClientSession | None = None) -> None:
        self._session = session

    async def send(self, request: Request) -> AiohttpResponse:
        session = self._session
        proxy = None
        if session is None:
            session = shared_session()
            proxy = _proxy_for(request.url, asyncio.get_running_loop())
        try:
            raw = await session.request(
                request.method,
                request.url,
                data=request.content,
                headers=request.headers,
                timeout=_client_timeout(request.connect_timeout),
                allow_redirects=False,
                proxy=proxy,
            )
        # aiohttp's timeouts are TimeoutErrors too: they must be caught first.
        except aiohttp.ServerTimeoutError as exc:
            raise ConnectTimeout("timed out connecting") from exc
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError):
            raise InvalidURL("not a usable http:// or https:// URL") from None
        except aiohttp.ClientConnectorCertificateError as exc:
            raise UntrustedCertificate(str(exc.certificate_error)) from None
        except aiohttp.ClientResponseError as exc:  # what came back is not HTTP/1.1
            raise NotHTTP(
                (exc.message or "a malformed response").splitlines()[0].rstrip(": ")
            ) from None
        except aiohttp.ClientError as exc:
            raise ConnectError(describe(exc)) from exc
        return AiohttpResponse(raw)

    async def aclose(self) -> None:
        if self._session is None:
            await close_shared_session()
        else:
            await self._session.close()


def describe(exc: aiohttp.ClientError) -> str:
    """aiohttp's failure in words a person can act on."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "the host name does not resolve"
    if isinstance(exc, aiohttp.ClientConnectorError):
        error = exc.os_error
        if isinstance(error, ConnectionRefusedError):
            return "connection refused"
        return error.strerror or str(error) or type(error).__name__
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the server closed the connection before the response ended"
    return str(exc) or type(exc).__name__


@functools.lru_cache(maxsize=64)
def _client_timeout(connect: float | None) -> aiohttp.ClientTimeout:
    # Reads are timed by pluma.llm.transport.http (first byte, then idle) so a
    # slow but live stream is never cut by a total deadline.
    return aiohttp.ClientTimeout(total=None, connect=connect, sock_connect=connect)


# -- the shared sessions -------------------------------------------------------


class _LoopSession:
    __slots__ = ("closer", "proxies", "session")

    def __init__(self, session: aiohttp.ClientSession, closer: AsyncGenerator[None, None]) -> None:
        self.session = session
        self.closer = closer
        # Read once: aiohttp's own trust_env reads them (and ~/.netrc) in a
        # worker thread on every request.
        self.proxies = urllib.request.getproxies_environment()


_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopSession] = (
    weakref.WeakKeyDictionary()
)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """Certifi's CA bundle (or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), like httpx:
    the system store is missing on some Python builds (python.org's macOS)."""
    import certifi

    return ssl.create_default_context(
        cafile=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        capath=os.environ.get("SSL_CERT_DIR"),
    )


async def _close_at_shutdown(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await session.close()


def shared_session() -> aiohttp.ClientSession:
    """The pooled session of the running event loop.

    Connections belong to the loop that opened them, so each loop gets its own
    session; all streams in one loop share its pool. The session is closed when
    the loop shuts down: it is tied to an async generator parked at its
    ``yield``, which the loop tracks and ``loop.shutdown_asyncgens()`` (run by
    ``asyncio.run`` and ``asyncio.Runner``) closes — asyncio's only hook for
    work at loop shutdown. :func:`close_shared_session` closes it sooner.
    """
    loop = asyncio.get_running_loop()
    entry = _sessions.get(loop)
    if entry is not None and not entry.session.closed:
        return entry.session
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS, ssl=_ssl_context()),
        timeout=aiohttp.ClientTimeout(total=None),
        cookie_jar=aiohttp.DummyCookieJar(),  # API calls carry no cookies
    )
    closer = _close_at_shutdown(session)
    with contextlib.suppress(StopIteration):
        closer.asend(None).send(None)  # run to the yield: the loop now tracks it
    _sessions[loop] = _LoopSession(session, closer)
    return session


async def close_shared_session() -> None:
    """Close the running loop's shared session and its connections, if any
    (the next call opens a new one)."""
    entry = _sessions.pop(asyncio.get_running_loop(), None)
    if entry is not None:
        await entry.closer.aclose()


def _proxy_for(url: str, loop: asyncio.AbstractEventLoop) -> str | None:
    """The ``HTTP(S)_PROXY`` for ``url`` unless ``NO_PROXY`` exempts it."""
    entry = _sessions.get(loop)
    proxies = entry.proxies if entry is not None else {}
    if not proxies:
        return None
    parts = urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxies.get(parts.scheme)
