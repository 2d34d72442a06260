"""The kit's line coalescing: the first line leaves alone and at once, lines
already waiting travel together after it, an error comes last, and leaving
early closes the provider's generator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from pluma.plugin.serve import batched


async def _lines(n: int, fail: bool = False) -> AsyncIterator[str]:
    for i in range(n):
        yield f"line {i}"
    if fail:
        raise ValueError("upstream broke")


async def test_first_line_alone_then_the_waiting_ones_together() -> None:
    out = [item async for item in batched(_lines(50))]
    assert out[0] == "line 0"
    assert all(isinstance(item, str) for item in out)
    joined = "\n".join(str(item) for item in out).split("\n")
    assert joined == [f"line {i}" for i in range(50)]
    assert len(out) < 10  # coalesced, not one message per line


async def test_an_error_comes_after_the_lines_before_it() -> None:
    out = [item async for item in batched(_lines(3, fail=True))]
    assert isinstance(out[-1], ValueError)
    assert "\n".join(str(item) for item in out[:-1]).split("\n") == ["line 0", "line 1", "line 2"]


async def test_an_error_before_the_first_line() -> None:
    out = [item async for item in batched(_lines(0, fail=True))]
    assert len(out) == 1 and isinstance(out[0], ValueError)


async def test_the_first_line_does_not_wait_for_the_rest() -> None:
    release = asyncio.Event()

    async def slow() -> AsyncIterator[str]:
        yield "first"
        await release.wait()
        yield "second"

    stream = batched(slow())
    assert await asyncio.wait_for(anext(stream), 1.0) == "first"
    release.set()
    assert await asyncio.wait_for(anext(stream), 1.0) == "second"
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


@pytest.mark.parametrize("after", [0, 1])
async def test_leaving_early_closes_the_provider(after: int) -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[str]:
        try:
            while True:
                yield "tick"
                await asyncio.sleep(0.001)
        finally:
            closed.set()

    stream = batched(endless())
    for _ in range(after + 1):
        await anext(stream)
    await stream.aclose()
    await asyncio.wait_for(closed.wait(), 1.0)
