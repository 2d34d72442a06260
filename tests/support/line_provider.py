"""A provider written only against the seed contract (lines out, no adapter),
as a third-party package would ship it: it registers compat ``lines`` at
import and is found by the server through the ``pluma.providers`` entry-point
group.

It forwards the request to an OpenAI-compatible upstream with plain httpx
and yields the upstream's SSE lines as they come — the seed's simplest
provider. The server must turn those lines into events itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from pluma import llm
from pluma.server.chat.providers import ChatRequest, ModelInfo, register_provider
from pluma.server.profiles import ConnectionProfile


class LineProvider:
    def __init__(self, profile: ConnectionProfile, client: httpx.AsyncClient) -> None:
        self.base_url = profile.base_url.rstrip("/")
        self.api_key = profile.api_key
        self.client = client

    @property
    def id(self) -> str:
        return "lines"

    @property
    def upstream(self) -> str:
        return self.base_url

    async def list_models(self) -> list[ModelInfo]:
        response = await self.client.get(f"{self.base_url}/models")
        response.raise_for_status()
        return [ModelInfo(id=m["id"], display=m["id"]) for m in response.json()["data"]]

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[str]:
        messages: list[dict[str, Any]] = []
        if request.context.system_prompt:
            messages.append({"role": "system", "content": request.context.system_prompt})
        for message in request.context.messages:
            if isinstance(message, llm.UserMessage):
                text = (
                    message.content
                    if isinstance(message.content, str)
                    else "".join(b.text for b in message.content if isinstance(b, llm.TextContent))
                )
                messages.append({"role": "user", "content": text})
            elif isinstance(message, llm.AssistantMessage):
                messages.append({"role": "assistant", "content": message.text})
        body = {"model": request.model, "messages": messages, "stream": True,
                "stream_options": {"include_usage": True}}  # fmt: skip
        if request.context.tools:
            body["tools"] = [
                {"type": "function", "function": {"name": t.name, "description": t.description,
                                                  "parameters": t.parameters}}
                for t in request.context.tools
            ]  # fmt: skip
        headers = {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        async with self.client.stream(
            "POST", f"{self.base_url}/chat/completions", json=body, headers=headers
        ) as response:
            if response.status_code != 200:
                await response.aread()
                raise llm.ProviderError(
                    f"upstream answered {response.status_code}: {response.text}"
                )
            async for line in response.aiter_lines():
                if line:
                    yield line


register_provider("lines", LineProvider)
