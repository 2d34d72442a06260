"""The CLI as a new user meets it: ``pluma --version``, ``pluma providers``
without a server, and one clean line (never a traceback) for a data
directory that cannot be used, a store that cannot be read and a full disk.
Every case runs the real ``pluma`` in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tests.support.server_process import run_cli

from pluma import __version__

COMMANDS = [
    ["connections", "list"],
    ["connections", "add", "x", "--base-url", "http://127.0.0.1:9/v1"],
    ["connections", "remove", "x"],
    ["connections", "activate", "x"],
    ["connections", "test"],
    ["keys", "set", "x"],
    ["keys", "clear", "x"],
    ["models"],
    ["chat", "hi"],
    ["images", "list"],
    ["images", "connections", "list"],
    ["serve", "--port", "0"],
]


def clean_failure(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pluma: "), result.stderr
    return lines[0]


def test_version_and_providers_need_no_server(tmp_path: Path) -> None:
    for args in (["--version"], ["-V"], ["version"]):
        result = run_cli(args, data_dir=tmp_path / "data")
        assert result.returncode == 0 and result.stdout == f"pluma {__version__}\n"
    result = run_cli(["providers"], data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["anthropic", "gemini", "ollama", "openai", "openai-responses"]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_data_dir_under_a_regular_file_is_one_line(tmp_path: Path, args: list[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    bad = blocker / "data"
    result = run_cli([*args, "--data-dir", str(bad)], data_dir=bad, input="sk-key\n")
    line = clean_failure(result)
    assert f"cannot use data directory {bad}" in line and "--data-dir" in line


def test_an_unreadable_secret_store_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run_cli(["connections", "add", "x", "--base-url", "http://127.0.0.1:9/v1"],
                   data_dir=data).returncode == 0  # fmt: skip
    (data / "secrets.json").mkdir()  # a file that cannot be read, even by root
    for args in (["connections", "list"], ["keys", "set", "x"], ["chat", "hi"]):
        line = clean_failure(run_cli(args, data_dir=data, input="sk-key\n"))
        assert "secrets.json is unreadable" in line


DRIVER = """
import errno, os, sys

def full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

where = sys.argv[1]
if where == "store":
    os.fsync = full  # the store's write: data written, not yet on disk
elif where == "lock":
    real_open = os.open
    def open_(path, *args, **kwargs):
        if str(path).endswith(".lock"):
            full()
        return real_open(path, *args, **kwargs)
    os.open = open_
sys.argv = ["pluma", *sys.argv[2:]]
from pluma.cli import main
main()
"""


@pytest.mark.parametrize("where", ["store", "lock"])
def test_a_full_disk_is_one_line_and_keeps_what_was_saved(tmp_path: Path, where: str) -> None:
    """ENOSPC injected at the write (wrapped by the store) and at the lock
    file (raised raw): one line each, and connections.json is intact."""
    data = tmp_path / "data"
    assert run_cli(["connections", "add", "first", "--base-url", "http://127.0.0.1:9/v1"],
                   data_dir=data).returncode == 0  # fmt: skip
    saved = (data / "connections.json").read_text()
    driver = tmp_path / "driver.py"
    driver.write_text(textwrap.dedent(DRIVER))
    result = subprocess.run(
        [sys.executable, str(driver), where, "connections", "add", "second",
         "--base-url", "http://127.0.0.1:9/v1", "--data-dir", str(data), "--secrets", "file"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    line = clean_failure(result)
    assert "No space left on device" in line
    if where == "lock":
        assert "the disk is full" in line
    assert (data / "connections.json").read_text() == saved
    assert [c["name"] for c in json.loads(saved)["connections"]] == ["first"]
