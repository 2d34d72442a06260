"""``pluma serve --workers``: throughput of the 200-chunk stream at c=50 with
1 and 2 worker processes, side by side in one run, on this machine.

    .venv/bin/python bench/bench_workers.py [--requests 20] [--concurrency 50]

Prints streams per second for each, the scaling factor, and the CPU each
part used (the server's processes, the bench upstream, this load generator),
which says where the rest of the second core went: on a 2-core machine the
upstream and the load generator share the cores with the workers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

from bench_gateway import tree_cpu
from common import cpu_seconds, machine, table, upstream_process
from loadgen import run_phase
from servers import pluma_server

CHUNKS = 200
MODEL = f"bench-{CHUNKS}"
BODY = json.dumps(
    {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "Hello"}]}
).encode()


def measure(
    upstream_port: int, upstream_pid: int, workers: int, args: argparse.Namespace
) -> dict[str, float]:
    with pluma_server(upstream_port, workers=workers) as server:
        # Warm every worker's connections and caches first.
        asyncio.run(
            run_phase(server.port, body=BODY, concurrency=args.concurrency, requests_per_worker=2,
                      expect_events=CHUNKS)
        )  # fmt: skip
        server_cpu, upstream_cpu, own_cpu = (
            tree_cpu(server.pid),
            cpu_seconds(upstream_pid),
            time.process_time(),
        )
        phase = asyncio.run(
            run_phase(server.port, body=BODY, concurrency=args.concurrency,
                      requests_per_worker=args.requests, expect_events=CHUNKS)
        )  # fmt: skip
        return {
            "streams/s": phase.throughput,
            "errors": float(len(phase.errors)),
            "server cpu %": 100 * (tree_cpu(server.pid) - server_cpu) / phase.wall,
            "upstream cpu %": 100 * (cpu_seconds(upstream_pid) - upstream_cpu) / phase.wall,
            "loadgen cpu %": 100 * (time.process_time() - own_cpu) / phase.wall,
        }


def _child_running(script: str) -> int:
    """The pid of our child process running ``script`` (the bench upstream)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and script in cmdline:
            return int(entry.name)
    raise RuntimeError(f"no child process runs {script}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20, help="requests per connection")
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    print(machine())
    with upstream_process() as upstream_port:
        upstream_pid = _child_running("upstream.py")
        results = {n: measure(upstream_port, upstream_pid, n, args) for n in (1, 2)}
    keys = list(results[1])
    print(table(["", "1 worker", "2 workers"], [[k, results[1][k], results[2][k]] for k in keys]))
    one, two = results[1]["streams/s"], results[2]["streams/s"]
    print(f"scaling factor (2 workers / 1 worker): {two / one:.2f}x")


if __name__ == "__main__":
    main()
