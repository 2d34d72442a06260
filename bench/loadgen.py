"""A lean HTTP/1.1 load generator for streaming endpoints.

The gateway benchmark needs hundreds of concurrent streams from one process
on a 2-core machine, so the client must cost far less than the servers it
measures: no HTTP library, one keep-alive connection per worker, reads of up
to 64 KiB parsed in place (``Content-Length`` or chunked framing). It is the
same client for every target, so its cost cancels out of the ratios.

Per request it records the time to the first body byte (the first SSE bytes
of a stream) and to the end of the response, and checks the stream is
complete (status 200, at least ``expect_events`` ``data:`` lines, ``[DONE]``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class Result:
    ok: bool
    ttfb: float = 0.0
    """Seconds from sending the request to the first body byte."""
    total: float = 0.0
    """Seconds from sending the request to the end of the response."""
    error: str = ""


@dataclass
class Phase:
    """All results of one load phase and its wall time."""

    results: list[Result] = field(default_factory=list)
    wall: float = 0.0
    peak_open: int = 0
    """Most requests in flight (sent, response not yet complete) at one time."""

    @property
    def ok(self) -> list[Result]:
        return [r for r in self.results if r.ok]

    @property
    def errors(self) -> list[Result]:
        return [r for r in self.results if not r.ok]

    @property
    def throughput(self) -> float:
        return len(self.ok) / self.wall if self.wall > 0 else 0.0


class _Target:
    def __init__(self, port: int, path: str, body: bytes, headers: dict[str, str]) -> None:
        self.port = port
        lines = [
            f"POST {path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Content-Type: application/json",
            "Accept: text/event-stream",
            f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class _Counter:
    def __init__(self) -> None:
        self.open = 0
        self.peak = 0


async def _read_response(
    reader: asyncio.StreamReader, start: float, expect_events: int
) -> tuple[Result, bool]:
    """Read one response; returns the result and whether the connection may be reused."""
    buf = bytearray()
    while True:
        head_end = buf.find(b"\r\n\r\n")
        if head_end >= 0:
            break
        data = await reader.read(65536)
        if not data:
            return Result(False, error="connection closed before the response head"), False
        buf += data
    head = bytes(buf[:head_end]).decode("latin-1").split("\r\n")
    del buf[: head_end + 4]
    status = int(head[0].split(" ", 2)[1])
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    keep = headers.get("connection", "").lower() != "close"
    ttfb = 0.0
    body = bytearray()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        pos = 0
        while True:
            line_end = buf.find(b"\r\n", pos)
            if line_end < 0:
                data = await reader.read(65536)
                if not data:
                    return Result(False, error="stream cut mid-way"), False
                if pos:
                    del buf[:pos]
                    pos = 0
                buf += data
                continue
            size = int(bytes(buf[pos:line_end]).split(b";")[0], 16)
            if size == 0:
                # Last chunk: wait for the blank line that ends the (optional) trailers.
                while buf.find(b"\r\n\r\n", line_end) < 0:
                    data = await reader.read(65536)
                    if not data:
                        break
                    buf += data
                break
            need = line_end + 2 + size + 2
            while len(buf) < need:
                data = await reader.read(65536)
                if not data:
                    return Result(False, error="stream cut mid-way"), False
                buf += data
            if not ttfb:
                ttfb = time.perf_counter() - start
            body += buf[line_end + 2 : line_end + 2 + size]
            pos = need
    else:
        length = int(headers.get("content-length", "-1"))
        body += buf
        while length < 0 or len(body) < length:
            if body and not ttfb:
                ttfb = time.perf_counter() - start
            data = await reader.read(65536)
            if not data:
                keep = False
                break
            body += data
        if not ttfb:
            ttfb = time.perf_counter() - start
    total = time.perf_counter() - start
    if status != 200:
        text = bytes(body[:300]).decode("utf-8", "replace")
        return Result(False, ttfb, total, f"HTTP {status}: {text}"), keep
    if body.count(b"data:") < expect_events or b"[DONE]" not in body:
        snippet = bytes(body[-200:]).decode("utf-8", "replace")
        return Result(False, ttfb, total, f"incomplete stream (ends {snippet!r})"), keep
    if b"event: error" in body:
        return Result(False, ttfb, total, "the stream carried an error event"), keep
    return Result(True, ttfb, total), keep


async def _worker(
    target: _Target,
    requests: int,
    expect_events: int,
    request_timeout: float,
    out: list[Result],
    counter: _Counter,
    go: asyncio.Event,
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    await go.wait()
    try:
        for _ in range(requests):
            start = time.perf_counter()
            try:
                async with asyncio.timeout(request_timeout):
                    if writer is None:
                        reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
                    assert reader is not None
                    start = time.perf_counter()
                    writer.write(target.request)
                    counter.open += 1
                    counter.peak = max(counter.peak, counter.open)
                    try:
                        result, keep = await _read_response(reader, start, expect_events)
                    finally:
                        counter.open -= 1
            except TimeoutError:
                result, keep = (
                    Result(False, error=f"no complete answer within {request_timeout:g} s"),
                    False,
                )
            except OSError as exc:
                result, keep = Result(False, error=f"{type(exc).__name__}: {exc}"), False
            out.append(result)
            if not keep and writer is not None:
                writer.close()
                writer = None
    finally:
        if writer is not None:
            writer.close()


async def run_phase(
    port: int,
    *,
    path: str = "/v1/chat/completions",
    body: bytes,
    headers: dict[str, str] | None = None,
    concurrency: int,
    requests_per_worker: int,
    expect_events: int,
    request_timeout: float = 60.0,
) -> Phase:
    """``concurrency`` workers, each sending ``requests_per_worker`` requests
    one after another on its own keep-alive connection, all released at once."""
    target = _Target(port, path, body, headers or {})
    phase = Phase()
    counter = _Counter()
    go = asyncio.Event()
    tasks = [
        asyncio.create_task(
            _worker(
                target,
                requests_per_worker,
                expect_events,
                request_timeout,
                phase.results,
                counter,
                go,
            )
        )
        for _ in range(concurrency)
    ]
    await asyncio.sleep(0)  # let every worker reach the starting line
    start = time.perf_counter()
    go.set()
    await asyncio.gather(*tasks)
    phase.wall = time.perf_counter() - start
    phase.peak_open = counter.peak
    return phase
