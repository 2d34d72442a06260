"""The server's front door: a pure ASGI middleware (it never buffers a
response, so streams pass through untouched) that checks, in order:

| check          | applies to                          | refusal                                  |
|----------------|-------------------------------------|------------------------------------------|
| Host allow-list| every request (DNS rebinding)       | 400 naming the host and --allowed-host   |
| Origin         | POST/PUT/PATCH/DELETE and websockets| 403 (CSRF: a page elsewhere cannot drive |
|                | from a browser (Origin or           | this server)                             |
|                | Sec-Fetch-Site present)             |                                          |
| access token   | every route but static page assets, | 401 with WWW-Authenticate                |
|                | when a token is configured          |                                          |
| loop           | requests carrying ``Pluma-Hop`` with| 508 (pluma.server.http.hops)                  |
|                | this server's id                    |                                          |
| body size      | request bodies                      | 413 naming the limit and --max-body      |
| body structure | request bodies: ``{`` and ``[``     | 413 naming the limit and                 |
|                | characters, counted as they arrive  | PLUMA_MAX_JSON_NODES                     |

Token: sent as ``Authorization: Bearer <token>`` (what the OpenAI SDK sends as
its API key on ``/v1/chat/completions``), ``x-api-key: <token>`` (what the
Anthropic SDK sends on ``/v1/messages``), or the ``pluma_token`` cookie (the web
page gets it from ``POST /api/session``). So a client of the ``/v1`` endpoints simply uses the server's token as
its API key. Without a configured token those headers are not inspected here.

Body structure: decoded JSON takes far more memory than its text when it is
made of many small objects (a 26 MB body of 820k ``{"role":"user",
"content":"a"}`` messages peaked at 678 MB). Counting ``{`` and ``[`` bytes
bounds the objects and arrays a body can decode into (characters inside
strings count too, so it is an upper bound), with two C-level scans per
chunk and before any parsing.

Allowed hosts: loopback names, the bind address, this machine's host name when
bound to a wildcard address, and ``--allowed-host`` entries (``*`` for any).
Allowed origins: the request's own origin (scheme://Host) and
``--allowed-origin`` entries. Never a wildcard CORS header.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import socket
from collections.abc import Iterable
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pluma.server.config import LOOPBACK_NAMES, Settings, is_loopback_host
from pluma.server.errors import HTTPError
from pluma.server.http.errors import error_body, shape_for
from pluma.server.http.hops import HOP_HEADER
from pluma.server.http.hops import accept as accept_hops

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PROTECTED_PREFIXES = ("/api/", "/v1/", "/openapi.json", "/docs", "/redoc")
TOKEN_COOKIE = "pluma_token"


def allowed_hosts(settings: Settings) -> frozenset[str] | None:
    """Lower-case host names (no port) accepted in ``Host``; None means any."""
    extra = [h.strip().lower() for h in settings.allowed_hosts]
    if "*" in extra:
        return None
    hosts = {h.lower() for h in LOOPBACK_NAMES}
    bind = settings.host.strip("[]").lower()
    if bind in ("0.0.0.0", "::", ""):
        hosts |= _own_names()
    else:
        hosts.add(bind)
        hosts.add(f"[{bind}]" if ":" in bind else bind)
    hosts.update(extra)
    return frozenset(hosts)


def _own_names() -> set[str]:
    """This machine's host names and the addresses they resolve to (what a
    LAN client types to reach a wildcard-bound server)."""
    names = {socket.gethostname().lower(), socket.getfqdn().lower()} - {""}
    for name in list(names):
        with contextlib.suppress(OSError):
            for *_, sockaddr in socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP):
                address = str(sockaddr[0]).lower()
                names.add(f"[{address}]" if ":" in address else address)
    return names


def _host_name(host_header: str) -> str:
    """``example.com:8740`` → ``example.com``; ``[::1]:8740`` → ``[::1]``."""
    value = host_header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[: end + 1] if end != -1 else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _normalize_origin(origin: str) -> str:
    parts = urlsplit(origin.strip().lower())
    return f"{parts.scheme}://{parts.netloc}"


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.hosts = allowed_hosts(settings)
        self.origins = frozenset(_normalize_origin(o) for o in settings.allowed_origins)
        self.token = settings.token.encode() if settings.token else None
        self.max_body = settings.max_body_bytes
        self.max_nodes = settings.max_json_nodes
        self.loopback_bind = is_loopback_host(settings.host)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope["headers"])
        path: str = scope.get("path", "")
        method: str = scope.get("method", "GET") if scope["type"] == "http" else "GET"
        refusal = self._check(scope["type"], method, path, headers)
        if refusal is None and HOP_HEADER in headers:
            loop = accept_hops(headers[HOP_HEADER])
            if loop is not None:
                refusal = (508, loop, "loop_detected", {})
        if refusal is not None:
            status, message, code, extra = refusal
            await _refuse(scope, receive, send, status, message, code, extra)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await _refuse(scope, receive, send, 413, self._too_large(), "body_too_large", {})
            return
        await self.app(scope, self._limited(receive), send)

    def _too_large(self) -> str:
        return (
            f"request body is larger than the server's limit of {self.max_body} bytes; "
            "send less, or start the server with a larger --max-body / PLUMA_MAX_BODY"
        )

    def _too_many_nodes(self) -> str:
        return (
            f"request body holds more than {self.max_nodes} JSON objects and arrays (counted as "
            "its '{' and '[' characters), the server's limit on the work of one request; send "
            "fewer messages or content blocks, or start the server with a larger "
            "PLUMA_MAX_JSON_NODES"
        )

    def _limited(self, receive: Receive) -> Receive:
        seen = 0
        nodes = 0

        async def counted() -> Message:
            nonlocal seen, nodes
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                seen += len(body)
                if seen > self.max_body:
                    raise HTTPException(413, detail=self._too_large())
                nodes += body.count(b"{") + body.count(b"[")
                if nodes > self.max_nodes:
                    raise HTTPException(413, detail=self._too_many_nodes())
            return message

        return counted

    def _check(
        self, kind: str, method: str, path: str, headers: dict[str, str]
    ) -> tuple[int, str, str, dict[str, str]] | None:
        host = headers.get("host", "")
        if self.hosts is not None and _host_name(host) not in self.hosts:
            shown = host[:100] or "(none)"
            return (
                400,
                f"Host header {shown!r} is not allowed (protection against DNS rebinding); "
                "if you reach this server under that name, start it with --allowed-host "
                f"{_host_name(host) or 'NAME'}",
                "host_not_allowed",
                {},
            )
        if kind == "websocket" or method not in SAFE_METHODS:
            origin = headers.get("origin")
            site = headers.get("sec-fetch-site", "")
            if origin is not None:
                if not self._origin_ok(origin, host):
                    return (
                        403,
                        f"cross-origin request from {origin[:100]!r} refused (CSRF protection); "
                        "to allow a web app at that origin, start the server with "
                        f"--allowed-origin {_normalize_origin(origin)}",
                        "origin_not_allowed",
                        {},
                    )
            elif site in ("cross-site", "same-site"):
                return (
                    403,
                    "cross-site request refused (CSRF protection)",
                    "origin_not_allowed",
                    {},
                )
        if (
            self.token is not None
            and not self._public(method, path)
            and not self._token_ok(headers)
        ):
            return (
                401,
                "this server requires its access token: send it as 'Authorization: Bearer <token>' "
                "or 'x-api-key: <token>' (SDK clients: use the token as the API key)",
                "token_required",
                {"www-authenticate": 'Bearer realm="pluma"'},
            )
        return None

    def _origin_ok(self, origin: str, host: str) -> bool:
        if origin.strip().lower() == "null":
            return False
        normalized = _normalize_origin(origin)
        if normalized in self.origins:
            return True
        parts = urlsplit(normalized)
        return parts.scheme in ("http", "https") and parts.netloc == host.strip().lower()

    @staticmethod
    def _public(method: str, path: str) -> bool:
        """Static page assets are public: they hold no data. ``POST
        /api/session`` carries the token in its body (routes/session.py)."""
        if method == "POST" and path == "/api/session":
            return True
        return method in ("GET", "HEAD") and not path.startswith(PROTECTED_PREFIXES)

    def _token_ok(self, headers: dict[str, str]) -> bool:
        assert self.token is not None
        candidates: list[str] = []
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer":
            candidates.append(value.strip())
        if "x-api-key" in headers:
            candidates.append(headers["x-api-key"].strip())
        if "cookie" in headers:
            cookie: SimpleCookie = SimpleCookie()
            with contextlib.suppress(Exception):
                cookie.load(headers["cookie"])
            if TOKEN_COOKIE in cookie:
                candidates.append(cookie[TOKEN_COOKIE].value)
        return any(hmac.compare_digest(c.encode(), self.token) for c in candidates)


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}


async def _refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    message: str,
    code: str,
    extra: dict[str, str],
) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
        return
    path = scope.get("path", "")
    body = error_body(HTTPError(status, message, code=code), shape_for(path))
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *((k.encode(), v.encode()) for k, v in extra.items()),
    ]
    if status == 413:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
