"""The PostgreSQL storage backend against a real PostgreSQL (a throwaway
cluster the tests start on loopback): documents without lost updates across
processes, keys encrypted at rest, a wrong or missing PLUMA_SECRET_KEY
refused before anything is written, migrations, and a database that restarts
mid-run."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import psycopg
import pytest
from tests.support.postgres import Cluster

from pluma.server.storage.documents import JsonStore
from pluma.server.storage.postgres import Database, DatabaseError
from pluma.server.storage.postgres import database as database_module
from pluma.server.storage.postgres.documents import PgDocumentStore
from pluma.server.storage.postgres.secrets import PgSecretStore

KEY = "correct horse battery staple 42"


@pytest.fixture
def url(pg_cluster: Cluster) -> str:
    return pg_cluster.database()


@pytest.fixture
def database(url: str) -> Iterator[Database]:
    db = Database.open(url)
    yield db
    db.close()


def test_the_document_store_answers_like_the_file_store(database: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for store in (PgDocumentStore(database, "connections"), JsonStore(tmp_path / "c.json")):
        assert store.read() == {}
        assert store.stat_key() is None
        assert store.update(lambda doc: doc.setdefault("items", []).append(1)) is None
        first = store.stat_key()
        assert store.read() == {"items": [1]}
        store.update(lambda doc: None)  # no change, no write
        assert store.stat_key() == first
        store.write({"items": [2]})
        assert store.read() == {"items": [2]}
        assert store.stat_key() != first


def test_updates_from_several_processes_at_once_lose_nothing(url: str) -> None:
    code = (
        "import sys\n"
        "from pluma.server.storage.postgres import Database\n"
        "from pluma.server.storage.postgres.documents import PgDocumentStore\n"
        "db = Database.open(sys.argv[1])\n"
        "store = PgDocumentStore(db, 'counter')\n"
        "for _ in range(25):\n"
        "    store.update(lambda doc: doc.__setitem__('n', doc.get('n', 0) + 1))\n"
        "db.close()\n"
    )
    children = [subprocess.Popen([sys.executable, "-c", code, url]) for _ in range(4)]
    assert [child.wait(timeout=120) for child in children] == [0, 0, 0, 0]
    db = Database.open(url)
    try:
        assert PgDocumentStore(db, "counter").read() == {"n": 100}
    finally:
        db.close()


def test_keys_are_encrypted_at_rest_and_bound_to_their_name(database: Database, url: str) -> None:
    store = PgSecretStore(database, KEY)
    store.set("connection:a", "sk-live-abcdefghijklmnop")
    assert store.get("connection:a") == "sk-live-abcdefghijklmnop"
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT name, ciphertext FROM secrets").fetchall()
        dump = b"".join(bytes(c) for _, c in rows)
        assert b"sk-live" not in dump and b"abcdefghijklmnop" not in dump
        assert KEY.encode() not in b"".join(
            bytes(v) for (v,) in conn.execute("SELECT value FROM storage_meta").fetchall()
        )
        # A value copied under another name does not decrypt there.
        conn.execute(
            "INSERT INTO secrets (name, ciphertext) SELECT 'connection:b', ciphertext"
            " FROM secrets WHERE name = 'connection:a'"
        )
    fresh = PgSecretStore(database, KEY)
    with pytest.raises(DatabaseError, match="does not decrypt"):
        fresh.get("connection:b")
    fresh.delete("connection:a")
    assert fresh.get("connection:a") is None


def test_another_instance_with_the_same_key_reads_the_keys(url: str) -> None:
    one, two = Database.open(url), Database.open(url)
    try:
        PgSecretStore(one, KEY).set("connection:x", "sk-shared-0123456789")
        assert PgSecretStore(two, KEY).get("connection:x") == "sk-shared-0123456789"
    finally:
        one.close()
        two.close()


def test_a_wrong_key_is_refused_and_nothing_is_overwritten(database: Database, url: str) -> None:
    PgSecretStore(database, KEY).set("connection:a", "sk-live-abcdefghijklmnop")
    with psycopg.connect(url) as conn:
        before = conn.execute("SELECT name, ciphertext FROM secrets ORDER BY name").fetchall()
        meta = conn.execute("SELECT name, value FROM storage_meta ORDER BY name").fetchall()
    with pytest.raises(DatabaseError, match="does not match") as caught:
        PgSecretStore(database, "another key entirely, 123")
    assert "another key" not in str(caught.value)
    with psycopg.connect(url) as conn:
        assert (
            conn.execute("SELECT name, ciphertext FROM secrets ORDER BY name").fetchall() == before
        )
        assert conn.execute("SELECT name, value FROM storage_meta ORDER BY name").fetchall() == meta


@pytest.mark.parametrize("key", [None, "", "short"])
def test_a_missing_or_short_key_is_refused_with_what_to_do(
    database: Database, key: str | None
) -> None:
    with pytest.raises(DatabaseError, match="PLUMA_SECRET_KEY") as caught:
        PgSecretStore(database, key)
    assert "token_urlsafe" in str(caught.value)


def test_migrations_bring_an_older_schema_up_and_keep_its_data(url: str) -> None:
    older = database_module.MIGRATIONS[:-1]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        for version, sql in older:
            conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
    db = Database.open(url)
    try:
        assert db.schema_version() == database_module.MIGRATIONS[-1][0]
        assert db.migrate() == []  # already current: nothing applied twice
    finally:
        db.close()


def test_a_database_newer_than_this_pluma_is_refused(url: str) -> None:
    Database.open(url).close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations (version) VALUES (999)")
    with pytest.raises(DatabaseError, match="newer than this Pluma"):
        Database.open(url)


def test_an_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(DatabaseError, match="cannot connect") as caught:
        Database.open("postgresql://pluma:hunter2-secret@127.0.0.1:9/none", timeout=1.0)
    assert "hunter2" not in str(caught.value)


def test_a_restart_mid_run_fails_requests_clearly_then_recovers(
    pg_cluster: Cluster, url: str
) -> None:
    db = Database.open(url, timeout=1.0)
    try:
        store = PgDocumentStore(db, "profiles")
        store.write({"a": 1})
        pg_cluster.stop()
        with pytest.raises(DatabaseError, match="unreachable"):
            store.read()
        pg_cluster.start()
        # The pool reconnects by itself (with its own back-off): requests
        # succeed again without reopening anything. Each try waits at most
        # the pool timeout, so this loop is bounded by the deadline.
        deadline = time.monotonic() + 60
        while True:
            try:
                assert store.read() == {"a": 1}
                break
            except DatabaseError:
                assert time.monotonic() < deadline, "the pool never reconnected"
    finally:
        db.close()
