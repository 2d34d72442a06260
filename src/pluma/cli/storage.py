"""``pluma storage migrate --from DATA_DIR --to postgresql://…``: move an
installation from the files in a data dir to a PostgreSQL database (see
:mod:`pluma.server.storage.migrate`). The secret key comes from
``PLUMA_SECRET_KEY``, never from the command line (where ``ps`` and shell
history would see it)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from pluma.cli.common import fail

storage_app = typer.Typer(help="Move stored data between backends.", no_args_is_help=True)

FromOption: Any = typer.Option(..., "--from", help="The data dir to read (left unchanged).")
ToOption: Any = typer.Option(
    ..., "--to", help="postgresql:// URL of an empty database (PLUMA_SECRET_KEY must be set)."
)


def register(app: typer.Typer) -> None:
    app.add_typer(storage_app, name="storage")


@storage_app.command()
def migrate(
    source: Path = FromOption,
    target: str = ToOption,
    secrets: str = typer.Option("auto", "--secrets", help="Where the source's keys are."),
    timeout: float = typer.Option(10.0, "--timeout", help="Seconds to wait for the database."),
) -> None:
    """Copy profiles, active choices, keys and conversations, then verify the counts."""
    from pluma.server.storage.migrate import migrate as run_migration
    from pluma.server.storage.postgres import DatabaseError
    from pluma.server.storage.postgres.database import safe_url
    from pluma.server.storage.secrets import SecretStoreError

    try:
        report = run_migration(
            source, target, os.environ.get("PLUMA_SECRET_KEY"), secrets, timeout=timeout
        )
    except (DatabaseError, SecretStoreError) as exc:
        raise fail(str(exc)) from None
    for kind, moved in report.moved.items():
        found = report.verified.get(kind, 0)
        mark = "ok" if found == moved else f"MISMATCH: {found} in the database"
        typer.echo(f"{kind.removesuffix('.json'):>20}: {moved} moved ({mark})")
    if not report.ok:
        raise fail("the counts in the database differ from what was moved; see above")
    typer.echo(f"migrated {source} to {safe_url(target)}")
