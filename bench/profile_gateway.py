"""Where ``pluma serve`` spends its CPU on a streamed chat completion.

Starts the bench upstream and a ``pluma serve`` app under cProfile (CPU
clock, so time the process spends waiting for the machine is not counted),
sends ``--streams`` requests one at a time through it, stops it, and prints:

* the server's CPU per stream (from /proc, without the profiler's overhead,
  in a first unprofiled pass), and
* the share of the streaming work taken by each stage of the relay
  (cumulative CPU of known functions, relative to the relay loop), then the
  functions with the most own time.

    .venv/bin/python bench/profile_gateway.py --streams 200 [--chunks 200] [--bulk]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pstats
import signal
import sys
import tempfile
from pathlib import Path

from common import cpu_seconds, upstream_process
from loadgen import run_phase
from servers import pluma_server

# Runs `pluma serve` (argv after the stats path) under cProfile with a CPU clock.
_RUNNER = """
import cProfile, sys, time
from pluma.cli import main
stats, sys.argv = sys.argv[1], sys.argv[2:]
profiler = cProfile.Profile(time.process_time)
profiler.enable()
try:
    main()
except SystemExit:
    pass
finally:
    profiler.disable()
    profiler.dump_stats(stats)
"""

# (label, file suffix, function): stages of one relayed stream, outermost first.
STAGES = [
    ("relay loop (events -> frames)", "codecs/streaming.py", "relay"),
    ("EventStream.__anext__", "llm/event_stream.py", "__anext__"),
    ("adapter generator", "openai_completions/adapter.py", "stream"),
    ("read_sse (transport)", "transport/http.py", "read_sse"),
    ("aiohttp body read (readany)", "aiohttp/streams.py", "readany"),
    ("SSE decoding", "transport/sse.py", "feed"),
    ("chunk parser (feed_data)", "openai_completions/stream.py", "feed_data"),
    ("StreamWriter.text_delta", "llm/writer.py", "text_delta"),
    ("OpenAI chunk encoder", "codecs/openai_stream.py", "encode"),
    ("uvicorn send (writes)", "http/httptools_impl.py", "send"),
    ("upstream request (open_stream)", "transport/http.py", "open_stream"),
    ("route handler", "routes/openai_compat.py", "chat_completions"),
]


def _drive(port: int, model: str, streams: int, chunks: int) -> int:
    body = json.dumps(
        {"model": model, "stream": True, "messages": [{"role": "user", "content": "Hello"}]}
    ).encode()
    phase = asyncio.run(
        run_phase(port, body=body, concurrency=1, requests_per_worker=streams, expect_events=chunks)
    )
    if phase.errors:
        raise SystemExit(f"{len(phase.errors)} streams failed: {phase.errors[0].error}")
    return len(phase.ok)


def main() -> None:
    parser = argparse.ArgumentParser(description="Profile pluma serve relaying streams.")
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--bulk", action="store_true", help="upstream sends 64 KiB HTTP chunks")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--save", type=Path, help="also keep the cProfile stats in this file")
    args = parser.parse_args()
    model = f"bench-{args.chunks}" + ("-bulk" if args.bulk else "")

    with upstream_process() as upstream, tempfile.TemporaryDirectory() as tmp:
        # Pass 1: no profiler, CPU per stream from /proc.
        with pluma_server(upstream) as server:
            _drive(server.port, model, 10, args.chunks)
            before = cpu_seconds(server.pid)
            done = _drive(server.port, model, args.streams, args.chunks)
            per_stream = (cpu_seconds(server.pid) - before) / done * 1000

        # Pass 2: the same under cProfile with a CPU clock.
        stats_file = Path(tmp) / "server.prof"
        with pluma_server(upstream, [sys.executable, "-c", _RUNNER, str(stats_file)]) as server:
            _drive(server.port, model, args.streams, args.chunks)
            assert server.process is not None
            server.process.send_signal(signal.SIGINT)  # uvicorn stops; the runner dumps stats
            server.process.wait(60)
        stats = pstats.Stats(str(stats_file))
        if args.save:
            stats.dump_stats(str(args.save))

    print(f"pluma serve, {args.streams} streams of {args.chunks} chunks ({model}), one at a time")
    print(
        f"server CPU without profiler: {per_stream:.2f} ms per stream "
        f"({per_stream * 1000 / args.chunks:.1f} us per chunk, fixed costs included)"
    )
    table = stats.stats  # type: ignore[attr-defined]
    found: dict[str, float] = {}
    for label, suffix, name in STAGES:
        for (path, _line, func), (_cc, _nc, _tt, cum, _callers) in table.items():
            if path.endswith(suffix) and func == name:
                found[label] = cum
                break
    base = found.get(STAGES[0][0])
    if base:
        print("\nstage (cumulative CPU under the profiler)      share of the relay loop")
        for label, _s, _n in STAGES:
            if label in found:
                print(f"  {label:<44} {found[label] / base * 100:6.1f}%")
    print()
    stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
