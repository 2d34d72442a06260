"""The ``pluma`` command.

Sub-commands live in modules of this package, listed once in
:data:`COMMAND_MODULES`; each exposes ``register(app: typer.Typer)``. A module
that does not exist (yet) is skipped, so adding a command is adding a name.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import typer

app = typer.Typer(
    help="Pluma: LLM provider layer and self-hosted chat server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

COMMAND_MODULES: tuple[str, ...] = ("serve", "connections", "keys", "models", "chat", "images")


def _optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise


@app.command()
def version() -> None:
    """Print the version."""
    from pluma import __version__

    typer.echo(__version__)


for _name in COMMAND_MODULES:
    _module = _optional(f"{__name__}.{_name}")
    if _module is not None:
        _module.register(app)


def main() -> None:
    app()
