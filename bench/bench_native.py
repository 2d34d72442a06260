"""Client-side streaming cost of the native adapters (issue 13): Pluma's
``openai-responses``, ``google-generative-ai`` and ``ollama`` adapters vs the
official SDK of each API, on the same local stream, in the same run.

The method is :mod:`bench_llm`'s: one upstream process serves pre-built
streams (``bench/upstream.py``: Responses SSE, Gemini SSE, Ollama NDJSON),
rounds are interleaved, and the figure is the median microseconds per
upstream text delta (wall time of one whole call / deltas).

| contender       | what it does per call                                                 |
|-----------------|-----------------------------------------------------------------------|
| pluma           | ``llm.stream(model, ctx, opts)``, iterate every event                  |
| pluma-transport | Pluma's ``open_stream`` + ``read_sse`` / ``read_ndjson`` + ``orjson.loads`` |
| openai-sdk      | ``AsyncOpenAI().responses.create(stream=True)``, every typed event     |
| google-genai    | ``genai.Client().aio.models.generate_content_stream``, every chunk     |
| ollama-client   | ``ollama.AsyncClient().chat(stream=True)``, every part                 |
| floor           | httpx ``aiter_lines`` + ``json.loads`` per ``data:`` line / NDJSON line |

Targets (issue 13): the SDK / pluma >= 5x per delta, and pluma / floor <=
1.5x (the bare parse floor), per framing.

Run: ``.venv/bin/python bench/bench_native.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import httpx
import orjson
from bench_llm import CLOCKS, FRAMINGS, LLMResults, Measure, Runner, _ratio, measure
from common import machine, table, upstream_process, verdict

PROTOCOLS = {
    # name → (pluma protocol, provider, SDK contender, path for the transport and floor)
    "responses": ("openai-responses", "openai", "openai-sdk"),
    "gemini": ("google-generative-ai", "google", "google-genai"),
    "ollama": ("ollama", "ollama", "ollama-client"),
}


def base_url(port: int, kind: str) -> str:
    root = f"http://127.0.0.1:{port}"
    return {"responses": root + "/v1", "gemini": root + "/v1beta", "ollama": root}[kind]


def url_for(port: int, kind: str, model: str) -> str:
    base = base_url(port, kind)
    if kind == "responses":
        return base + "/responses"
    if kind == "gemini":
        return f"{base}/models/{model}:streamGenerateContent?alt=sse"
    return base + "/api/chat"


def pluma_runner(port: int, kind: str) -> Runner:
    from pluma import llm

    protocol, provider, _ = PROTOCOLS[kind]
    ctx = llm.Context(messages=[llm.UserMessage("Say many words.")])
    opts = llm.StreamOptions(api_key="bench-key", max_retries=0, max_tokens=1024)

    async def run(n: int, suffix: str) -> int:
        model = llm.Model(
            id=f"bench-{n}{suffix}",
            provider=provider,
            protocol=protocol,
            base_url=base_url(port, kind),
        )
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


def pluma_transport_runner(port: int, kind: str) -> Runner:
    """Pluma's own transport without an adapter: the floor for Pluma itself."""
    from pluma.llm import StreamOptions
    from pluma.llm.transport.http import open_stream, read_ndjson, read_sse

    opts = StreamOptions(max_retries=0)

    async def run(n: int, suffix: str) -> int:
        model = f"bench-{n}{suffix}"
        body = {"model": model, "stream": True, "messages": []}
        deltas = 0
        async with open_stream(
            url_for(port, kind, model), headers={}, body=body, options=opts
        ) as response:
            if kind == "ollama":
                async for line in read_ndjson(response, opts.timeouts):
                    if orjson.loads(line)["message"]["content"]:
                        deltas += 1
            else:
                async for sse in read_sse(response, opts.timeouts):
                    payload = orjson.loads(sse.data)
                    if kind == "gemini" or payload["type"] == "response.output_text.delta":
                        deltas += 1
        return deltas

    return run


def openai_runner(port: int) -> Runner:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url(port, "responses"), api_key="bench", max_retries=0)

    async def run(n: int, suffix: str) -> int:
        stream = await client.responses.create(
            model=f"bench-{n}{suffix}", input="Say many words.", stream=True
        )
        deltas = 0
        async for event in stream:
            if event.type == "response.output_text.delta":
                deltas += 1
        return deltas

    return run


def genai_runner(port: int) -> Runner:
    from google import genai
    from google.genai import types

    client = genai.Client(
        api_key="bench",
        http_options=types.HttpOptions(base_url=f"http://127.0.0.1:{port}", api_version="v1beta"),
    )

    async def run(n: int, suffix: str) -> int:
        deltas = 0
        async for chunk in await client.aio.models.generate_content_stream(
            model=f"bench-{n}{suffix}", contents="Say many words."
        ):
            candidates = chunk.candidates or []
            if candidates and candidates[0].content and candidates[0].content.parts:
                deltas += 1
        return deltas

    return run


def ollama_runner(port: int) -> Runner:
    import ollama

    client = ollama.AsyncClient(host=f"http://127.0.0.1:{port}")

    async def run(n: int, suffix: str) -> int:
        deltas = 0
        async for part in await client.chat(
            model=f"bench-{n}{suffix}",
            messages=[{"role": "user", "content": "Say many words."}],
            stream=True,
        ):
            if part.message.content:
                deltas += 1
        return deltas

    return run


def floor_runner(port: int, kind: str) -> Runner:
    client = httpx.AsyncClient(timeout=None)
    # Lines that are not text deltas (see upstream.responses_events / ollama_lines).
    extra = {"responses": 8, "gemini": 0, "ollama": 1}[kind]

    async def run(n: int, suffix: str) -> int:
        model = f"bench-{n}{suffix}"
        body = {"model": model, "stream": True, "messages": []}
        lines = 0
        async with client.stream("POST", url_for(port, kind, model), json=body) as response:
            async for line in response.aiter_lines():
                if kind == "ollama":
                    if line:
                        json.loads(line)
                        lines += 1
                elif line.startswith("data:"):
                    json.loads(line[5:])
                    lines += 1
        return lines - extra

    return run


def sdk_runner(port: int, kind: str) -> Runner:
    if kind == "responses":
        return openai_runner(port)
    if kind == "gemini":
        return genai_runner(port)
    return ollama_runner(port)


async def run(
    deltas: int,
    reps: int,
    framings: tuple[str, ...],
    kinds: tuple[str, ...],
    clock: str = "wall",
) -> LLMResults:
    rows: list[Measure] = []
    checks: list[tuple[str, float, str, bool | None]] = []
    with upstream_process() as port:
        for kind in kinds:
            sdk_name = PROTOCOLS[kind][2]
            runners: dict[str, Runner] = {
                "pluma": pluma_runner(port, kind),
                "pluma-transport": pluma_transport_runner(port, kind),
                sdk_name: sdk_runner(port, kind),
                "floor": floor_runner(port, kind),
            }
            for suffix in framings:
                label = f"{kind}/{FRAMINGS[suffix]}"
                result = await measure(runners, kind, deltas, reps, suffix, CLOCKS[clock])
                rows.extend(result.values())
                pluma, sdk, floor = result["pluma"], result[sdk_name], result["floor"]
                ratio, ok = _ratio(sdk, pluma)
                checks.append(
                    (f"{label}: {sdk_name} / pluma", ratio, ">= 5x", ratio >= 5 if ok else None)
                )
                ratio, ok = _ratio(pluma, floor)
                checks.append(
                    (f"{label}: pluma / floor", ratio, "<= 1.5x", ratio <= 1.5 if ok else None)
                )
                ratio, ok = _ratio(pluma, result["pluma-transport"])
                checks.append((f"{label}: pluma / pluma-transport", ratio, "(info)", None))
    return LLMResults(rows, checks, clock)


def report(results: LLMResults) -> str:
    head = ["contender", "stream", "framing", "deltas", "us/delta (median)", "best", "runs", "note"]
    body = [
        [
            m.name,
            m.protocol,
            m.framing,
            f"{m.deltas:,}",
            m.median_us,
            min(m.us_per_delta) if m.us_per_delta else float("nan"),
            len(m.us_per_delta),
            m.error[:70],
        ]
        for m in results.rows
    ]
    checks = [
        [what, ratio, target, verdict(ok) if target != "(info)" else ""]
        for what, ratio, target, ok in results.checks
    ]
    return "\n".join(
        [
            f"bench_native — {machine()}",
            "framing: per-event = one HTTP chunk per event (like a live upstream); "
            "bulk = 64 KiB chunks (client parsing work only); "
            f"clock: {results.clock} time per call",
            "",
            table(head, body, left=3),
            "",
            table(["check (ratio of medians)", "measured", "target", "verdict"], checks),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Native adapters vs their official SDKs.")
    parser.add_argument("--quick", action="store_true", help="small streams, few runs")
    parser.add_argument("--deltas", type=int, help="deltas per stream")
    parser.add_argument("--reps", type=int, help="timed runs per contender")
    parser.add_argument("--framing", choices=["both", "per-event", "bulk"], default="both")
    parser.add_argument(
        "--protocol", choices=["all", *PROTOCOLS], default="all", help="which adapter"
    )
    parser.add_argument(
        "--clock",
        choices=list(CLOCKS),
        default="wall",
        help="time per call: wall clock, or this process's CPU time (for a loaded machine)",
    )
    args = parser.parse_args(argv)
    deltas = args.deltas or (1_000 if args.quick else 10_000)
    reps = args.reps or (2 if args.quick else 7)
    framings = tuple(k for k, v in FRAMINGS.items() if args.framing in ("both", v))
    kinds = tuple(PROTOCOLS) if args.protocol == "all" else (args.protocol,)
    results = asyncio.run(run(deltas, reps, framings, kinds, args.clock))
    print(report(results), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
