#!/usr/bin/env python3
"""The provider the plugin-hop benchmark streams through, both in-process and
as a subprocess plugin (run as an executable it serves itself with the kit).

Model ``count-N`` streams N OpenAI-shaped chunk lines (built once, so the
provider costs next to nothing and the hop is what is measured), then the
finish chunk and ``[DONE]``.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import AsyncIterator

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import httpx

from pluma.server.chat.providers.base import ChatRequest, ModelInfo
from pluma.server.profiles import ConnectionProfile


@functools.lru_cache(maxsize=8)
def lines(n: int) -> tuple[str, ...]:
    def chunk(delta: dict[str, str], finish: str | None = None) -> str:
        body = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0,
                "model": "bench", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
        return "data: " + json.dumps(body, separators=(",", ":"))

    return (
        *(chunk({"content": f"tok{i} "}) for i in range(n)),
        chunk({}, "stop"),
        "data: [DONE]",
    )


class CountProvider:
    def __init__(self, profile: ConnectionProfile, http: httpx.AsyncClient) -> None:
        self.profile = profile

    @property
    def id(self) -> str:
        return "bench-count"

    @property
    def upstream(self) -> str:
        return self.profile.base_url

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("count-200")]

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[str]:
        for line in lines(int(request.model.rsplit("-", 1)[1])):
            yield line


if __name__ == "__main__":
    from pluma.plugin import serve_chat

    serve_chat(CountProvider, id="bench-count", version="1.0.0")
