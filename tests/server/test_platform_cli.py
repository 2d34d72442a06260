"""The ``pluma`` CLI as a user runs it (subprocesses), on a data dir that a
running server shares."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.server.test_platform_api import UPSTREAM_KEY, models_upstream
from tests.support.scripted_server import ScriptedServer
from tests.support.server_process import PlumaServer, run_cli


@pytest.fixture
def upstream() -> Iterator[ScriptedServer]:
    with ScriptedServer(models_upstream()) as server:
        yield server


def test_connections_keys_and_models_commands(tmp_path: Path, upstream: ScriptedServer) -> None:
    data = tmp_path / "data"

    def cli(*args: str, input: str | None = None) -> tuple[int, str, str]:
        done = run_cli(args, data_dir=data, input=input)
        return done.returncode, done.stdout, done.stderr

    code, out, _ = cli("connections", "list")
    assert code == 0 and "no connections" in out

    code, out, err = cli(
        "connections", "add", "Acme", "--base-url", upstream.url + "/v1", "--model", "gpt-test"
    )
    assert code == 0, err
    assert "added 'Acme'" in out and "active" in out
    code, out, err = cli("connections", "add", "acme", "--base-url", "http://127.0.0.1:9/v1")
    assert code == 1 and "already exists" in err and "Traceback" not in err
    code, out, err = cli(
        "connections",
        "add",
        "Spare",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--header",
        "X-Title: pluma",
    )
    assert code == 0, err

    code, out, err = cli("connections", "test", "Acme")
    assert code == 1 and "key_rejected" in out  # no key yet; the upstream wants one

    code, out, err = cli("keys", "set", "Acme", input=UPSTREAM_KEY + "\n")
    assert code == 0, err
    assert UPSTREAM_KEY not in out + err
    secrets_file = data / "secrets.json"
    assert secrets_file.stat().st_mode & 0o777 == 0o600

    code, out, err = cli("connections", "list", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["Acme"]["has_key"] is True and rows["Acme"]["active"] is True
    assert rows["Spare"]["has_key"] is False
    assert UPSTREAM_KEY not in out

    code, out, err = cli("connections", "test")
    assert code == 0 and "ok" in out and "2 model(s)" in out, out + err
    code, out, err = cli("models")
    assert code == 0 and out.split() == ["gpt-test", "gpt-test-mini"], out + err

    code, out, err = cli("connections", "activate", "spare")
    assert code == 0 and "'Spare' is now the active connection" in out
    code, out, err = cli("connections", "list")
    assert any(line.startswith("* Spare") for line in out.splitlines())

    code, out, err = cli("connections", "remove", "Acme")
    assert code == 0 and "removed 'Acme'" in out
    assert UPSTREAM_KEY not in secrets_file.read_text()  # the key went with it
    code, out, err = cli("connections", "remove", "Acme")
    assert code == 1 and "no connection named" in err

    code, out, err = cli("keys", "set", "Spare", input="\n")
    assert code == 2 and "no key given" in err

    code, out, err = cli(
        "connections",
        "add",
        "Keyed",
        "--base-url",
        upstream.url + "/v1",
        "--api-key-stdin",
        input=UPSTREAM_KEY + "\n",
    )
    assert code == 0, err
    code, out, err = cli("connections", "test", "Keyed")
    assert code == 0 and "key accepted" in out, out + err


def test_cli_changes_reach_a_running_server(tmp_path: Path, upstream: ScriptedServer) -> None:
    with PlumaServer(tmp_path, env={"PLUMA_SECRETS": "file"}) as srv, srv.client() as c:
        assert c.get("/api/connections").json()["connections"] == []
        done = run_cli(
            ["connections", "add", "Acme", "--base-url", upstream.url + "/v1"],
            data_dir=srv.data_dir,
        )
        assert done.returncode == 0, done.stderr
        listed = c.get("/api/connections").json()
        assert [x["name"] for x in listed["connections"]] == ["Acme"]
        assert listed["connections"][0]["has_key"] is False
        done = run_cli(["keys", "set", "Acme"], data_dir=srv.data_dir, input=UPSTREAM_KEY)
        assert done.returncode == 0, done.stderr
        verdict = c.post("/api/connections/Acme/test").json()
        assert verdict["verdict"] == "ok" and verdict["has_key"] is True
        # and the other way round
        pid = c.post(
            "/api/connections", json={"name": "Web", "base_url": "http://127.0.0.1:9/v1"}
        ).json()["id"]
        done = run_cli(["connections", "list", "--json"], data_dir=srv.data_dir)
        assert pid in done.stdout
    assert UPSTREAM_KEY not in srv.log_text()


def test_version_and_help() -> None:
    done = run_cli(["--help"], data_dir=Path("/nonexistent"))
    assert done.returncode == 0
    for command in ("serve", "connections", "keys", "models"):
        assert command in done.stdout


def test_keys_set_prompts_without_echo_on_a_terminal(tmp_path: Path) -> None:
    """A real pseudo-terminal as the controlling tty: the prompt appears, the
    typed key is not echoed, and it lands in the store."""
    import fcntl  # noqa: F401 - POSIX only, like the feature
    import os
    import select
    import subprocess
    import sys

    data = tmp_path / "data"
    assert (
        run_cli(
            ["connections", "add", "Acme", "--base-url", "http://127.0.0.1:9/v1"], data_dir=data
        ).returncode
        == 0
    )
    key = "sk-typed-on-a-tty-1234"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUMA_")}
    env.pop("PYTHON_KEYRING_BACKEND", None)
    env.update({"PLUMA_DATA_DIR": str(data), "PLUMA_SECRETS": "file", "PLUMA_DISCOVERY": "0"})
    # Become a session leader with the pty as controlling terminal, then run pluma.
    launcher = (
        "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
        "os.execv(sys.executable, [sys.executable, '-m', 'pluma', 'keys', 'set', 'Acme'])"
    )
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", launcher], stdin=slave, stdout=slave, stderr=slave,
        start_new_session=True, env=env,
    )  # fmt: skip
    os.close(slave)
    output = b""

    def read_until(needle: bytes | None, timeout: float = 60) -> None:
        nonlocal output
        while needle is None or needle not in output:
            ready, _, _ = select.select([master], [], [], timeout)
            assert ready, f"no output; got {output!r}"
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                return
            if not chunk:
                return
            output += chunk

    try:
        read_until(b"(not echoed): ")
        os.write(master, key.encode() + b"\n")
        read_until(None)
        proc.wait(30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert key.encode() not in output
    assert b"key for 'Acme' saved" in output
    assert key in (data / "secrets.json").read_text()


def test_serve_refuses_with_a_clear_message(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli(["serve", "--port", str(port)], data_dir=tmp_path / "d")
    assert done.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr

    done = run_cli(["serve", "--port", "0", "--secrets", "keyring"], data_dir=tmp_path / "d")
    assert (
        done.returncode == 1 and "--secrets file" in done.stderr and "Traceback" not in done.stderr
    )

    done = run_cli(["serve", "--max-body", "huge"], data_dir=tmp_path / "d")
    assert done.returncode == 2 and "--max-body" in done.stderr


DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "connections.md"


def docs_cli_lines() -> list[str]:
    """The commands of the ``sh`` block under "From the command line" in
    docs/connections.md, comments stripped."""
    section = DOCS_PAGE.read_text().split("## From the command line", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_the_connections_page_cli_example_runs(tmp_path: Path, upstream: ScriptedServer) -> None:
    """Each command of the docs' CLI example, in order, exits 0 (the local
    upstream stands in for both Ollama and OpenAI)."""
    import shlex

    lines = docs_cli_lines()
    assert len(lines) >= 8 and all(line.startswith("pluma ") for line in lines), lines
    local = upstream.url + "/v1"
    for line in lines:
        line = line.replace("http://127.0.0.1:11434/v1", local)
        args = shlex.split(line.replace("https://api.openai.com/v1", local))[1:]
        key = UPSTREAM_KEY + "\n" if args[:2] == ["keys", "set"] else None
        done = run_cli(args, data_dir=tmp_path / "data", input=key)
        assert done.returncode == 0, f"{line}\n{done.stdout}{done.stderr}"
        if args[:2] == ["connections", "test"]:
            assert "ok" in done.stdout.lower(), done.stdout
