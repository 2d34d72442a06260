"""``pluma storage migrate``: move an installation from files to PostgreSQL.

What moves, and how each is verified afterwards (counts read back from the
target):

| what                              | from                              | to                        |
|-----------------------------------|-----------------------------------|---------------------------|
| chat connections + active choice  | ``connections.json``              | ``documents`` row          |
| image connections + active choice | ``image_connections.json``        | ``documents`` row          |
| their API keys                    | the OS keyring / ``secrets.json`` | ``secrets``, encrypted     |
| conversations and their messages  | ``conversations.sqlite3``         | ``conversations``, ``messages`` (ids, titles, timestamps, every branch, the branch shown, generation settings kept) |
| the gallery (records and bytes)   | ``images/<id>.json`` + the image  | ``images`` (ids and URLs kept) |

The source is only read. The target must be empty (no profiles, keys,
conversations or images yet), so running it twice cannot duplicate anything.
Images are copied a few at a time (each batch one transaction), so a large
gallery never sits in memory whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from pluma.server.storage.conversations import FILENAME as CONVERSATIONS_FILE
from pluma.server.storage.conversations import ConversationStore
from pluma.server.storage.documents import JsonStore
from pluma.server.storage.postgres import Database, DatabaseError
from pluma.server.storage.postgres.conversations import PgConversationStore
from pluma.server.storage.postgres.documents import PgDocumentStore
from pluma.server.storage.postgres.gallery import PgGallery
from pluma.server.storage.postgres.secrets import PgSecretStore
from pluma.server.storage.secrets import (
    connection_secret,
    image_connection_secret,
    open_secret_store,
)

DOCUMENTS = (
    ("connections.json", connection_secret),
    ("image_connections.json", image_connection_secret),
)


@dataclass
class Report:
    """What was moved: counts by kind, as read back from the target."""

    moved: dict[str, int] = field(default_factory=dict)
    verified: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.moved == self.verified


def migrate(
    data_dir: Path,
    url: str,
    secret_key: str | None,
    secrets_mode: str = "auto",
    *,
    timeout: float = 10.0,
) -> Report:
    """Copy everything in ``data_dir`` to the database at ``url``; raises
    :class:`DatabaseError` (nothing written) when the target is not empty."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DatabaseError(f"{data_dir} is not a directory; give the data dir to migrate from")
    database = Database.open(url, timeout=timeout)
    try:
        return _migrate(data_dir, database, secret_key, secrets_mode)
    finally:
        database.close()


def _migrate(data_dir: Path, database: Database, secret_key: str | None, mode: str) -> Report:
    target_secrets = PgSecretStore(database, secret_key)
    target_conversations = PgConversationStore(database)
    _require_empty(database)
    source_secrets = open_secret_store(mode, data_dir)
    report = Report()
    keys = 0
    for file_name, secret_name in DOCUMENTS:
        doc: Any = JsonStore(data_dir / file_name).read()
        profiles = doc.get("connections", []) if isinstance(doc, dict) else []
        if isinstance(doc, dict) and doc:
            PgDocumentStore(database, file_name.removesuffix(".json")).write(doc)
        report.moved[file_name] = len(profiles)
        for profile in profiles:
            key = source_secrets.get(secret_name(str(profile.get("id"))))
            if key:
                target_secrets.set(secret_name(str(profile["id"])), key)
                keys += 1
    report.moved["keys"] = keys
    conversations = messages = 0
    if (data_dir / CONVERSATIONS_FILE).exists():
        source = ConversationStore.open(data_dir)
        try:
            for summary in source.list():
                conversation = source.get(summary.id)
                target_conversations.insert(
                    conversation, title_is_auto=source.title_is_auto(summary.id)
                )
                conversations += 1
                messages += len(conversation.nodes)
        finally:
            source.close()
    report.moved["conversations"] = conversations
    report.moved["messages"] = messages
    report.moved["images"] = _move_gallery(data_dir, PgGallery(database))
    report.verified = _counts(database)
    return report


IMAGES_PER_TRANSACTION = 16
"""At 0.5–3 MB an image, a transaction of at most ~50 MB."""


def _move_gallery(data_dir: Path, target: PgGallery) -> int:
    from pluma.server.storage.gallery import Gallery

    source = Gallery(data_dir)
    moved = 0
    pending: list[tuple[dict[str, Any], bytes]] = []
    for image_id in source.ids():
        stored = source.get(image_id)
        if stored is None:  # a record without its bytes: the file gallery does not list it either
            continue
        pending.append((stored.record, stored.read()))
        if len(pending) == IMAGES_PER_TRANSACTION:
            target.put_sync(pending)
            moved += len(pending)
            pending = []
    if pending:
        target.put_sync(pending)
        moved += len(pending)
    return moved


def _counts(database: Database) -> dict[str, int]:
    counts: dict[str, int] = {}
    for file_name, _ in DOCUMENTS:
        doc = PgDocumentStore(database, file_name.removesuffix(".json")).read()
        counts[file_name] = len(doc.get("connections", [])) if isinstance(doc, dict) else 0

    async def count(conn: psycopg.AsyncConnection[Any]) -> tuple[int, ...]:
        cur = await conn.execute(
            "SELECT (SELECT COUNT(*) FROM secrets), (SELECT COUNT(*) FROM conversations),"
            " (SELECT COUNT(*) FROM messages), (SELECT COUNT(*) FROM images)"
        )
        row = await cur.fetchone()
        assert row is not None
        return tuple(int(v) for v in row)

    keys, conversations, messages, images = database.run_sync(count)
    counts.update(keys=keys, conversations=conversations, messages=messages, images=images)
    return counts


def _require_empty(database: Database) -> None:
    counts = _counts(database)
    held = {kind: n for kind, n in counts.items() if n}
    if held:
        described = ", ".join(f"{n} {kind.removesuffix('.json')}" for kind, n in held.items())
        raise DatabaseError(
            f"the target database already holds data ({described}); migrate into an empty "
            "database so nothing is duplicated (nothing was written)"
        )
