"""Fixtures the server tests share: a throwaway PostgreSQL cluster per test
worker (started on first use), for the suites that run against both storage
backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.postgres import Cluster, cluster, postgres_or_skip


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    postgres_or_skip()
    with cluster() as running:
        yield running
