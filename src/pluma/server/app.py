"""The ASGI application: ``create_app(settings)``.

Routers come from one list, :data:`ROUTER_MODULES`: each name is a module in
:mod:`pluma.server.routes` exposing ``router`` (a FastAPI ``APIRouter``) and
optionally ``async def shutdown(services)`` run when the server stops; each
part of the server adds its router by adding one name here. Routes build
nothing at start-up: every long-lived object comes from
:class:`~pluma.server.services.Services`.

The web page is served from ``src/pluma/server/static/`` at ``/`` when that
directory exists (mounted after every router, so API routes win).

Start-up (the lifespan) opens :class:`~pluma.server.services.Services` over
the server's pooled HTTP client, logs what it found and, on a first run,
starts probing for local backends.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
import mimetypes
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from pluma import __version__
from pluma.llm.transport.http import close_shared_session
from pluma.server.config import Settings
from pluma.server.errors import HTTPError, InvalidRequest, PlumaError
from pluma.server.http.client import new_http_client
from pluma.server.http.errors import error_response, shape_for
from pluma.server.http.hot_routes import HotRoutes, hot_endpoints
from pluma.server.http.security import SecurityMiddleware
from pluma.server.services import Services, fresh_storage

log = logging.getLogger("pluma.server")

ROUTER_MODULES: tuple[str, ...] = (
    "health",
    "plugins",
    "session",
    "connections",
    "chat",
    "openai_compat",
    "anthropic_compat",
    "responses_compat",
    "images",
    "conversations",
)
"""Modules of :mod:`pluma.server.routes` whose ``router`` is included, in order."""

HOT_ROUTERS: tuple[str, ...] = ("openai_compat", "chat", "anthropic_compat", "responses_compat")
"""Included before the others: the router tries routes in order, and each
miss costs a few microseconds on every chat request. Their paths overlap no
other module's, so which route answers does not change."""

STATIC_DIR = Path(__file__).parent / "static"


def router_modules() -> list[ModuleType]:
    return [importlib.import_module(f"pluma.server.routes.{name}") for name in ROUTER_MODULES]


def _hot_first(modules: list[ModuleType]) -> list[ModuleType]:
    def rank(module: ModuleType) -> int:
        name = module.__name__.rsplit(".", 1)[-1]
        return HOT_ROUTERS.index(name) if name in HOT_ROUTERS else len(HOT_ROUTERS)

    return sorted(modules, key=rank)


def create_app(settings: Settings | None = None) -> PlumaApp:
    settings = settings or Settings.from_env()
    modules = router_modules()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        http = new_http_client()
        try:
            services = Services.open(settings, http=http)
            services.open_all()
            await services.start()
        except BaseException:
            await http.aclose()
            raise
        app.state.pluma = services
        log.info("data directory: %s", settings.data_dir)
        log.info("secret store: %s", services.secrets.backend)
        if services.secrets.notice:
            log.warning("%s", services.secrets.notice)
        secrets_problem = services.secrets.check()
        if secrets_problem is not None:
            log.error("secret store problem: %s", secrets_problem)
        if services.conversations is not None:
            log.info("conversations: %s", services.conversations.path)
        for problem in services.problems:
            log.warning("start-up problem: %s", problem)
        for problem in services.connections.problems:
            log.error("configuration problem: %s", problem)
        discovery_task: asyncio.Task[Any] | None = None
        if settings.discovery and services.connections.active() is None:
            log.info("no connection configured yet: probing for local backends")
            discovery_task = asyncio.ensure_future(services.discovery.probe())
        try:
            yield
        finally:
            for module in reversed(modules):
                down: Callable[[Services], Awaitable[None]] | None = getattr(
                    module, "shutdown", None
                )
                if down is not None:
                    with contextlib.suppress(Exception):
                        await down(services)
            if discovery_task is not None and not discovery_task.done():
                discovery_task.cancel()
                with contextlib.suppress(BaseException):
                    await discovery_task
            await services.aclose()
            await close_shared_session()

    app = PlumaApp(
        title="Pluma",
        version=__version__,
        description="Self-hosted chat server: connections, chat relay, OpenAI- and "
        "Anthropic-compatible endpoints.",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        # Every route starts from the store's current state, read without
        # blocking the event loop (a no-op for the file store).
        dependencies=[Depends(fresh_storage)],
    )
    install_error_handlers(app)
    for module in _hot_first(modules):
        app.include_router(module.router)
    install_api_not_found(app, [route for module in modules for route in module.router.routes])
    if STATIC_DIR.is_dir() and any(STATIC_DIR.iterdir()):
        from fastapi.staticfiles import StaticFiles

        # The page's vendored fonts: Python knows woff2 only from the system's
        # mime.types, which not every machine has (then it would be text/plain).
        mimetypes.add_type("font/woff2", ".woff2")

        app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="static")
    endpoints = hot_endpoints(route for module in modules for route in module.router.routes)
    stack = functools.partial(FastAPI.__call__, app)
    app.front = SecurityMiddleware(HotRoutes(stack, endpoints, owner=app), settings)
    return app


class PlumaApp(FastAPI):
    """The FastAPI app with its front: the security checks, then the chat hot
    routes (see :mod:`pluma.server.http.hot_routes`), then FastAPI's own stack.

    The checks sit in front of everything, so no route, hot or not, is
    reached without them.
    """

    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front is None:
            await super().__call__(scope, receive, send)
        else:
            await self.front(scope, receive, send)


# -- errors ------------------------------------------------------------------


def describe_validation(errors: Any) -> str:
    """FastAPI's validation errors as one sentence naming each field."""
    parts = []
    for error in errors:
        loc = [str(p) for p in error.get("loc", ())]
        if error.get("type") == "json_invalid":
            ctx = error.get("ctx", {}).get("error", "")
            parts.append(
                f"request body is not valid JSON ({ctx})"
                if ctx
                else "request body is not valid JSON"
            )
            continue
        if loc == ["body"] and error.get("type") in (
            "model_attributes_type",
            "dict_type",
            "missing",
        ):
            parts.append(
                "request body must be a JSON object (send it with Content-Type: application/json)"
                if error.get("type") != "missing"
                else "request body is missing: send a JSON object"
            )
            continue
        where = ".".join(loc[1:] if loc and loc[0] in ("body", "query", "path") else loc) or "body"
        prefix = f"{loc[0]} " if loc and loc[0] in ("query", "path") else ""
        parts.append(f"{prefix}{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is invalid"


def _invalid(errors: Any) -> InvalidRequest:
    """FastAPI's validation errors as one :class:`InvalidRequest`: a body that
    is not JSON at all (or none) is a 400 ``invalid_json``, as on the chat
    routes (a "json_invalid" loc is a character offset, not a field); any
    other a 422 naming the first field."""
    if any(
        error.get("type") == "json_invalid"
        or (error.get("type") == "missing" and tuple(error.get("loc", ())) == ("body",))
        for error in errors
    ):
        invalid = InvalidRequest(describe_validation(errors))
        invalid.code = "invalid_json"
        return invalid
    first = errors[0].get("loc", ()) if errors else ()
    param = ".".join(str(p) for p in first[1:]) or None
    return InvalidRequest(describe_validation(errors), param=param, status=422)


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves through the one renderer, in the caller's shape
    (see :mod:`pluma.server.http.errors`)."""

    async def render(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, RequestValidationError):
            exc = _invalid(exc.errors())
        response = error_response(exc, shape_for(request.url.path))
        if isinstance(exc, StarletteHTTPException) and exc.headers:
            response.headers.update(exc.headers)
        return response

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette's last resort answers text/plain: every error here is JSON,
        # in the caller's shape, logged with its traceback (as_error does).
        return error_response(exc, shape_for(request.url.path))

    for cls in (StarletteHTTPException, RequestValidationError, PlumaError):
        app.add_exception_handler(cls, render)
    app.add_exception_handler(Exception, unexpected)


API_PREFIXES = ("/v1/", "/api/")
"""Paths that are API calls: an unknown one is a JSON 404, never the web
page's static-file answer (which is a 405 for any method but GET)."""


def install_api_not_found(app: FastAPI, routes: list[Any]) -> None:
    """Answer unknown API paths with 404 (and a known path with the wrong
    method with 405 and its ``Allow``), in the caller's error shape.

    Registered after every router (``routes``: theirs), so real routes
    match first.
    """
    from starlette.routing import Match

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

    async def not_found(request: Request) -> JSONResponse:
        path = request.url.path
        allowed = sorted(
            {
                method
                for route in routes
                if isinstance(getattr(route, "methods", None), set)
                and route.matches(request.scope)[0] == Match.PARTIAL
                for method in route.methods
            }
        )
        shape = shape_for(path)
        if allowed:
            refused = HTTPError(
                405,
                f"{request.method} is not allowed on {path}; use {', '.join(allowed)}",
                code="method_not_allowed",
            )
            response = error_response(refused, shape)
            response.headers["allow"] = ", ".join(allowed)
            return response
        unknown = HTTPError(
            404,
            f"no route {request.method} {path}: the OpenAI-compatible API serves "
            "/v1/chat/completions and /v1/models, the Anthropic one /v1/messages; "
            "/openapi.json lists every route",
            code="not_found",
        )
        return error_response(unknown, shape)

    for prefix in API_PREFIXES:
        app.add_api_route(
            f"{prefix}{{rest:path}}", not_found, methods=methods, include_in_schema=False
        )


def app_from_env() -> FastAPI:
    """For ``uvicorn pluma.server.app:app_from_env --factory``, and each
    ``pluma serve --workers`` process: settings and logging from ``PLUMA_*``."""
    import gc

    from pluma.server.logs import configure_logging

    settings = Settings.from_env(os.environ)
    configure_logging(settings)
    app = create_app(settings)
    # As in a single process: what is built now lives as long as the process.
    gc.freeze()
    return app
