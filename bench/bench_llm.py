"""Client-side streaming cost: Pluma's typed event stream vs the official SDKs.

Every contender reads the same pre-built bytes (a long OpenAI chat-completions
stream and a long Anthropic Messages stream) from the same local upstream,
which runs in its own process, in the same run, with repetitions interleaved
so that machine noise hits all contenders alike. Figures are the median
microseconds per upstream text delta (wall time of one whole streamed call
divided by the number of deltas), so every contender is charged for the same
unit of work whatever it yields per delta.

| contender          | what it does per call                                               |
|--------------------|---------------------------------------------------------------------|
| pluma              | ``llm.stream(model, ctx, opts)``, iterate every event               |
| pluma-transport    | Pluma's ``open_stream`` + ``read_sse`` + ``orjson.loads`` (no events) |
| openai-sdk         | ``AsyncOpenAI().chat.completions.create(stream=True)``, every chunk  |
| anthropic-sdk      | ``AsyncAnthropic().messages.stream()``, every event                  |
| floor              | httpx ``aiter_lines`` + ``json.loads`` per ``data:`` line            |

Targets (issue 2): pluma >= 10x faster than openai-sdk and >= 4x faster than
anthropic-sdk per delta, <= 2x the floor, and its per-delta cost at 100k
deltas <= 1.2x that at 1k.

Run: ``.venv/bin/python bench/bench_llm.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from common import machine, median, now, table, upstream_process, verdict

Runner = Callable[[int, str], Awaitable[int]]
"""Streams ``bench-<n><suffix>`` once and returns the number of text deltas it saw."""

CLOCKS: dict[str, Callable[[], float]] = {"wall": now, "cpu": time.process_time}
"""``--clock``: wall time of a call (the default), or this process's CPU time
(the upstream runs in its own process, so only the client's work counts: the
figure to trust when other programs load the machine)."""

FRAMINGS = {"": "per-event", "-bulk": "bulk"}
"""Model-name suffix → label: one HTTP chunk per SSE event, or 64 KiB chunks."""


@dataclass
class Measure:
    name: str
    protocol: str
    deltas: int
    framing: str = ""
    us_per_delta: list[float] = field(default_factory=list)
    error: str = ""

    @property
    def median_us(self) -> float:
        return median(self.us_per_delta)


# -- contenders -------------------------------------------------------------


def pluma_runner(port: int, protocol: str) -> Runner:
    from pluma import llm

    if protocol == "openai":
        proto, provider = "openai-completions", "openai"
    else:
        proto, provider = "anthropic-messages", "anthropic"
    base = f"http://127.0.0.1:{port}/v1"
    ctx = llm.Context(messages=[llm.UserMessage("Say many words.")])
    opts = llm.StreamOptions(api_key="bench", max_retries=0, max_tokens=1024)

    async def run(n: int, suffix: str) -> int:
        model = llm.Model(id=f"bench-{n}{suffix}", provider=provider, protocol=proto, base_url=base)
        deltas = 0
        last: Any = None
        async for event in llm.stream(model, ctx, opts):
            if event.type == "text_delta":
                deltas += 1
            last = event
        if last is None or last.type != "done":
            raise RuntimeError(f"pluma stream ended with {getattr(last, 'error', None)!r}")
        return deltas

    return run


def pluma_transport_runner(port: int, protocol: str) -> Runner:
    """Pluma's own transport without an adapter: where the floor is for Pluma."""
    from pluma.llm import StreamOptions
    from pluma.llm.transport.http import open_stream, read_sse

    opts = StreamOptions(max_retries=0)
    path = "/v1/chat/completions" if protocol == "openai" else "/v1/messages"
    url = f"http://127.0.0.1:{port}{path}"

    async def run(n: int, suffix: str) -> int:
        body = {"model": f"bench-{n}{suffix}", "stream": True, "messages": []}
        deltas = 0
        async with open_stream(url, headers={}, body=body, options=opts) as response:
            async for sse in read_sse(response, opts.timeouts):
                if sse.data == "[DONE]":
                    continue
                payload = orjson.loads(sse.data)
                if protocol == "openai":
                    choices = payload["choices"]
                    if choices and choices[0]["delta"].get("content"):
                        deltas += 1
                elif payload["type"] == "content_block_delta":
                    deltas += 1
        return deltas

    return run


def openai_runner(port: int) -> Runner:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="bench", max_retries=0)

    async def run(n: int, suffix: str) -> int:
        stream = await client.chat.completions.create(
            model=f"bench-{n}{suffix}",
            messages=[{"role": "user", "content": "Say many words."}],
            stream=True,
            stream_options={"include_usage": True},
        )
        deltas = 0
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                deltas += 1
        return deltas

    return run


def anthropic_runner(port: int) -> Runner:
    from anthropic import AsyncAnthropic

    client = AsyncAnthropic(base_url=f"http://127.0.0.1:{port}", api_key="bench", max_retries=0)

    async def run(n: int, suffix: str) -> int:
        deltas = 0
        async with client.messages.stream(
            model=f"bench-{n}{suffix}",
            max_tokens=1024,
            messages=[{"role": "user", "content": "Say many words."}],
        ) as stream:
            async for event in stream:
                if event.type == "text":
                    deltas += 1
        return deltas

    return run


def floor_runner(port: int, protocol: str) -> Runner:
    client = httpx.AsyncClient(timeout=None)
    path = "/v1/chat/completions" if protocol == "openai" else "/v1/messages"
    url = f"http://127.0.0.1:{port}{path}"
    extra = 3 if protocol == "openai" else 6

    async def run(n: int, suffix: str) -> int:
        body = {"model": f"bench-{n}{suffix}", "stream": True, "messages": []}
        deltas = 0
        async with client.stream("POST", url, json=body) as response:
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    data = line[5:].strip()
                    if data != "[DONE]":
                        json.loads(data)
                        deltas += 1
        # Building no objects means not looking inside: subtract the events
        # that are not text deltas (see upstream.openai_events/anthropic_events).
        return deltas - extra

    return run


# -- measuring ----------------------------------------------------------------


async def measure(
    runners: dict[str, Runner],
    protocol: str,
    n: int,
    reps: int,
    suffix: str,
    clock: Callable[[], float] = now,
) -> dict[str, Measure]:
    """Warm each contender up once, then run ``reps`` interleaved rounds,
    timed with ``clock`` (see :data:`CLOCKS`)."""
    out = {name: Measure(name, protocol, n, FRAMINGS[suffix]) for name in runners}
    live = dict(runners)
    for name, run in list(live.items()):
        try:
            got = await run(min(n, 200), suffix)
            if got != min(n, 200):
                raise RuntimeError(f"saw {got} deltas, expected {min(n, 200)}")
        except Exception as exc:  # a contender that cannot run is reported, not fatal
            out[name].error = f"{type(exc).__name__}: {exc}"[:200]
            del live[name]
    for _ in range(reps):
        for name, run in live.items():
            gc.collect()
            start = clock()
            got = await run(n, suffix)
            elapsed = clock() - start
            if got != n:
                out[name].error = f"saw {got} deltas, expected {n}"
            out[name].us_per_delta.append(elapsed / n * 1e6)
    return out


@dataclass
class LLMResults:
    rows: list[Measure]
    checks: list[tuple[str, float, str, bool | None]]
    """(what, measured ratio, target, met)"""
    clock: str = "wall"
    """what the µs figures are (see :data:`CLOCKS`)"""


def _ratio(a: Measure, b: Measure) -> tuple[float, bool]:
    """a / b of the medians, and whether both ran cleanly."""
    ok = not a.error and not b.error and bool(a.us_per_delta) and bool(b.us_per_delta)
    return (a.median_us / b.median_us if ok else float("nan")), ok


async def run(
    deltas: int,
    reps: int,
    scale: tuple[int, int],
    scale_reps: tuple[int, int],
    framings: tuple[str, ...] = tuple(FRAMINGS),
    clock: str = "wall",
) -> LLMResults:
    rows: list[Measure] = []
    checks: list[tuple[str, float, str, bool | None]] = []
    with upstream_process() as port:
        for protocol in ("openai", "anthropic"):
            sdk_name = "openai-sdk" if protocol == "openai" else "anthropic-sdk"
            runners: dict[str, Runner] = {
                "pluma": pluma_runner(port, protocol),
                "pluma-transport": pluma_transport_runner(port, protocol),
                sdk_name: openai_runner(port) if protocol == "openai" else anthropic_runner(port),
                "floor": floor_runner(port, protocol),
            }
            want = 10.0 if protocol == "openai" else 4.0
            for suffix in framings:
                label = f"{protocol}/{FRAMINGS[suffix]}"
                result = await measure(runners, protocol, deltas, reps, suffix, CLOCKS[clock])
                rows.extend(result.values())
                pluma, sdk, floor = result["pluma"], result[sdk_name], result["floor"]
                ratio, ok = _ratio(sdk, pluma)
                met = ratio >= want if ok else None
                checks.append((f"{label}: {sdk_name} / pluma", ratio, f">= {want:g}x", met))
                ratio, ok = _ratio(pluma, floor)
                checks.append(
                    (f"{label}: pluma / floor", ratio, "<= 2x", ratio <= 2 if ok else None)
                )

            # Linear cost: per-delta time must not grow with the message length.
            small, large = scale
            suffix = framings[0]
            only = {"pluma": runners["pluma"]}
            tick = CLOCKS[clock]
            at_small = (await measure(only, protocol, small, scale_reps[0], suffix, tick))["pluma"]
            at_large = (await measure(only, protocol, large, scale_reps[1], suffix, tick))["pluma"]
            rows.extend([at_small, at_large])
            ratio, ok = _ratio(at_large, at_small)
            checks.append(
                (
                    f"{protocol}/{FRAMINGS[suffix]}: pluma {large:,} / {small:,} deltas",
                    ratio,
                    "<= 1.2x",
                    ratio <= 1.2 if ok else None,
                )
            )
    return LLMResults(rows, checks, clock)


def report(results: LLMResults) -> str:
    head = [
        "contender",
        "stream",
        "framing",
        "deltas",
        "us/delta (median)",
        "best",
        "deltas/s",
        "runs",
        "note",
    ]
    body = [
        [
            m.name,
            m.protocol,
            m.framing,
            f"{m.deltas:,}",
            m.median_us,
            min(m.us_per_delta) if m.us_per_delta else float("nan"),
            1e6 / m.median_us if m.us_per_delta else float("nan"),
            len(m.us_per_delta),
            m.error[:70],
        ]
        for m in results.rows
    ]
    checks = [[what, ratio, target, verdict(ok)] for what, ratio, target, ok in results.checks]
    return "\n".join(
        [
            f"bench_llm — {machine()}",
            "framing: per-event = one HTTP chunk per SSE event (like a live upstream); "
            "bulk = 64 KiB chunks (client SSE work only); "
            f"clock: {results.clock} time per call",
            "",
            table(head, body, left=3),
            "",
            table(["check (ratio of medians)", "measured", "target", "verdict"], checks),
        ]
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Pluma vs the official SDKs, per streamed delta.")
    parser.add_argument("--quick", action="store_true", help="small streams, few runs (smoke test)")
    parser.add_argument("--deltas", type=int, help="deltas per stream for the SDK comparison")
    parser.add_argument("--reps", type=int, help="timed runs per contender")
    parser.add_argument(
        "--framing",
        choices=["both", "per-event", "bulk"],
        default="both",
        help="HTTP chunking of the upstream's stream (default: both)",
    )
    parser.add_argument(
        "--clock",
        choices=list(CLOCKS),
        default="wall",
        help="time per call: wall clock, or this process's CPU time (for a loaded machine)",
    )
    return parser.parse_args(argv)


def settings(args: argparse.Namespace) -> dict[str, Any]:
    if args.quick:
        base = {"deltas": 1_000, "reps": 2, "scale": (1_000, 10_000), "scale_reps": (5, 2)}
    else:
        base = {"deltas": 10_000, "reps": 7, "scale": (1_000, 100_000), "scale_reps": (21, 5)}
    if args.deltas:
        base["deltas"] = args.deltas
    if args.reps:
        base["reps"] = args.reps
    base["clock"] = args.clock
    if args.framing != "both":
        base["framings"] = tuple(k for k, v in FRAMINGS.items() if v == args.framing)
    return base


async def amain(argv: list[str] | None = None) -> LLMResults:
    args = parse_args(argv)
    conf = settings(args)
    results = await run(**conf)
    print(report(results), flush=True)
    return results


def main() -> None:
    asyncio.run(amain(sys.argv[1:]))


if __name__ == "__main__":
    main()
