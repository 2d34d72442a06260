"""No plugin outlives the server: not on a clean stop, not on SIGKILL."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.support.plugin_env import SUPPORT, install_python
from tests.support.server_process import PlumaServer

pytestmark = pytest.mark.xdist_group("plugins")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): look at its state
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def plugin_pid(server: PlumaServer) -> int:
    with server.client() as client:
        (plugin,) = client.get("/api/plugins").json()["plugins"]
    assert plugin["state"] == "running", plugin
    return int(plugin["pid"])


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_no_plugin_outlives_the_server(tmp_path: Path, how: signal.Signals) -> None:
    install_python(tmp_path / "data", "chat", "echo", SUPPORT / "echo_chat.py")
    server = PlumaServer(tmp_path, data_dir=tmp_path / "data").start()
    try:
        pid = plugin_pid(server)
        assert alive(pid)
        assert server.process is not None
        server.process.send_signal(how)
        server.process.wait(10)
        assert wait_gone(pid), f"plugin {pid} outlived the server ({how.name})"
    finally:
        server.stop()
