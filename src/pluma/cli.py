"""The ``pluma`` command (placeholder until the server lands)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Pluma: LLM provider layer and self-hosted chat server.", no_args_is_help=True)


@app.command()
def serve() -> None:
    """Run the Pluma server."""
    typer.echo("pluma serve: the server is not built yet")


@app.command()
def version() -> None:
    """Print the version."""
    from pluma import __version__

    typer.echo(__version__)


def main() -> None:
    app()
