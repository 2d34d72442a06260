"""The ``pluma`` command.

Sub-commands live in modules of this package, listed once in
:data:`COMMAND_MODULES`; each exposes ``register(app: typer.Typer)``, so
adding a command is adding a name.
"""

from __future__ import annotations

import importlib

import typer

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
)


@app.command()
def version() -> None:
    """Print the version."""
    from pluma import __version__

    typer.echo(__version__)


for _name in COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_name}").register(app)


def main() -> None:
    app()
