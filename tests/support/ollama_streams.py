"""Ollama ``/api/chat`` NDJSON streams for tests, built from Ollama's API
reference (one JSON object per line; the last has ``done: true``,
``done_reason`` and the counts), and the official ``ollama`` client as the
judge."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import ollama

MODEL = "qwen3:8b"
CREATED = "2026-12-03T09:00:00.000000Z"


def line(
    content: str = "",
    *,
    thinking: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if thinking is not None:
        message["thinking"] = thinking
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {"model": MODEL, "created_at": CREATED, "message": message, "done": False}


def final(reason: str = "stop", prompt: int = 26, output: int = 12) -> dict[str, Any]:
    return {
        "model": MODEL,
        "created_at": CREATED,
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": reason,
        "total_duration": 4_883_583_458,
        "load_duration": 1_334_875,
        "prompt_eval_count": prompt,
        "prompt_eval_duration": 342_546_000,
        "eval_count": output,
        "eval_duration": 4_535_599_000,
    }


def frames(lines: list[dict[str, Any]]) -> list[bytes]:
    return [(json.dumps(item, ensure_ascii=False) + "\n").encode() for item in lines]


@dataclass
class SDKResult:
    content: str = ""
    thinking: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    done_reason: str | None = None
    usage: tuple[int, int] | None = None
    error: BaseException | None = None


async def sdk_chat(url: str) -> SDKResult:
    """``ollama.AsyncClient(host=url).chat(stream=True)``: the client's parsed
    parts, concatenated."""
    client = ollama.AsyncClient(host=url)
    result = SDKResult()
    try:
        async for part in await client.chat(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            message = part.message
            result.content += message.content or ""
            result.thinking += message.thinking or ""
            for call in message.tool_calls or []:
                result.tool_calls.append((call.function.name, dict(call.function.arguments)))
            if part.done:
                result.done_reason = part.done_reason
                result.usage = (part.prompt_eval_count or 0, part.eval_count or 0)
    except Exception as exc:  # the client's own failure is part of the verdict
        result.error = exc
    return result


def assert_agrees(message: Any, sdk: SDKResult) -> None:
    assert message.text == sdk.content
    assert message.thinking == sdk.thinking
    assert [(c.name, c.arguments) for c in message.tool_calls] == sdk.tool_calls
    if sdk.usage is not None:
        assert (message.usage.input, message.usage.output) == sdk.usage
