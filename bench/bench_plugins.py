"""The plugin hop: the same 200-chunk stream from the same provider, once
in-process and once through a subprocess plugin (the Python kit over
go-plugin's gRPC protocol with mutual TLS), side by side in one run.

| phase      | what                                                                 |
|------------|----------------------------------------------------------------------|
| c=1        | one stream at a time, alternating: time to first text event and to   |
|            | the end (neutral events, as the server's edges consume them)         |
| bare gRPC  | in the same alternation, a bare ``grpc.aio`` server stream with      |
|            | mutual TLS in another process (``probe_grpc_floor.py``): the floor   |
|            | under the hop on this machine at this moment, to tell the hop's own  |
|            | share (added TTFB minus it) from what the machine adds               |
| throughput | 20 concurrent 200-chunk streams for a few seconds: lines/s through   |
|            | one plugin (raw lines as they cross, and parsed into events), CPU    |
|            | per stream in Pluma's process and in the plugin's                    |

Targets (issue 12): added time to first byte of the plugin hop <= 1 ms p50;
>= 50,000 lines/s through one plugin; CPU per stream reported.

Run: ``.venv/bin/python bench/bench_plugins.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import BENCH_DIR, cpu_seconds, machine, percentile, table, verdict

sys.path.insert(0, str(BENCH_DIR.parent / "src"))

import httpx
from plugin_provider import CountProvider
from probe_grpc_floor import bare_grpc_stream

from pluma import llm
from pluma.server.chat.providers.base import ChatRequest, Provider, create_provider
from pluma.server.chat.providers.bridge import events_for
from pluma.server.plugins import PluginHost
from pluma.server.profiles import ConnectionProfile

CHUNKS = 200
LINES = CHUNKS + 2  # the finish chunk and [DONE]


@dataclass
class Results:
    ttfb: dict[str, list[float]] = field(default_factory=lambda: {"in-process": [], "plugin": []})
    total: dict[str, list[float]] = field(default_factory=lambda: {"in-process": [], "plugin": []})
    bare: list[float] = field(default_factory=list)
    """Time to the first message of a bare gRPC-Python stream, same alternation."""
    rates: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    checks: list[tuple[str, float, str, bool | None]] = field(default_factory=list)


def request() -> ChatRequest:
    return ChatRequest(
        model=f"count-{CHUNKS}", context=llm.Context(messages=[llm.UserMessage("go")])
    )


async def one_stream(provider: Provider) -> tuple[float, float]:
    started = time.perf_counter()
    first = 0.0
    async for event in events_for(provider, request()):
        if not first and event.type == "text_delta":
            first = time.perf_counter() - started
    return first, time.perf_counter() - started


async def raw_lines(provider: Provider) -> int:
    n = 0
    async for item in provider.stream_chat(request()):
        n += item.count("\n") + 1
    return n


async def event_lines(provider: Provider) -> int:
    async for _ in events_for(provider, request()):
        pass
    return LINES


async def sustained(
    make: Callable[[], Awaitable[int]], seconds: float, workers: int = 20
) -> tuple[float, int]:
    """Lines/s and streams done by ``workers`` concurrent loops for ``seconds``."""
    deadline = time.perf_counter() + seconds
    done = [0, 0]

    async def loop() -> None:
        while time.perf_counter() < deadline:
            lines = await make()  # not `done[0] += await …`: that reads done[0] before awaiting
            done[0] += lines
            done[1] += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(workers)))
    return done[0] / (time.perf_counter() - started), done[1]


async def run(quick: bool) -> Results:
    results = Results()
    tmp = Path(tempfile.mkdtemp(prefix="pluma-bench-plugins-"))
    folder = tmp / "data" / "plugins" / "chat"
    folder.mkdir(parents=True)
    for path in (tmp / "data", tmp / "data" / "plugins", folder):
        path.chmod(0o755)
    script = folder / "bench-count"
    script.write_text(
        f"#!{sys.executable}\n" + (BENCH_DIR / "plugin_provider.py").read_text().split("\n", 1)[1]
    )
    script.chmod(0o755)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(BENCH_DIR), str(BENCH_DIR.parent / "src")])
    host = PluginHost(tmp / "data")
    await host.start()
    try:
        plugin = host.plugins[0]
        if plugin.state != "running" or plugin.running is None:
            raise RuntimeError(f"the bench plugin did not start: {plugin.reason}")
        profile = ConnectionProfile(id="b", name="bench", compat="bench-count", base_url="")
        async with httpx.AsyncClient() as http:
            providers: dict[str, Provider] = {
                "in-process": CountProvider(profile, http),
                "plugin": create_provider(profile, http),
            }
            async with bare_grpc_stream() as bare:
                for provider in providers.values():  # warm every path
                    for _ in range(20):
                        await one_stream(provider)
                for _ in range(20):
                    await bare()
                for _ in range(60 if quick else 400):
                    for name, provider in providers.items():
                        first, total = await one_stream(provider)
                        results.ttfb[name].append(first)
                        results.total[name].append(total)
                    results.bare.append(await bare())
            seconds = 1.0 if quick else 4.0
            pid = plugin.running.process.pid
            for name, provider in providers.items():
                host_cpu, plugin_cpu = time.process_time(), cpu_seconds(pid)

                async def events(p: Any = provider) -> int:
                    return await event_lines(p)

                rate, streams = await sustained(events, seconds)
                results.rates[f"{name} events"] = rate
                results.cpu[f"{name} pluma"] = (time.process_time() - host_cpu) / streams
                results.cpu[f"{name} plugin"] = (cpu_seconds(pid) - plugin_cpu) / streams

                async def lines(p: Any = provider) -> int:
                    return await raw_lines(p)

                results.rates[f"{name} raw lines"] = (await sustained(lines, seconds))[0]
    finally:
        await host.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    _checks(results)
    return results


def _ms(values: list[float], q: float) -> float:
    return percentile(values, q) * 1000


def _checks(results: Results) -> None:
    added = _ms(results.ttfb["plugin"], 50) - _ms(results.ttfb["in-process"], 50)
    results.checks.append(("plugin hop: added TTFB p50 (ms)", added, "<= 1 ms", added <= 1.0))
    floor = _ms(results.bare, 50)
    results.checks.append(("bare gRPC-Python first message p50 (ms)", floor, "reported", None))
    results.checks.append(
        ("plugin hop: Pluma's share, added - bare (ms)", added - floor, "reported", None)
    )
    rate = results.rates["plugin raw lines"]
    results.checks.append(("plugin: lines/s through one plugin", rate, ">= 50000", rate >= 50_000))
    parsed = results.rates["plugin events"]
    results.checks.append(("plugin: lines/s parsed into events", parsed, "reported", None))
    cpu = (results.cpu["plugin pluma"] + results.cpu["plugin plugin"]) * 1000
    results.checks.append(("plugin: CPU per 200-chunk stream (ms)", cpu, "reported", None))


def report(results: Results) -> str:
    rows = []
    for name in ("in-process", "plugin"):
        rows.append(
            [
                name,
                _ms(results.ttfb[name], 50),
                _ms(results.ttfb[name], 90),
                _ms(results.total[name], 50),
                _ms(results.total[name], 90),
                results.rates[f"{name} raw lines"],
                results.rates[f"{name} events"],
                results.cpu[f"{name} pluma"] * 1000,
                results.cpu[f"{name} plugin"] * 1000,
            ]
        )
    out = [
        f"PLUGIN HOP — {CHUNKS}-chunk stream — {machine()}",
        table(
            [
                "path",
                "ttfb p50 ms",
                "ttfb p90 ms",
                "total p50 ms",
                "total p90 ms",
                "raw lines/s",
                "event lines/s",
                "cpu/stream pluma ms",
                "cpu/stream plugin ms",
            ],
            rows,
        ),
        table(
            ["check", "measured", "target", "verdict"],
            [[c, v, t, verdict(ok)] for c, v, t, ok in results.checks],
        ),
    ]
    return "\n\n".join(out)


async def amain(argv: list[str] | None = None) -> Results:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    results = await run(args.quick)
    print(report(results), flush=True)
    return results


def main() -> None:
    asyncio.run(amain())


if __name__ == "__main__":
    main()
