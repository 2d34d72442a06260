"""The relay's write coalescing: frames produced back to back share one write,
a frame that arrives alone is written at once, and a slow client holds the
reader back instead of letting frames pile up without bound."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from pluma.server.http import relay as streaming


async def test_back_to_back_frames_share_a_write_and_lone_frames_go_at_once() -> None:
    release = asyncio.Event()
    writes: list[bytes] = []
    wrote = asyncio.Event()

    async def body() -> AsyncIterator[str]:
        yield "a"
        yield "b"
        yield "c"  # three frames from one "upstream read"
        await release.wait()
        yield "d"

    async def send(message: dict[str, Any]) -> None:
        writes.append(message["body"])
        wrote.set()

    task = asyncio.ensure_future(streaming._coalesce(body(), send))
    await asyncio.wait_for(wrote.wait(), 5)
    assert writes == [b"abc"]  # sent before "d" exists: no waiting for more
    wrote.clear()
    release.set()
    await asyncio.wait_for(task, 5)
    assert writes == [b"abc", b"d"]


async def test_a_slow_client_holds_the_reader_back(monkeypatch: Any) -> None:
    monkeypatch.setattr(streaming, "MAX_PENDING", 4)
    produced = 0
    client_ready = asyncio.Event()

    async def body() -> AsyncIterator[str]:
        nonlocal produced
        for i in range(20):
            produced += 1
            yield str(i % 10)

    async def send(message: dict[str, Any]) -> None:
        await client_ready.wait()  # the socket is full

    task = asyncio.ensure_future(streaming._coalesce(body(), send))
    for _ in range(50):
        await asyncio.sleep(0)
    assert produced <= 2 * 4  # one batch in flight, at most MAX_PENDING waiting
    client_ready.set()
    await asyncio.wait_for(task, 5)
    assert produced == 20
