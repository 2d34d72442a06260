"""Run every benchmark and print one summary of the targets.

    .venv/bin/python bench/run_all.py            # full run (a few minutes)
    .venv/bin/python bench/run_all.py --quick    # smoke run (about a minute)
    make bench                                   # installs the bench extra, then this

Each benchmark prints its own detailed tables first; the summary at the end
lists every check with its measured ratio, target and verdict. The exit
status is 0 even when a target is missed: these are measurements, not tests.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from typing import Any

import bench_gateway
import bench_llm
import bench_plugins
from common import machine, table, verdict


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def main() -> None:
    parser = argparse.ArgumentParser(description="Run all Pluma benchmarks.")
    parser.add_argument("--quick", action="store_true", help="smoke run of every benchmark")
    parser.add_argument("--no-litellm", action="store_true", help="leave the LiteLLM proxy out")
    args = parser.parse_args()
    quick = ["--quick"] if args.quick else []

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    summary: list[list[Any]] = []

    # The library benchmark runs on the default asyncio loop: what a user of
    # `pluma.llm` and of the SDKs gets unless they opt in to another loop.
    llm_results = asyncio.run(bench_llm.amain(quick))
    summary += [["llm", w, v, t, verdict(ok)] for w, v, t, ok in llm_results.checks]
    print(flush=True)

    # The gateway benchmark's load generator runs on uvloop when available so
    # the client takes as little CPU as possible from the servers measured.
    gw_args = quick + (["--no-litellm"] if args.no_litellm else [])
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        gw_results = runner.run(bench_gateway.amain(gw_args))
    summary += [["gateway", w, v, t, verdict(ok)] for w, v, t, ok in gw_results.checks]
    for name, why in gw_results.skipped.items():
        summary.append(["gateway", f"{name} not run", float("nan"), "", why.splitlines()[0][:60]])

    # The plugin hop: one provider in-process and as a subprocess plugin.
    plugin_results = asyncio.run(bench_plugins.amain(quick))
    summary += [["plugins", w, v, t, verdict(ok)] for w, v, t, ok in plugin_results.checks]
    print(flush=True)

    print()
    print(f"SUMMARY — {started} — {machine()}" + (" — quick run" if args.quick else ""))
    print(table(["bench", "check", "measured", "target", "verdict"], summary, left=2))


if __name__ == "__main__":
    main()
