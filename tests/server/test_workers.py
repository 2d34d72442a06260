"""``pluma serve --workers 2``: two processes on one port, each seeing every
change made through the other (or the CLI) on its next request, with nothing
lost under concurrent writes."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import httpx
import pytest
from tests.support.server_process import PlumaServer, run_cli


def _pids(srv: PlumaServer) -> set[int]:
    """The worker pids answering, each request on a new connection (the kernel
    hands new connections to whichever worker accepts first)."""
    seen: set[int] = set()
    for _ in range(200):
        with httpx.Client(base_url=srv.url, headers=srv.headers, timeout=30) as fresh:
            seen.add(fresh.get("/api/health", params={"upstream": "false"}).json()["pid"])
        if len(seen) == 2:
            break
    return seen


def test_two_workers_share_the_port_and_every_change(tmp_path: Path) -> None:
    # Keys in the 0600 file: the test's in-memory keyring is per process.
    with PlumaServer(tmp_path, args=["--workers", "2", "--secrets", "file"]) as srv:
        assert "(2 workers)" in srv.log_text()
        assert len(_pids(srv)) == 2, "both workers should answer"

        # A connection and its key made through one worker...
        with srv.client() as c:
            made = c.post(
                "/api/connections",
                json={"name": "shared", "base_url": "https://api.example.invalid/v1",
                      "default_model": "m", "api_key": "sk-shared-123456789"},
            )  # fmt: skip
            assert made.status_code == 201, made.text
        # ...and one made by the CLI, a third process.
        added = run_cli(
            ["connections", "add", "cli-made", "--base-url", "http://127.0.0.1:9/v1"],
            data_dir=srv.data_dir,
        )
        assert added.returncode == 0, added.stderr

        # Every worker sees both on its next request.
        for _ in range(40):
            with httpx.Client(base_url=srv.url, headers=srv.headers, timeout=30) as fresh:
                listing = fresh.get("/api/connections").json()
            profiles = {p["name"]: p for p in listing["connections"]}
            assert {"shared", "cli-made"} <= set(profiles)
            assert profiles["shared"]["has_key"] is True

        # Conversations written concurrently through both workers: none lost.
        def create(n: int) -> int:
            with httpx.Client(base_url=srv.url, headers=srv.headers, timeout=30) as fresh:
                return fresh.post("/api/conversations", json={"title": f"chat {n}"}).status_code

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(create, range(40)))
        assert set(statuses) == {201}, statuses
        for _ in range(10):
            with httpx.Client(base_url=srv.url, headers=srv.headers, timeout=30) as fresh:
                listed = fresh.get("/api/conversations").json()["conversations"]
            assert sorted(c["title"] for c in listed) == sorted(f"chat {n}" for n in range(40))


def test_settings_survive_the_trip_to_a_worker(tmp_path: Path) -> None:
    """A worker rebuilds the parent's settings from the PLUMA_* variables."""
    from pluma.server.config import Settings

    parent = Settings.from_env(
        {},
        host="127.0.0.1",
        port=8999,
        data_dir=tmp_path,
        token="a-long-token-1234",
        base_url="http://127.0.0.1:9/v1",
        api_key="sk-fallback-123456",
        fallback_model="m",
        allowed_hosts=("pluma.internal",),
        allowed_origins=("https://pluma.internal",),
        secrets="file",
        log_level="debug",
        access_log=True,
        discovery=False,
        workers=3,
        database_url="postgresql://pluma:pw@127.0.0.1:5/pluma",
        secret_key="a secret key of some length",
        max_connections=77,
        header_timeout=2.5,
    )
    assert Settings.from_env(parent.to_env()) == parent


def test_a_header_flood_is_refused_in_every_worker(tmp_path: Path) -> None:
    import socket

    with PlumaServer(tmp_path, args=["--workers", "2", "--secrets", "file"]) as srv:
        port = int(srv.url.rsplit(":", 1)[1])
        for _ in range(6):  # new connections: both workers get some
            with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: " + b"a" * (100 << 10))
                assert s.recv(64).startswith(b"HTTP/1.1 431")


@pytest.mark.parametrize("how", [["--secrets", "memory"], []])
def test_workers_refuse_the_in_memory_secret_store_and_say_what_to_use(
    tmp_path: Path, how: list[str]
) -> None:
    # [] : the harness's default, the in-memory keyring chosen through
    # PYTHON_KEYRING_BACKEND: just as process-local.
    server = PlumaServer(tmp_path, args=["--workers", "2", *how])
    with pytest.raises(RuntimeError):
        server.__enter__()
    log = server.log_text()
    assert "--workers 2 cannot share the in-memory secret store" in log
    assert "--secrets file" in log
    assert "Traceback" not in log
