"""The hardening probes of issue 10, against a real ``pluma serve``: what a
hostile client costs everyone else.

| probe      | what it does                                                          | reports                      |
|------------|-----------------------------------------------------------------------|------------------------------|
| flood      | one connection sends a 100 MiB header line while another client      | the concurrent request's     |
|            | requests ``/api/health?upstream=false`` back to back on keep-alive    | longest and median wait, the |
|            | (the sender runs in its own process)                                  | flood's answer, server RSS   |
| half-open  | opens N connections that send half a request head and stop, waits    | sockets still open on the    |
|            | ``--wait`` seconds (60 by default)                                    | server, a fresh request's    |
|            |                                                                       | status                       |
| body       | POSTs a 26 MB body of 820k tiny messages to ``/v1/chat/completions``  | the server's peak RSS before |
|            |                                                                       | and after, and the answer    |

Run: ``.venv/bin/python bench/probe_limits.py flood|half-open|body|all``
(``--header-timeout`` sets ``PLUMA_HEADER_TIMEOUT`` for the server).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

from common import median, upstream_process
from servers import Server, pluma_server

FLOOD_SENDER = """
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
payload = b"GET / HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nX: " + b"a" * (100 << 20) + b"\\r\\n\\r\\n"
print("ready", flush=True)
sys.stdin.readline()
t = time.time()
try:
    s.sendall(payload)
    answer = s.recv(60)
except OSError as exc:
    answer = repr(exc).encode()
print(answer.split(b"\\r\\n")[0].decode(errors="replace"), "%.2f s" % (time.time() - t), flush=True)
"""


def _status(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` field in bytes (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _open_sockets(pid: int) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                count += 1
    return count


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def flood(server: Server) -> None:
    sender = subprocess.Popen(
        [sys.executable, "-c", FLOOD_SENDER, str(server.port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sender.stdin is not None and sender.stdout is not None
    assert sender.stdout.readline().strip() == "ready"
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)

    def one() -> float:
        t = time.perf_counter()
        conn.request("GET", "/api/health?upstream=false")
        conn.getresponse().read()
        return time.perf_counter() - t

    baseline = [one() for _ in range(200)]
    sender.stdin.write("go\n")
    sender.stdin.flush()
    during: list[float] = []
    while sender.poll() is None:
        during.append(one())
    answer = sender.stdout.read().strip()
    conn.close()
    print(f"flood answer: {answer}")
    print(
        f"concurrent request wait: baseline p50 {median(baseline) * 1000:.2f} ms, "
        f"during the flood p50 {median(during) * 1000:.2f} ms, "
        f"max {max(during, default=0) * 1000:.1f} ms over {len(during)} requests"
    )
    print(f"server RSS after: {_mib(_status(server.pid, 'VmRSS'))}")


def half_open(server: Server, count: int, wait: float) -> None:
    before = _open_sockets(server.pid)
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", server.port))
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        socks.append(s)
    time.sleep(0.5)
    opened = _open_sockets(server.pid)
    time.sleep(max(0.0, wait - 0.5))
    after = _open_sockets(server.pid)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/api/health?upstream=false")
    status = conn.getresponse().status
    conn.close()
    for s in socks:
        s.close()
    print(
        f"server sockets: {before} before, {opened} with {count} half-open connections, "
        f"{after} after {wait:g} s; a fresh request then answers {status}"
    )


def body(server: Server) -> None:
    messages = [{"role": "user", "content": "a"}] * 820_000
    payload = json.dumps({"model": "m", "messages": messages}, separators=(",", ":")).encode()
    peak_before = _status(server.pid, "VmHWM")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    conn.request("POST", "/v1/chat/completions", payload, {"content-type": "application/json"})
    response = conn.getresponse()
    text = response.read()[:200].decode(errors="replace")
    conn.close()
    print(f"body of {len(payload) / 1e6:.1f} MB answered {response.status}: {text}")
    print(
        f"server peak RSS: {_mib(peak_before)} before, {_mib(_status(server.pid, 'VmHWM'))} after"
    )


@contextlib.contextmanager
def _server(header_timeout: float | None) -> Iterator[Server]:
    if header_timeout is not None:
        os.environ["PLUMA_HEADER_TIMEOUT"] = str(header_timeout)
    with upstream_process() as upstream, pluma_server(upstream) as server:
        yield server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("probe", choices=["flood", "half-open", "body", "all"])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--wait", type=float, default=60.0)
    parser.add_argument("--header-timeout", type=float, default=None)
    args = parser.parse_args()
    with _server(args.header_timeout) as server:
        if args.probe in ("flood", "all"):
            flood(server)
        if args.probe in ("half-open", "all"):
            half_open(server, args.connections, args.wait)
        if args.probe in ("body", "all"):
            body(server)


if __name__ == "__main__":
    main()
