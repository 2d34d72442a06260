#!/usr/bin/env python3
"""A community-style chat plugin: Cohere's native v2 chat API as a Pluma
provider, shipped as its own executable.

Cohere's stream is neither OpenAI- nor Anthropic-shaped: ``POST /v2/chat``
with ``"stream": true`` answers server-sent events named ``message-start``,
``content-start``, ``content-delta`` (text at ``delta.message.content.text``),
``content-end`` and ``message-end`` (``delta.finish_reason`` — ``COMPLETE``,
``MAX_TOKENS``, ``STOP_SEQUENCE``, ``TOOL_CALL``, ``ERROR`` — and
``delta.usage.tokens``). This provider follows the seed's contract: it turns
that stream into OpenAI-shaped ``data:`` lines, and Pluma does the rest.

Install: copy to ``<datadir>/plugins/chat/cohere`` (``chmod 755``), restart
``pluma serve``, then add a connection with compat ``cohere``, base URL
``https://api.cohere.com`` and your Cohere key.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from pluma import llm
from pluma.plugin import PluginError, serve_chat
from pluma.plugin.errors import code_for_status
from pluma.server.chat.providers.base import ChatRequest, ModelInfo
from pluma.server.profiles import ConnectionProfile

FINISH = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
}


def _text(content: str | list[Any]) -> str:
    if isinstance(content, str):
        return content
    return "".join(block.text for block in content if isinstance(block, llm.TextContent))


def cohere_messages(request: ChatRequest) -> list[dict[str, Any]]:
    """The neutral conversation in Cohere v2's message shape."""
    messages: list[dict[str, Any]] = []
    if request.context.system_prompt:
        messages.append({"role": "system", "content": request.context.system_prompt})
    for message in request.context.messages:
        if isinstance(message, llm.UserMessage):
            messages.append({"role": "user", "content": _text(message.content)})
        elif isinstance(message, llm.AssistantMessage):
            messages.append({"role": "assistant", "content": message.text})
        else:
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": message.tool_call_id,
                    "content": _text(message.content),
                }
            )
    return messages


class CohereProvider:
    def __init__(self, profile: ConnectionProfile, http: httpx.AsyncClient) -> None:
        self.base_url = (profile.base_url or "https://api.cohere.com").rstrip("/")
        self.headers = {**profile.headers, "accept": "application/json"}
        if profile.api_key:
            self.headers["authorization"] = f"Bearer {profile.api_key}"
        self.http = http

    @property
    def id(self) -> str:
        return "cohere"

    @property
    def upstream(self) -> str:
        return self.base_url

    async def _fail(self, response: httpx.Response) -> None:
        await response.aread()
        try:
            message = str(response.json().get("message") or response.text)
        except ValueError:
            message = response.text
        raise PluginError(
            f"Cohere answered {response.status_code}: {message}",
            code=code_for_status(response.status_code),
            upstream_status=response.status_code,
        )

    async def list_models(self) -> list[ModelInfo]:
        response = await self.http.get(
            f"{self.base_url}/v1/models", params={"endpoint": "chat"}, headers=self.headers
        )
        if response.status_code != 200:
            await self._fail(response)
        return [
            ModelInfo(id=m["name"], display=m["name"], family="command")
            for m in response.json().get("models", [])
        ]

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[str]:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": cohere_messages(request),
            "stream": True,
        }
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            payload = {"id": message_id, "object": "chat.completion.chunk", "created": created,
                       "model": request.model, "choices": [choice], **extra}  # fmt: skip
            return "data: " + json.dumps(payload)

        message_id = "cohere"
        async with self.http.stream(
            "POST", f"{self.base_url}/v2/chat", json=body, headers=self.headers
        ) as response:
            if response.status_code != 200:
                await self._fail(response)
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue  # "event:" names repeat the payload's "type"
                event = json.loads(line[5:])
                kind = event.get("type")
                delta = event.get("delta") or {}
                if kind == "message-start":
                    message_id = event.get("id") or message_id
                    yield chunk({"role": "assistant", "content": ""})
                elif kind == "content-delta":
                    text = delta.get("message", {}).get("content", {}).get("text", "")
                    if text:
                        yield chunk({"content": text})
                elif kind == "message-end":
                    reason = delta.get("finish_reason", "COMPLETE")
                    if reason == "ERROR":
                        raise PluginError(f"Cohere ended the reply with an error: {delta}")
                    tokens = (delta.get("usage") or {}).get("tokens") or {}
                    usage = {
                        "prompt_tokens": int(tokens.get("input_tokens", 0)),
                        "completion_tokens": int(tokens.get("output_tokens", 0)),
                    }
                    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                    yield chunk({}, FINISH.get(reason, "stop"), usage=usage)
                    yield "data: [DONE]"
                    return
        raise PluginError("Cohere's stream ended without message-end", code="upstream")


if __name__ == "__main__":
    serve_chat(
        CohereProvider,
        id="cohere",
        display_name="Cohere",
        version="1.0.0",
        upstream="Cohere v2 chat API",
        default_base_url="https://api.cohere.com",
    )
