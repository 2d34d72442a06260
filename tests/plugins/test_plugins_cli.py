"""`pluma plugins check PATH` and `pluma plugins list`, as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.plugin_env import ROOT, SUPPORT, install_python, install_script
from tests.support.server_process import run_cli

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


def test_providers_lists_the_subprocess_plugins(tmp_path: Path) -> None:
    data = tmp_path / "data"
    echo = install_python(data, "chat", "echo", SUPPORT / "echo_chat.py")
    images = install_python(data, "image", "slow-images", SUPPORT / "slow_image.py")
    old = install_script(data, "chat", "old", "#!/bin/sh\necho '1|2|unix|/tmp/x|grpc|'\nsleep 30\n")
    env = {"PYTHONPATH": str(ROOT)}
    result = run_cli(["providers"], data_dir=data, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:5] == ["anthropic", "gemini", "ollama", "openai", "openai-responses"]
    (echo_line,) = [line for line in lines if line.startswith("echo ")]
    assert f"(chat plugin 'Echo' v1.0.0, works: {echo})" in echo_line
    (old_line,) = [line for line in lines if line.startswith("old ")]
    assert (
        "chat plugin, failed, not described: bad handshake" in old_line
        and "protocol v2" in old_line
    )
    assert str(old) in old_line
    head = lines.index("image plugins (kinds for image connections):")
    (image_line,) = lines[head + 1 :]
    assert image_line.startswith("slow-images ")
    assert f"(image plugin 'Slow Test Images' v1.0.0, works: {images})" in image_line
    assert "Traceback" not in result.stderr and "bad handshake" not in result.stderr


def test_providers_refuses_an_unsafe_plugin_without_starting_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    mark = tmp_path / "started"
    path = install_script(data, "chat", "loose", f"#!/bin/sh\ntouch {mark}\nsleep 30\n")
    path.chmod(0o777)
    result = run_cli(["providers"], data_dir=data)
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("loose ")]
    assert "not described: refused:" in line and "chmod go-w" in line
    assert not mark.exists()
