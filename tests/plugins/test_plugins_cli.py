"""`pluma plugins check PATH` and `pluma plugins list`, as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.plugin_env import SUPPORT, install_python, install_script

pytestmark = pytest.mark.xdist_group("plugins")


def pluma(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pluma", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def test_check_a_working_plugin(tmp_path: Path) -> None:
    path = install_python(tmp_path / "data", "chat", "echo", SUPPORT / "echo_chat.py")
    result = pluma("plugins", "check", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok  handshake" in result.stdout and "mutual TLS" in result.stdout
    assert "chat plugin, compat 'echo' (Echo), version 1.0.0" in result.stdout
    assert "is a working Pluma chat plugin" in result.stdout


def test_check_says_what_is_wrong(tmp_path: Path) -> None:
    path = install_script(
        tmp_path / "data", "chat", "old", "#!/bin/sh\necho '1|2|unix|/tmp/x|grpc|'\nsleep 30\n"
    )
    result = pluma("plugins", "check", str(path), cwd=tmp_path)
    assert result.returncode == 1
    assert "FAIL handshake" in result.stdout and "protocol v2" in result.stdout


def test_list_shows_each_plugin_and_its_state(tmp_path: Path) -> None:
    data = tmp_path / "data"
    install_python(data, "chat", "echo", SUPPORT / "echo_chat.py")
    install_script(data, "image", "broken", "#!/bin/sh\nexit 4\n")
    result = pluma("plugins", "list", "--data-dir", str(data), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    echo = next(line for line in lines if line.startswith("echo"))
    assert "chat" in echo and "running" in echo and "echo v1.0.0" in echo
    broken = next(line for line in lines if line.startswith("broken"))
    assert "image" in broken and "failed" in broken
    assert any("exited (4) before its handshake" in line for line in lines)
