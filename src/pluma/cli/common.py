"""Pieces the CLI commands share: data-dir options, opening the connection
manager on the data dir (no server needed; the store is safe to edit while
a server runs), and turning errors into one line and an exit code."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from pluma.server.config import Settings, SettingsError

if TYPE_CHECKING:  # the CLI imports the server only when a command needs it
    from pluma.server.profiles.connections import ConnectionManager
    from pluma.server.services import Services

T = TypeVar("T")

DataDirOption: Any = typer.Option(
    None, "--data-dir", help="Data directory (default: PLUMA_DATA_DIR or the user data dir)."
)
SecretsOption: Any = typer.Option(
    None, "--secrets", help="Secret store: auto, keyring, file or memory (PLUMA_SECRETS)."
)


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"pluma: {message}", err=True)
    return typer.Exit(code)


def settings_for(data_dir: Path | None, secrets: str | None, **more: Any) -> Settings:
    """The settings of a command; the data directory is made sure of here,
    so an unusable one is one line, whatever the command."""
    try:
        settings = Settings.from_env(data_dir=data_dir, secrets=secrets, **more)
    except SettingsError as exc:
        raise fail(str(exc), 2) from None
    ensure_data_dir(settings.data_dir)
    return settings


def ensure_data_dir(path: Path) -> None:
    """Create the data directory (0700) or exit with what is wrong with it."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
    except OSError as exc:
        raise fail(
            f"cannot use data directory {path}: {exc.strerror or exc}; "
            "pick another with --data-dir / PLUMA_DATA_DIR"
        ) from None


def describe_os_error(exc: OSError) -> str:
    """One line for a file-system failure that escaped a command, with what to do."""
    where = f" ({exc.filename})" if exc.filename else ""
    what = f"{exc.strerror or exc}{where}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"{what}: the disk is full; free some space and try again (the stores are "
            "written atomically: what was saved before is intact)"
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{what}: check the permissions, or pick another --data-dir / PLUMA_DATA_DIR"
    if exc.errno in (errno.ENOTDIR, errno.EISDIR, errno.EEXIST):
        return f"{what}: something else is in the way; pick another --data-dir / PLUMA_DATA_DIR"
    return what


def open_services(settings: Settings) -> Services:
    """The same :class:`~pluma.server.services.Services` ``pluma serve``
    opens, over ``settings.data_dir`` (the stores are safe to edit while a
    server runs). An unusable secret store exits with its message."""
    from pluma.server.services import Services
    from pluma.server.storage.secrets import SecretStoreError

    try:
        services = Services.open(settings)
    except SecretStoreError as exc:
        raise fail(str(exc)) from None
    if services.secrets.notice and sys.stderr.isatty():
        typer.echo(f"note: {services.secrets.notice}", err=True)
    return services


def open_manager(settings: Settings) -> ConnectionManager:
    """The chat ConnectionManager of :func:`open_services` (with the fallback
    from PLUMA_BASE_URL, like the server)."""
    return open_services(settings).connections


@contextmanager
def user_errors() -> Iterator[None]:
    """Known failures become ``pluma: <message>`` and exit code 1."""
    from pluma.server.profiles.connections import ConnectionsError
    from pluma.server.storage.documents import StoreError
    from pluma.server.storage.secrets import SecretStoreError

    try:
        yield
    except (ConnectionsError, SecretStoreError, StoreError) as exc:
        raise fail(str(exc)) from None


def run(call: Callable[[], T]) -> T:
    with user_errors():
        return call()


def check_connection(cm: Any, ref: str | None, timeout: float = 10.0) -> tuple[Any, Any]:
    """Ask the upstream of connection ``ref`` (name or id; None: the active
    one) for its models: ``(profile, Verdict)``, see
    :func:`pluma.server.profiles.upstream.check_upstream`. Known failures exit."""
    import asyncio

    import httpx

    from pluma.server.profiles.connections import NoConnection
    from pluma.server.profiles.upstream import check_upstream

    async def go() -> tuple[Any, Any]:
        async with httpx.AsyncClient(timeout=httpx.Timeout(None)) as http:
            profile = cm.lookup(ref) if ref else cm.active()
            if profile is None:
                raise NoConnection()
            provider = cm.provider_for(profile.id, http)
            key = cm.resolve(profile).api_key
            return profile, await check_upstream(provider, key=key, timeout=timeout)

    return run(lambda: asyncio.run(go()))
