"""Fixtures the server tests share: a throwaway PostgreSQL cluster per test
worker (started on first use), for the suites that run against both storage
backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.postgres import Cluster, cluster, postgres_or_skip

from pluma.server.storage.conversations import ConversationStore


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    postgres_or_skip()
    with cluster() as running:
        yield running


@pytest.fixture(params=["sqlite", "postgres"])
def conversation_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A conversation store on each backend: the same tests hold for both."""
    if request.param == "sqlite":
        store = ConversationStore.open(tmp_path)
        yield store
        store.close()
        return
    from pluma.server.storage.postgres import Database
    from pluma.server.storage.postgres.conversations import PgConversationStore

    database = Database.open(request.getfixturevalue("pg_cluster").database())
    yield PgConversationStore(database)
    database.close()
