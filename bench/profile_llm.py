"""Where Pluma's per-event time goes: one long stream under cProfile.

Runs ``llm.stream`` over a stream from the bench upstream (in its own
process) and prints the functions with the most own time, plus each one's
share of the total. Use it when ``bench_llm.py`` shows a missed target:

    .venv/bin/python bench/profile_llm.py --protocol anthropic --deltas 20000 --bulk
    .venv/bin/python bench/profile_llm.py --protocol ollama --deltas 20000

``openai`` and ``anthropic`` are :mod:`bench_llm`'s streams; ``responses``,
``gemini`` and ``ollama`` are :mod:`bench_native`'s.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys

from bench_llm import pluma_runner
from bench_native import PROTOCOLS as NATIVE
from bench_native import pluma_runner as native_runner
from common import now, upstream_process


async def _profile(protocol: str, n: int, suffix: str, top: int) -> str:
    with upstream_process() as port:
        run = native_runner(port, protocol) if protocol in NATIVE else pluma_runner(port, protocol)
        await run(200, suffix)  # warm-up: connection, imports, caches
        profiler = cProfile.Profile()
        start = now()
        profiler.enable()
        got = await run(n, suffix)
        profiler.disable()
        elapsed = now() - start
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    head = (
        f"{protocol} stream, {n:,} deltas{suffix}: {got:,} text deltas, "
        f"{elapsed / n * 1e6:.1f} us/delta under the profiler "
        f"(profiling inflates absolute figures; read the shares)\n"
    )
    return head + out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description="Profile Pluma's event stream.")
    parser.add_argument("--protocol", choices=["openai", "anthropic", *NATIVE], default="openai")
    parser.add_argument("--deltas", type=int, default=20_000)
    parser.add_argument("--bulk", action="store_true", help="64 KiB HTTP chunks")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    text = asyncio.run(_profile(args.protocol, args.deltas, "-bulk" if args.bulk else "", args.top))
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
