"""Gateways under test, each a real subprocess pointed at the bench upstream.

* ``pluma_server``: ``pluma serve`` configured through its ``PLUMA_*``
  environment (boot fallback profile from ``PLUMA_BASE_URL``, a throw-away
  data dir, in-memory secrets, no discovery probes).
* ``litellm_proxy``: the LiteLLM proxy with a one-model config, as in
  /work/shared/NOTES.md (local price map, master key).

Both wait until the server answers its health route, with a deadline; both
stop (terminate, then kill) when their ``with`` block ends. Logs go to a file
in the temp dir and are quoted when a server fails to start.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from common import VENV_BIN, free_port, stop_process

LITELLM_KEY = "sk-bench-master-key"


@dataclass
class Server:
    name: str
    port: int
    pid: int
    how: str
    """The command line used (for the report)."""
    headers: dict[str, str]
    """Headers each request needs (auth)."""
    process: subprocess.Popen[bytes] | None = None


class StartError(RuntimeError):
    pass


def _wait_ready(
    proc: subprocess.Popen[bytes], url: str, log: Path, deadline_s: float, headers: dict[str, str]
) -> None:
    """Poll ``url`` until it answers 2xx, the process exits, or the deadline passes.

    A readiness poll is the only signal an external server gives; 0.1 s steps
    keep start-up detection quick without busy-waiting."""
    deadline = time.monotonic() + deadline_s
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise StartError(f"exited with code {proc.returncode}:\n{_tail(log)}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url, headers=headers).status_code < 300:
                    return
            time.sleep(0.1)
    raise StartError(f"not ready after {deadline_s:g} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 25) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join("    " + line for line in text[-lines:])


@contextlib.contextmanager
def pluma_server(
    upstream_port: int, runner: list[str] | None = None, *, workers: int = 1
) -> Iterator[Server]:
    """A real ``pluma serve`` whose fallback profile is the bench upstream.

    ``runner`` runs the same command another way: ``[python, -c, code]``
    where ``code`` runs ``pluma serve`` from ``sys.argv[1:]`` (the profiler's
    harness does). ``workers`` is ``--workers``.
    """
    with tempfile.TemporaryDirectory(prefix="pluma-bench-") as tmp:
        port = free_port()
        env = {
            **os.environ,
            "PLUMA_HOST": "127.0.0.1",
            "PLUMA_PORT": str(port),
            "PLUMA_BASE_URL": f"http://127.0.0.1:{upstream_port}/v1",
            "PLUMA_COMPAT": "openai",
            "PLUMA_DATA_DIR": str(Path(tmp) / "data"),
            # Several workers refuse the in-memory store (each would have its
            # own keys); the bench's fallback profile reads no key either way.
            "PLUMA_SECRETS": "memory" if workers == 1 else "file",
            "PLUMA_DISCOVERY": "0",
            "PLUMA_LOG_LEVEL": "warning",
            "PLUMA_WORKERS": str(workers),
        }
        cmd = [*(runner or []), str(VENV_BIN / "pluma"), "serve"]
        log = Path(tmp) / "pluma.log"
        with open(log, "wb") as fh:
            proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)
        try:
            _wait_ready(proc, f"http://127.0.0.1:{port}/api/health", log, 60.0, {})
            how = "pluma serve" + (f" --workers {workers}" if workers > 1 else "")
            yield Server("pluma", port, proc.pid, how, {}, proc)
        finally:
            stop_process(proc)


@contextlib.contextmanager
def litellm_proxy(upstream_port: int, model: str) -> Iterator[Server]:
    """The LiteLLM proxy (default settings) serving ``model`` from the bench upstream."""
    exe = VENV_BIN / "litellm"
    if not exe.exists():
        raise StartError(
            "the litellm proxy is not installed: run `.venv/bin/pip install -e '.[bench]'`"
        )
    with tempfile.TemporaryDirectory(prefix="litellm-bench-") as tmp:
        port = free_port()
        config = Path(tmp) / "config.yaml"
        config.write_text(
            "model_list:\n"
            f"  - model_name: {model}\n"
            "    litellm_params:\n"
            f"      model: openai/{model}\n"
            f"      api_base: http://127.0.0.1:{upstream_port}/v1\n"
            "      api_key: bench\n"
        )
        env = {
            **os.environ,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_MASTER_KEY": LITELLM_KEY,
        }
        cmd = [str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
        log = Path(tmp) / "litellm.log"
        with open(log, "wb") as fh:
            proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=tmp)
        auth = {"Authorization": f"Bearer {LITELLM_KEY}"}
        try:
            _wait_ready(proc, f"http://127.0.0.1:{port}/health/liveliness", log, 90.0, auth)
            yield Server("litellm", port, proc.pid, "litellm --config … (default settings)", auth)
        finally:
            stop_process(proc)
