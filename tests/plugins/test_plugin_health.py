"""Plugins that are refused or fail show in /api/health and /api/plugins."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.plugin_env import install_script
from tests.support.server_process import PlumaServer

pytestmark = pytest.mark.xdist_group("plugins")


def test_refused_and_failed_plugins_are_problems(tmp_path: Path) -> None:
    data = tmp_path / "data"
    open_to_all = install_script(data, "chat", "open", "#!/bin/sh\nexit 0\n")
    open_to_all.chmod(0o777)
    install_script(data, "image", "late", "#!/bin/sh\nexec sleep 60\n")
    with PlumaServer(tmp_path, data_dir=data, env={}) as server, server.client() as http:
        health = http.get("/api/health", params={"upstream": "false"}).json()
        listed = {p["name"]: p for p in http.get("/api/plugins").json()["plugins"]}
    assert health["status"] in ("degraded", "setup")
    problems = "\n".join(health["problems"])
    assert "plugin chat/open: refused:" in problems and "chmod go-w" in problems
    assert "plugin image/late: no handshake within" in problems
    assert listed["open"]["state"] == "failed" and listed["late"]["state"] == "failed"
