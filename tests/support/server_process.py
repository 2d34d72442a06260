"""A real ``pluma serve`` subprocess for tests.

    from tests.support.server_process import PlumaServer

    with PlumaServer(tmp_path, args=["--base-url", upstream.url + "/v1"]) as srv:
        httpx.get(srv.url + "/api/health", headers=srv.headers)
        openai.OpenAI(base_url=srv.url + "/v1", api_key=srv.api_key)
        assert "secret" not in srv.log_text()

What it does:

- runs ``python -m pluma serve --host 127.0.0.1 --port 0 --data-dir <tmp>/data``
  (port 0: the server binds a free port itself and prints
  ``pluma: listening on http://127.0.0.1:PORT``, which is waited for);
- selects the in-memory keyring (``PYTHON_KEYRING_BACKEND=
  pluma.server.storage.secrets.MemoryKeyring``), clears every ``PLUMA_*`` variable of
  the calling environment, then applies ``env``;
- sends stdout and stderr to a log file (no pipe to fill up), readable with
  :meth:`log_text`;
- waits until ``GET /api/health?upstream=false`` answers 200, and on exit
  sends SIGTERM (SIGKILL after ``stop_timeout``).

``token``: pass one to start with ``PLUMA_TOKEN`` set; :attr:`headers` then
carries it, and :attr:`api_key` is what SDK clients should use as their key.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

MEMORY_KEYRING = "pluma.server.storage.secrets.MemoryKeyring"
_LISTENING = re.compile(r"pluma: listening on (http://\S+)")
_counter = itertools.count(1)


class ServerStartError(RuntimeError):
    pass


class PlumaServer:
    def __init__(
        self,
        tmp_path: Path,
        *,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        token: str | None = None,
        host: str = "127.0.0.1",
        data_dir: Path | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        wait_healthy: bool = True,
    ) -> None:
        n = next(_counter)
        self.tmp_path = Path(tmp_path)
        self.data_dir = Path(data_dir) if data_dir is not None else self.tmp_path / "data"
        self.log_path = self.tmp_path / f"pluma-serve-{os.getpid()}-{n}.log"
        self.args = list(args)
        self.extra_env = dict(env or {})
        self.token = token
        self.host = host
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.wait_healthy = wait_healthy
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.port = 0

    # -- what tests use ----------------------------------------------------

    @property
    def headers(self) -> dict[str, str]:
        """Headers every request needs (the token, when there is one)."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @property
    def api_key(self) -> str:
        """What an SDK client should pass as ``api_key``."""
        return self.token or "unused"

    def client(self, **kwargs: Any) -> httpx.Client:
        """A sync httpx client aimed at the server, token included."""
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=30, **kwargs)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """Wait until the log matches ``pattern`` (a regex)."""
        compiled = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = compiled.search(self.log_text())
            if found:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"log never matched {pattern!r}:\n{self.log_text()}")
            time.sleep(0.02)

    @property
    def returncode(self) -> int | None:
        return self.process.poll() if self.process else None

    # -- lifecycle -----------------------------------------------------------

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "pluma", "serve",
            "--host", self.host, "--port", "0", "--data-dir", str(self.data_dir),
            *self.args,
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLUMA_")}
        env.pop("PYTHON_KEYRING_BACKEND", None)
        env["PYTHON_KEYRING_BACKEND"] = MEMORY_KEYRING
        env["PLUMA_DISCOVERY"] = "0"
        env["PYTHONUNBUFFERED"] = "1"
        src = str(Path(__file__).resolve().parents[2] / "src")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        if self.token:
            env["PLUMA_TOKEN"] = self.token
        env.update(self.extra_env)
        return env

    def start(self) -> PlumaServer:
        self.tmp_path.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")  # noqa: SIM115 - handed to the child
        try:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.environment(),
                cwd=self.tmp_path,
            )
        finally:
            log.close()
        try:
            self._wait_started()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_started(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        assert self.process is not None
        while not self.url:
            found = _LISTENING.search(self.log_text())
            if found:
                self.port = int(found.group(1).rsplit(":", 1)[1])
                # a wildcard bind is reached through loopback
                self.url = (
                    f"http://127.0.0.1:{self.port}"
                    if self.host in ("0.0.0.0", "::", "[::]")
                    else found.group(1)
                )
                break
            self._check_alive(deadline)
            time.sleep(0.02)
        if not self.wait_healthy:
            return
        with httpx.Client(timeout=5) as client:
            while True:
                try:
                    response = client.get(
                        self.url + "/api/health", params={"upstream": "false"}, headers=self.headers
                    )
                    if response.status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                self._check_alive(deadline)
                time.sleep(0.02)

    def _check_alive(self, deadline: float) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise ServerStartError(
                f"pluma serve exited with code {self.process.returncode}:\n{self.log_text()}"
            )
        if time.monotonic() > deadline:
            raise ServerStartError(
                f"pluma serve did not become ready in {self.startup_timeout} s:\n{self.log_text()}"
            )

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after ``stop_timeout``; returns the exit code."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        return process.returncode

    def __enter__(self) -> PlumaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_cli(
    args: Sequence[str],
    *,
    data_dir: Path,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pluma <args>`` on ``data_dir`` and capture its output.

    Keys go to the 0600 file store (``PLUMA_SECRETS=file``) so that separate
    CLI processes and a server on the same data dir share them.
    """
    base = {k: v for k, v in os.environ.items() if not k.startswith("PLUMA_")}
    base.pop("PYTHON_KEYRING_BACKEND", None)
    base.update({"PLUMA_DATA_DIR": str(data_dir), "PLUMA_SECRETS": "file", "PLUMA_DISCOVERY": "0"})
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pluma", *args],
        input=input,
        capture_output=True,
        text=True,
        env=base,
        timeout=timeout,
    )
