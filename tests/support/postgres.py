"""A throwaway PostgreSQL cluster on loopback, started by the tests themselves.

``initdb`` into a temp dir and ``pg_ctl start`` on a free port, trust
authentication for one user, then ``pg_ctl stop`` at the end. ``initdb``
refuses to run as root, so as root the cluster directory is handed to the
``postgres`` system user and the tools run as that user (``runuser``).

When the server binaries are missing, :func:`postgres_or_skip` skips with the
exact command that installs them (``make test`` installs them when run as root:
``scripts/ensure-postgres.sh``).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

INSTALL = "sudo apt-get install postgresql"


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """A running cluster; :meth:`database` makes a fresh database in it."""

    bin_dir: Path
    data: Path
    socket_dir: Path
    port: int
    user: str
    as_postgres: bool

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=60)

    def database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.data / "log"), "-w",
            "start",
        )  # fmt: skip

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def cluster() -> Iterator[Cluster]:
    bin_dir = _bin_dir()
    if bin_dir is None:
        raise FileNotFoundError(f"PostgreSQL's initdb is not installed; install it with: {INSTALL}")
    as_postgres = os.geteuid() == 0
    root = Path(tempfile.mkdtemp(prefix="pluma-pg-"))
    try:
        data, sockets = root / "data", root / "sock"
        sockets.mkdir()
        if as_postgres:
            shutil.chown(root, "postgres")
            shutil.chown(sockets, "postgres")
            root.chmod(0o700)
        made = Cluster(bin_dir, data, sockets, _free_port(), "pluma", as_postgres)
        made._run("initdb", "-D", str(data), "-A", "trust", "-U", "pluma", "--no-sync")
        made.start()
        try:
            yield made
        finally:
            made.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def postgres_or_skip() -> None:
    if _bin_dir() is None:
        pytest.skip(
            f"PostgreSQL's initdb and pg_ctl are not installed; install them with: {INSTALL}"
        )
