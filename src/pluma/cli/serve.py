"""``pluma serve``: run the server on uvicorn.

Safe by default: binds 127.0.0.1. Binding any other address requires an
access token; without ``--token`` / ``PLUMA_TOKEN`` one is generated and
printed (once, to the terminal, never to the log).

The listening socket is bound here (port 0 picks a free port) and the line
``pluma: listening on http://HOST:PORT`` is printed once it is bound, which
is what tests and scripts wait for.
"""

from __future__ import annotations

import gc
import logging
import secrets as _random
import socket
import sys
from pathlib import Path
from typing import Any

import typer

from pluma.cli.common import ensure_data_dir, fail
from pluma.server.config import Settings, SettingsError, parse_size
from pluma.server.logs import configure_logging


def register(app: typer.Typer) -> None:
    app.command()(serve)


def serve(
    host: str = typer.Option(
        None, "--host", help="Address to bind (PLUMA_HOST; default 127.0.0.1)."
    ),
    port: int = typer.Option(
        None, "--port", help="Port (PLUMA_PORT; default 8740; 0 picks a free one)."
    ),
    data_dir: Path = typer.Option(None, "--data-dir", help="Data directory (PLUMA_DATA_DIR)."),
    token: str = typer.Option(
        None, "--token", help="Access token (PLUMA_TOKEN; prefer the variable: flags show in ps)."
    ),
    base_url: str = typer.Option(
        None,
        "--base-url",
        help="Fallback upstream used while no connection exists (PLUMA_BASE_URL).",
    ),
    api_key: str = typer.Option(
        None,
        "--api-key",
        help="Key for the --base-url fallback (PLUMA_API_KEY; prefer the variable).",
    ),
    compat: str = typer.Option(
        None, "--compat", help="Provider kind of the fallback (default openai)."
    ),
    model: str = typer.Option(None, "--model", help="Default model of the fallback."),
    allowed_host: list[str] = typer.Option(
        None, "--allowed-host", help="Extra Host name to accept (repeatable; '*' for any)."
    ),
    allowed_origin: list[str] = typer.Option(
        None, "--allowed-origin", help="Extra origin allowed to POST (repeatable)."
    ),
    max_body: str = typer.Option(
        None, "--max-body", help="Request body limit, e.g. 32M (PLUMA_MAX_BODY)."
    ),
    max_connections: int = typer.Option(
        None,
        "--max-connections",
        help="Open connections at most (PLUMA_MAX_CONNECTIONS; default half the file limit).",
    ),
    secrets: str = typer.Option(
        None, "--secrets", help="auto, keyring, file or memory (PLUMA_SECRETS)."
    ),
    log_level: str = typer.Option(
        None, "--log-level", help="debug, info, warning, error (PLUMA_LOG_LEVEL)."
    ),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request."),
    no_discovery: bool = typer.Option(
        False, "--no-discovery", help="Do not probe for local backends."
    ),
    image_url: str = typer.Option(
        None,
        "--image-url",
        help="Fallback image backend used while no image connection exists (PLUMA_IMAGE_URL).",
    ),
    image_kind: str = typer.Option(
        None, "--image-kind", help="Kind of the --image-url backend: a1111 or comfyui."
    ),
    workers: int = typer.Option(
        None, "--workers", help="Server processes sharing the port (PLUMA_WORKERS; default 1)."
    ),
    database_url: str = typer.Option(
        None,
        "--database-url",
        help="Keep everything in this PostgreSQL database (PLUMA_DATABASE_URL; prefer the "
        "variable when the URL holds a password).",
    ),
) -> None:
    """Run the Pluma server."""
    overrides: dict[str, Any] = {
        "host": host,
        "port": port,
        "data_dir": data_dir,
        "token": token,
        "base_url": base_url,
        "api_key": api_key,
        "fallback_compat": compat,
        "fallback_model": model,
        "allowed_hosts": tuple(allowed_host) if allowed_host else None,
        "allowed_origins": tuple(allowed_origin) if allowed_origin else None,
        "max_connections": max_connections,
        "secrets": secrets,
        "log_level": log_level,
        "access_log": access_log or None,
        "discovery": False if no_discovery else None,
        "image_url": image_url,
        "image_kind": image_kind,
        "workers": workers,
        "database_url": database_url,
    }
    try:
        if max_body is not None:
            overrides["max_body_bytes"] = parse_size(max_body, "--max-body")
        settings = Settings.from_env(**overrides)
    except SettingsError as exc:
        raise fail(str(exc), 2) from None

    if settings.requires_token and not settings.token:
        generated = _random.token_urlsafe(24)
        settings = settings.with_changes(token=generated)
        typer.echo(
            f"pluma: {settings.host} is not a loopback address, so every request needs the access "
            f"token. Generated one for this run:\n\n    {generated}\n\n"
            "Clients send it as 'Authorization: Bearer <token>' (or use it as their API key). "
            "Set PLUMA_TOKEN to choose a fixed token.",
            err=True,
        )
    try:
        configure_logging(settings)
    except SettingsError as exc:
        raise fail(str(exc), 2) from None
    _preflight(settings)
    try:
        sock = _bind(settings.host, settings.port)
    except OSError as exc:
        raise fail(
            f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}; "
            "pick another --port or stop whatever uses it",
        ) from None
    bound_port = sock.getsockname()[1]
    _run(settings, sock, bound_port)


def _preflight(settings: Settings) -> None:
    """Fail before binding, with one clear line, on what would otherwise only
    surface as a start-up traceback: an unusable data dir, secret store or
    database (unreachable, a missing or wrong ``PLUMA_SECRET_KEY``), or
    several workers on a secret store each process would have its own copy of."""
    from pluma.server.errors import PlumaError
    from pluma.server.storage.backend import open_storage

    ensure_data_dir(settings.data_dir)
    try:
        storage = open_storage(settings.data_dir, settings.database_url, settings.secret_key)
        try:
            secrets = storage.open_secrets(settings.secrets)
        finally:
            storage.close()
    except PlumaError as exc:
        raise fail(str(exc)) from None
    if settings.workers > 1 and secrets.process_local:
        raise fail(
            f"--workers {settings.workers} cannot share the in-memory secret store "
            f"({secrets.backend}): each worker would keep its own keys, so a key saved through "
            "one would be missing on the others; use --secrets file or a keyring "
            "(--secrets keyring), or run one worker",
            2,
        )


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind((host.strip("[]"), port))
    sock.set_inheritable(True)
    return sock


def _run(settings: Settings, sock: socket.socket, port: int) -> None:
    import uvicorn

    from pluma.server.app import create_app
    from pluma.server.http.protocol import (
        ConnectionLimits,
        default_max_connections,
        protocol_class,
        raise_fd_limit,
    )

    raise_fd_limit()
    limits = ConnectionLimits(
        max_head_bytes=settings.max_header_bytes,
        head_timeout=settings.header_timeout,
        max_connections=settings.max_connections or default_max_connections(),
    )
    logging.getLogger("pluma.server").info(
        "limits: request head %d bytes within %.1f s, %d open connections, body %d bytes, "
        "%d messages and %d JSON objects/arrays per request",
        limits.max_head_bytes,
        limits.head_timeout,
        limits.max_connections,
        settings.max_body_bytes,
        settings.max_messages,
        settings.max_json_nodes,
    )
    shown_host = f"[{settings.host.strip('[]')}]" if ":" in settings.host else settings.host
    settings = settings.with_changes(port=port)
    if settings.workers > 1:
        _run_workers(settings, sock, f"http://{shown_host}:{port}")
        return
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        http=protocol_class(limits),
        log_config=None,
        log_level=settings.log_level.lower(),
        access_log=settings.access_log,
        lifespan="on",
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)

    original_startup = server.startup

    async def startup(sockets: list[socket.socket] | None = None) -> None:
        await original_startup(sockets=sockets)
        # Everything built so far (modules, routes, models) lives as long as the
        # process: moving it out of the collector's view keeps the periodic
        # full collections short, which shows in the tail latency of streams.
        gc.freeze()
        if server.started:
            print(f"pluma: listening on http://{shown_host}:{port}", file=sys.stderr, flush=True)

    server.startup = startup  # type: ignore[method-assign]
    server.run(sockets=[sock])
    if not server.started:
        raise typer.Exit(3)


def _run_workers(settings: Settings, sock: socket.socket, address: str) -> None:
    """``settings.workers`` processes accepting on one socket (uvicorn's
    supervisor). Each builds the app from the environment, so the resolved
    settings (flags included) are handed down as ``PLUMA_*`` variables. State
    is shared through the store, which every process re-reads when another
    changes it: profiles and keys through the data dir's documents (or the
    database), conversations through SQLite (or the database)."""
    import os

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    os.environ.update(settings.to_env())
    config = uvicorn.Config(
        "pluma.server.app:app_from_env",
        factory=True,
        workers=settings.workers,
        http="pluma.server.http.protocol:WorkerHttpProtocol",
        log_config=None,
        log_level=settings.log_level.lower(),
        access_log=settings.access_log,
        lifespan="on",
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
    # Listening before the workers start: a connection made now waits in the
    # backlog for the first worker instead of being refused.
    sock.listen(config.backlog)
    print(
        f"pluma: listening on {address} ({settings.workers} workers)", file=sys.stderr, flush=True
    )
    Multiprocess(config, sockets=[sock]).run()
