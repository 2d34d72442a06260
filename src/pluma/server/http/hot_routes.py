"""Direct dispatch of the chat routes, past FastAPI's per-request machinery.

Every chat request otherwise pays for Starlette's error middleware (which
also wraps every ``send`` of the stream), FastAPI's telemetry and body-limit
layers, the exception middleware, the exit stack, route matching and
dependency solving: about 100 µs of CPU before the upstream request is even
built, for routes whose endpoint only takes the ``Request`` and answers with
a ``Response`` it builds itself. :class:`HotRoutes` is the front of the app,
behind only the security middleware (every check still runs first), and
calls those endpoints straight; all other requests, and these paths with
another method, go down FastAPI's whole stack. The routes stay registered
with FastAPI, so ``/openapi.json`` and the docs are unchanged.

| a route is dispatched directly when                      | why                                  |
|-----------------------------------------------------------|--------------------------------------|
| its (method, path) is in :data:`HOT_PATHS`                 | only the chat hot paths              |
| its only parameter is the ``Request`` (no dependencies)   | nothing for FastAPI to solve         |
| its endpoint catches its own errors and returns a Response| the exception handlers have no part  |
| the request has no ``root_path``                           | the path compares as routed          |
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]

HOT_PATHS: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/messages"),
        ("POST", "/v1/responses"),
        ("POST", "/api/chat"),
    }
)
"""Routes whose endpoints take only the request and answer every error themselves."""


def hot_endpoints(routes: Iterable[Any]) -> dict[tuple[str, str], Endpoint]:
    """The endpoints of :data:`HOT_PATHS` among ``routes`` that qualify (see
    the module table); a route that does not is left to the router."""
    found: dict[tuple[str, str], Endpoint] = {}
    for route in routes:
        if not isinstance(route, APIRoute):
            continue
        dependant = route.dependant
        if dependant.request_param_name is None or any(
            (
                dependant.path_params,
                dependant.query_params,
                dependant.header_params,
                dependant.cookie_params,
                dependant.body_params,
                dependant.dependencies,
                dependant.background_tasks_param_name,
                dependant.response_param_name,
                dependant.websocket_param_name,
                dependant.http_connection_param_name,
                dependant.security_scopes_param_name,
            )
        ):
            continue
        for method in route.methods or ():
            key = (method, route.path)
            if key in HOT_PATHS and key not in found:
                found[key] = route.endpoint
    return found


class HotRoutes:
    """ASGI middleware: ``endpoints`` answered directly, the rest passed on.

    ``owner`` is the application the endpoints belong to: it is put in the
    scope (``request.app``), as Starlette would have done.
    """

    def __init__(
        self, app: ASGIApp, endpoints: dict[tuple[str, str], Endpoint], owner: object
    ) -> None:
        self.app = app
        self.endpoints = endpoints
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            endpoint = self.endpoints.get((scope["method"], scope["path"]))
            if endpoint is not None:
                scope["app"] = self.owner
                response = await endpoint(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
