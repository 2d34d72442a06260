"""The ``pluma`` command.

Sub-commands live in modules of this package, listed once in
:data:`COMMAND_MODULES`; each exposes ``register(app: typer.Typer)``, so
adding a command is adding a name.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import typer

from pluma.cli.common import DataDirOption, settings_for

app = typer.Typer(
    help="Pluma: LLM provider layer and self-hosted chat server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

COMMAND_MODULES: tuple[str, ...] = (
    "serve",
    "connections",
    "keys",
    "models",
    "chat",
    "images",
    "storage",
    "plugins",
)


def _print_version(value: bool) -> None:
    if value:
        from pluma import __version__

        typer.echo(f"pluma {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: bool = typer.Option(
        False,
        "--version",
        "-V",
        help="Print the version and exit.",
        callback=_print_version,
        is_eager=True,
    ),
) -> None:
    """Pluma: LLM provider layer and self-hosted chat server."""


@app.command()
def version() -> None:
    """Print the version."""
    _print_version(True)


@app.command()
def providers(
    data_dir: Path | None = DataDirOption,
) -> None:
    """List the provider kinds (``compat`` values) a connection can use:
    built-in, from installed packages, and the subprocess plugins in
    ``<datadir>/plugins/chat|image/``; no server needed."""
    from pluma.cli.plugins import describe_plugins
    from pluma.server.chat.providers.base import provider_kinds
    from pluma.server.profiles.connections import load_providers

    problems = load_providers()
    kinds = provider_kinds()  # before the plugins register theirs
    settings = settings_for(data_dir, None)
    chat, image = describe_plugins(settings.data_dir)
    for kind in kinds:
        typer.echo(kind)
    for line in chat:
        typer.echo(line)
    if image:
        typer.echo("\nimage plugins (kinds for image connections):")
        for line in image:
            typer.echo(line)
    for problem in problems:
        typer.echo(f"warning: {problem}", err=True)


for _name in COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_name}").register(app)


def main() -> None:
    """Run a command; a failure no command handled itself is one line on
    stderr and exit status 1, never a traceback (a full disk, a data
    directory that is a file, a store that cannot be read)."""
    try:
        app()
    except Exception as exc:
        message = _known_failure(exc)
        if message is None:
            raise
        typer.echo(f"pluma: {message}", err=True)
        sys.exit(1)


def _known_failure(exc: Exception) -> str | None:
    """The one line for a failure a user can act on (None: a bug, shown in full)."""
    from pluma.cli.common import describe_os_error
    from pluma.server.profiles.connections import ConnectionsError
    from pluma.server.storage.documents import StoreError
    from pluma.server.storage.secrets import SecretStoreError

    if isinstance(exc, OSError):
        return describe_os_error(exc)
    if isinstance(exc, ConnectionsError | SecretStoreError | StoreError):
        return str(exc)
    return None
