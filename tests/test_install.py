"""``make serve`` installs the runtime dependencies only; the test toolchain
comes with the targets that run it. Checked on make's own plan (``make -n``,
nothing installed) and on what the server imports when it starts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEV_ONLY = ("openai", "anthropic", "pytest", "playwright", "mypy", "ruff", "trustme")


def plan(target: str, venv: Path, *more: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    # Run as a top-level make even under `make test`: the parent's MAKELEVEL
    # and MAKEFLAGS would make it print "Entering directory" lines.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", target, f"VENV={venv}", *more],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_serve_installs_the_runtime_only_and_passes_args(tmp_path: Path) -> None:
    serve = plan("serve", tmp_path / "venv", "ARGS=--port 9000")
    assert "pip install --quiet -e .\n" in serve
    assert "[dev]" not in serve
    assert serve.rstrip().endswith("bin/pluma serve --port 9000")


@pytest.mark.parametrize("target", ["test", "unit", "lint", "typecheck"])
def test_the_test_targets_install_the_dev_tools(tmp_path: Path, target: str) -> None:
    assert "-e '.[dev]'" in plan(target, tmp_path / "venv")


def test_the_server_starts_without_any_dev_package() -> None:
    """Building the app and loading every command imports no test tool, so
    the runtime install is enough for ``pluma serve``."""
    code = (
        "import sys\n"
        "import pluma.cli\n"
        "from pluma.server.app import create_app\n"
        "from pluma.server.config import Settings\n"
        "create_app(Settings.from_env({}))\n"
        f"print(sorted(m for m in {DEV_ONLY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
