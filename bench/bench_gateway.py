"""Gateway overhead: a 200-chunk stream through ``pluma serve`` and through the
LiteLLM proxy, against the same stream straight from the upstream.

All three targets run at once (the upstream, a real ``pluma serve`` process
and a real LiteLLM proxy process, both pointed at that upstream) and the load
phases are interleaved per concurrency level, so machine noise hits them
alike. The client is one lean load generator (``loadgen.py``) shared by all.

| phase     | what                                                                  |
|-----------|-----------------------------------------------------------------------|
| c=1       | one stream at a time: added time to first byte and total time         |
| c=50      | 50 workers on keep-alive connections: throughput (streams/s)          |
| c=200     | 200 workers: throughput and errors                                    |
| hold      | 200 streams held open at once (upstream paced, ~1 s each): errors and |
|           | the gateway's resident memory at 200 concurrent streams                |

Targets (issue 3): added TTFB p50 <= 1 ms and added total p50 <= 5 ms at c=1;
at c=50 at least 20x LiteLLM's throughput; zero errors at 200 concurrent
streams; RSS at 200 concurrent streams reported.

Run: ``.venv/bin/python bench/bench_gateway.py`` (``--quick`` for a smoke
run, ``--no-litellm`` to leave the proxy out).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from common import cpu_seconds, machine, percentile, rss_bytes, table, upstream_process, verdict
from loadgen import Phase, run_phase
from servers import Server, StartError, litellm_proxy, pluma_server

CHUNKS = 200
MODEL = f"bench-{CHUNKS}"
HOLD_MODEL = f"bench-{CHUNKS}-pace5"


def _body(model: str) -> bytes:
    return json.dumps(
        {"model": model, "stream": True, "messages": [{"role": "user", "content": "Hello"}]}
    ).encode()


def _tree(pid: int) -> list[int]:
    """A process and its descendants (a proxy may fork workers)."""
    pids = [pid]
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as fh:
                for child in fh.read().split():
                    pids.extend(_tree(int(child)))
    return pids


def tree_rss(pid: int) -> int:
    return sum(rss_bytes(p) for p in _tree(pid))


def tree_cpu(pid: int) -> float:
    return sum(cpu_seconds(p) for p in _tree(pid))


@dataclass
class Run:
    target: str
    phase: str
    concurrency: int
    result: Phase
    rss_peak: int = 0
    cpu: float = float("nan")
    """Server CPU seconds (user + system) spent during the phase."""

    @property
    def cpu_ms_per_stream(self) -> float:
        ok = len(self.result.ok)
        return self.cpu / ok * 1000 if ok else float("nan")


@dataclass
class GatewayResults:
    runs: list[Run] = field(default_factory=list)
    rss_idle: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    how: dict[str, str] = field(default_factory=dict)
    checks: list[tuple[str, float, str, bool | None]] = field(default_factory=list)

    def find(self, target: str, phase: str) -> Run | None:
        for run in self.runs:
            if run.target == target and run.phase == phase:
                return run
        return None


async def _sampled(
    server: Server | None, coro: Any, interval: float = 0.02
) -> tuple[Phase, int, float]:
    """Run a load phase while sampling the server's RSS; return the phase, the
    peak RSS and the server's CPU seconds (user + system) during the phase."""
    peak = 0
    cpu0 = tree_cpu(server.pid) if server else 0.0
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss(server.pid)) if server else 0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    sampler = asyncio.create_task(sample())
    try:
        phase: Phase = await coro
    finally:
        stop.set()
        await sampler
    cpu = tree_cpu(server.pid) - cpu0 if server else float("nan")
    return phase, peak, cpu


async def run(
    plan: dict[str, dict[int, tuple[int, int]]], with_litellm: bool, hold: bool
) -> GatewayResults:
    """``plan[target][concurrency] = (workers, requests per worker)``."""
    results = GatewayResults()
    with contextlib.ExitStack() as stack, upstream_process() as upstream:
        targets: dict[str, Server | None] = {
            "direct": Server("direct", upstream, 0, "the bench upstream", {})
        }
        for name, factory in (
            ("pluma", lambda: pluma_server(upstream)),
            ("litellm", lambda: litellm_proxy(upstream, MODEL)),
        ):
            if name == "litellm" and not with_litellm:
                results.skipped[name] = "left out (--no-litellm)"
                continue
            try:
                targets[name] = stack.enter_context(factory())
            except StartError as exc:
                results.skipped[name] = str(exc)
        live = {k: v for k, v in targets.items() if v is not None}
        for name, server in live.items():
            results.how[name] = server.how
            if server.pid:
                results.rss_idle[name] = tree_rss(server.pid)

        body = _body(MODEL)
        # Warm-up: connections, imports, caches; not recorded.
        for server in live.values():
            await run_phase(
                server.port,
                body=body,
                headers=server.headers,
                concurrency=4,
                requests_per_worker=3,
                expect_events=CHUNKS,
            )

        levels = sorted({c for per in plan.values() for c in per})
        for concurrency in levels:
            for name, server in live.items():
                if concurrency not in plan.get(name, {}):
                    continue
                workers, per_worker = plan[name][concurrency]
                phase, peak, cpu = await _sampled(
                    server if server.pid else None,
                    run_phase(
                        server.port,
                        body=body,
                        headers=server.headers,
                        concurrency=workers,
                        requests_per_worker=per_worker,
                        expect_events=CHUNKS,
                        request_timeout=120.0,
                    ),
                )
                results.runs.append(Run(name, f"c={concurrency}", concurrency, phase, peak, cpu))
        if hold:
            hold_body = _body(HOLD_MODEL)
            for name, server in live.items():
                if name == "litellm":
                    continue  # too slow to hold 200 paced streams in a bounded time
                phase, peak, cpu = await _sampled(
                    server if server.pid else None,
                    run_phase(
                        server.port,
                        body=hold_body,
                        headers=server.headers,
                        concurrency=200,
                        requests_per_worker=1,
                        expect_events=CHUNKS,
                        request_timeout=120.0,
                    ),
                )
                results.runs.append(Run(name, "hold", 200, phase, peak, cpu))
    _checks(results)
    return results


def _ms(values: list[float], q: float) -> float:
    return percentile(values, q) * 1000 if values else float("nan")


def _added(results: GatewayResults, target: str, phase: str, what: str, q: float) -> float:
    mine, base = results.find(target, phase), results.find("direct", phase)
    if mine is None or base is None or not mine.result.ok or not base.result.ok:
        return float("nan")
    a = [getattr(r, what) for r in mine.result.ok]
    b = [getattr(r, what) for r in base.result.ok]
    return _ms(a, q) - _ms(b, q)


def _checks(results: GatewayResults) -> None:
    checks = results.checks
    ttfb = _added(results, "pluma", "c=1", "ttfb", 50)
    checks.append(
        ("pluma added TTFB p50 at c=1 (ms)", ttfb, "<= 1 ms", None if ttfb != ttfb else ttfb <= 1.0)
    )
    total = _added(results, "pluma", "c=1", "total", 50)
    checks.append(
        (
            "pluma added total p50 at c=1 (ms)",
            total,
            "<= 5 ms",
            None if total != total else total <= 5.0,
        )
    )
    pluma, lite = results.find("pluma", "c=50"), results.find("litellm", "c=50")
    if pluma is not None and lite is not None and lite.result.throughput > 0:
        ratio = pluma.result.throughput / lite.result.throughput
        checks.append(("pluma / litellm throughput at c=50", ratio, ">= 20x", ratio >= 20))
    else:
        checks.append(("pluma / litellm throughput at c=50", float("nan"), ">= 20x", None))
    for target in ("pluma", "litellm"):
        peaks = [
            r.rss_peak
            for r in results.runs
            if r.target == target and r.concurrency == 200 and r.rss_peak
        ]
        if target == "pluma" or peaks:
            mib = max(peaks) / 2**20 if peaks else float("nan")
            checks.append(
                (
                    f"{target} peak RSS at 200 concurrent streams (MiB)",
                    mib,
                    "reported",
                    bool(peaks) if target == "pluma" else None,
                )
            )
    for phase in ("c=200", "hold"):
        run = results.find("pluma", phase)
        errors = float(len(run.result.errors)) if run else float("nan")
        checks.append(
            (
                f"pluma errors at 200 concurrent ({phase})",
                errors,
                "0",
                None if run is None else errors == 0,
            )
        )


def report(results: GatewayResults) -> str:
    out = [
        f"bench_gateway — {machine()}",
        f"stream: {CHUNKS} chunks from the bench upstream; TTFB = first body byte",
    ]
    for name, how in results.how.items():
        out.append(f"  {name}: {how}")
    for name, why in results.skipped.items():
        out.append(f"  {name}: NOT RUN — {why}")
    rows = []
    for r in results.runs:
        ok = r.result.ok
        rows.append(
            [
                r.target,
                r.phase,
                len(ok),
                len(r.result.errors),
                _ms([x.ttfb for x in ok], 50),
                _ms([x.ttfb for x in ok], 95),
                _ms([x.total for x in ok], 50),
                _ms([x.total for x in ok], 95),
                r.result.throughput,
                r.result.peak_open,
                r.cpu_ms_per_stream,
                f"{r.rss_peak / 2**20:.0f}" if r.rss_peak else "-",
            ]
        )
    out += [
        "",
        table(
            [
                "target",
                "phase",
                "ok",
                "errors",
                "TTFB p50 ms",
                "TTFB p95 ms",
                "total p50 ms",
                "total p95 ms",
                "streams/s",
                "in flight",
                "server CPU ms/stream",
                "RSS peak MiB",
            ],
            rows,
        ),
    ]
    added = []
    for r in results.runs:
        if r.target == "direct" or r.phase == "hold":
            continue
        base = results.find("direct", r.phase)
        ratio = (
            r.result.throughput / base.result.throughput
            if base and base.result.throughput
            else float("nan")
        )
        added.append(
            [
                r.target,
                r.phase,
                _added(results, r.target, r.phase, "ttfb", 50),
                _added(results, r.target, r.phase, "ttfb", 95),
                _added(results, r.target, r.phase, "total", 50),
                _added(results, r.target, r.phase, "total", 95),
                ratio,
            ]
        )
    out += [
        "",
        "added latency vs direct (ms) and throughput relative to direct:",
        table(
            [
                "target",
                "phase",
                "+TTFB p50",
                "+TTFB p95",
                "+total p50",
                "+total p95",
                "throughput / direct",
            ],
            added,
        ),
    ]
    pairs = []
    for phase in sorted(
        {r.phase for r in results.runs if r.phase != "hold"}, key=lambda p: int(p[2:])
    ):
        p, lt = results.find("pluma", phase), results.find("litellm", phase)
        if p and lt and lt.result.throughput:
            pairs.append(
                [
                    phase,
                    p.result.throughput,
                    lt.result.throughput,
                    p.result.throughput / lt.result.throughput,
                ]
            )
    if pairs:
        out += [
            "",
            table(["phase", "pluma streams/s", "litellm streams/s", "pluma / litellm"], pairs),
        ]
    idle = [[k, f"{v / 2**20:.0f}"] for k, v in results.rss_idle.items()]
    if idle:
        out += ["", table(["server", "RSS idle MiB"], idle)]
    errors = [(r.target, r.phase, e.error) for r in results.runs for e in r.result.errors]
    if errors:
        out += ["", f"errors ({len(errors)}), first few:"]
        out += [f"  {t} {p}: {e[:160]}" for t, p, e in errors[:8]]
    checks = [[w, v, t, verdict(ok)] for w, v, t, ok in results.checks]
    out += ["", table(["check", "measured", "target", "verdict"], checks)]
    return "\n".join(out)


def plan_for(quick: bool) -> dict[str, dict[int, tuple[int, int]]]:
    if quick:
        fast = {1: (1, 40), 50: (50, 2), 200: (200, 1)}
        return {"direct": fast, "pluma": fast, "litellm": {1: (1, 5), 50: (50, 1)}}
    return {
        "direct": {1: (1, 300), 50: (50, 20), 200: (200, 5)},
        "pluma": {1: (1, 300), 50: (50, 10), 200: (200, 3)},
        "litellm": {1: (1, 30), 50: (50, 2), 200: (200, 1)},
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="pluma serve vs LiteLLM proxy vs direct.")
    parser.add_argument("--quick", action="store_true", help="few requests (smoke test)")
    parser.add_argument("--no-litellm", action="store_true", help="leave the LiteLLM proxy out")
    parser.add_argument("--no-hold", action="store_true", help="skip the 200-held-streams phase")
    return parser.parse_args(argv)


async def amain(argv: list[str] | None = None) -> GatewayResults:
    args = parse_args(argv)
    results = await run(plan_for(args.quick), not args.no_litellm, not args.no_hold)
    print(report(results), flush=True)
    return results


def main() -> None:
    try:
        import uvloop

        uvloop.install()  # a cheaper client leaves more CPU to the servers measured
    except ImportError:
        pass
    asyncio.run(amain(sys.argv[1:]))


if __name__ == "__main__":
    main()
