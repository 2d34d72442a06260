"""``pluma storage migrate``: a data dir with profiles, keys, conversations
and gallery images moved into a real PostgreSQL database by the real CLI, counts verified; a
second run into the same database refused; a missing secret key refused."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from tests.support.fake_a1111 import png
from tests.support.postgres import Cluster

from pluma import llm
from pluma.server.images import GeneratedImage, ImageResult
from pluma.server.profiles.connections import ConnectionManager, load_providers
from pluma.server.storage.conversations import ConversationStore
from pluma.server.storage.gallery import Gallery
from pluma.server.storage.postgres import Database
from pluma.server.storage.postgres.conversations import PgConversationStore
from pluma.server.storage.postgres.documents import PgDocumentStore
from pluma.server.storage.postgres.gallery import PgGallery
from pluma.server.storage.postgres.secrets import PgSecretStore
from pluma.server.storage.secrets import connection_secret, open_secret_store

KEY = "a long operator secret for tests"


def _data_dir(root: Path) -> Path:
    data = root / "data"
    load_providers()
    secrets = open_secret_store("file", data)
    manager = ConnectionManager(data, secrets)
    manager.create(
        name="work", base_url="https://api.example.invalid/v1", api_key="sk-work-123456789"
    )
    manager.create(name="local", base_url="http://127.0.0.1:9/v1", activate=True)
    store = ConversationStore.open(data)
    try:
        first = store.create(system_prompt="Be brief.")
        store.add_message(first.id, llm.UserMessage("What is 2+2?"))
        store.add_message(
            first.id,
            llm.AssistantMessage(
                content=[llm.ThinkingContent("add", signature="sig-9"), llm.TextContent("4")],
                protocol="anthropic-messages",
            ),
        )
        named = store.create(title="Named by hand")
        store.add_message(named.id, llm.UserMessage("hello"))
    finally:
        store.close()
    gallery = Gallery(data)
    gallery.save_sync(ImageResult([GeneratedImage(png(8, 8))], {"seed": 1}), {"name": "sd"})
    gallery.save_sync(ImageResult([GeneratedImage(png(9, 9)), GeneratedImage(png(7, 7))], {}))
    return data


def _migrate(data: Path, url: str, key: str | None, *more: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PLUMA_SECRET_KEY"}
    if key is not None:
        env["PLUMA_SECRET_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "pluma", "storage", "migrate", "--from", str(data), "--to", url,
         "--secrets", "file", *more],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


def test_migrate_moves_everything_and_verifies_the_counts(
    tmp_path: Path, pg_cluster: Cluster
) -> None:
    data = _data_dir(tmp_path)
    url = pg_cluster.database()
    done = _migrate(data, url, KEY)
    assert done.returncode == 0, done.stderr
    assert "MISMATCH" not in done.stdout
    assert "connections: 2 moved (ok)" in done.stdout
    assert "keys: 1 moved (ok)" in done.stdout
    assert "conversations: 2 moved (ok)" in done.stdout
    assert "messages: 3 moved (ok)" in done.stdout
    assert "images: 3 moved (ok)" in done.stdout

    db = Database.open(url)
    try:
        doc = PgDocumentStore(db, "connections").read()
        names = {p["name"]: p for p in doc["connections"]}
        assert set(names) == {"work", "local"}
        assert doc["active"] == names["local"]["id"]
        key = PgSecretStore(db, KEY).get(connection_secret(names["work"]["id"]))
        assert key == "sk-work-123456789"
        conversations = PgConversationStore(db)
        source = ConversationStore.open(data)
        try:
            for summary in source.list():
                moved = conversations.get(summary.id)
                assert moved.summary == summary
                assert moved.messages == source.get(summary.id).messages
        finally:
            source.close()
        # The hand-given title stays; the automatic one keeps following.
        assert {s.title for s in conversations.list()} == {"Named by hand", "What is 2+2?"}
        # The gallery: the same ids, order, records and bytes.
        files = Gallery(data)
        images = PgGallery(db)
        moved_records, total = asyncio.run(images.list())
        assert total == 3
        assert moved_records == files.list_sync()[0]
        for record in moved_records:
            stored = asyncio.run(images.image(record["id"]))
            original = files.get(record["id"])
            assert stored is not None and original is not None
            assert stored.read() == original.read()
    finally:
        db.close()
    with psycopg.connect(url) as conn:
        raw = b"".join(bytes(c) for (c,) in conn.execute("SELECT ciphertext FROM secrets"))
    assert b"sk-work" not in raw

    again = _migrate(data, url, KEY)
    assert again.returncode == 1
    assert "already holds data" in again.stderr
    assert "Traceback" not in again.stderr


def test_migrate_without_a_secret_key_says_what_to_set(tmp_path: Path, pg_cluster: Cluster) -> None:
    data = _data_dir(tmp_path)
    url = pg_cluster.database()
    done = _migrate(data, url, None)
    assert done.returncode == 1
    assert "PLUMA_SECRET_KEY is not set" in done.stderr
    assert "Traceback" not in done.stderr
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT COUNT(*) FROM conversations").fetchone() == (0,)


@pytest.mark.parametrize(
    "url", ["mysql://x@127.0.0.1/db", "postgresql://u:pw-secret@127.0.0.1:9/x"]
)
def test_a_bad_target_is_a_clean_error_without_the_password(tmp_path: Path, url: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    done = _migrate(data, url, KEY, "--timeout", "1")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "pw-secret" not in done.stderr
