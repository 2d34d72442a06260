"""Gemini ``streamGenerateContent?alt=sse`` streams for tests, built from the
published ``GenerateContentResponse`` reference, and the official
``google-genai`` SDK as the judge.

Each chunk is a whole ``GenerateContentResponse`` (``candidates[0].content
.parts``, ``usageMetadata`` with the running counts, ``modelVersion``,
``responseId``); the last one carries ``finishReason``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from google import genai
from google.genai import types

MODEL = "gemini-2.5-flash"
RESPONSE_ID = "fQ3gaK2bNpe-1e8P4p2Z4Qs"


def chunk(
    parts: list[dict[str, Any]] | None = None,
    *,
    finish: str | None = None,
    finish_message: str | None = None,
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts or []}, "index": 0}
    if finish is not None:
        candidate["finishReason"] = finish
    if finish_message is not None:
        candidate["finishMessage"] = finish_message
    payload: dict[str, Any] = {
        "candidates": [candidate],
        "modelVersion": MODEL,
        "responseId": RESPONSE_ID,
    }
    if usage is not None:
        payload["usageMetadata"] = usage
    return payload


def usage(prompt: int, candidates: int, *, cached: int = 0, thoughts: int = 0) -> dict[str, Any]:
    value = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + thoughts,
    }
    if cached:
        value["cachedContentTokenCount"] = cached
    if thoughts:
        value["thoughtsTokenCount"] = thoughts
    return value


def sig(text: str) -> str:
    """A thought signature as the API sends it: base64 of opaque bytes."""
    return base64.b64encode(text.encode()).decode()


def frames(chunks: list[dict[str, Any]], eol: str = "\r\n") -> list[bytes]:
    """One SSE event per chunk (the API ends lines with CRLF)."""
    return [f"data: {json.dumps(c, ensure_ascii=False)}{eol}{eol}".encode() for c in chunks]


@dataclass
class SDKResult:
    parts: list[Any] = field(default_factory=list)
    usage: Any = None
    finish_reason: str | None = None
    response_id: str | None = None
    error: BaseException | None = None


async def sdk_stream(url: str, model: str = MODEL) -> SDKResult:
    """``client.aio.models.generate_content_stream`` against ``url``: every part
    of every chunk, the last usage and finish reason, or the SDK's error."""
    client = genai.Client(
        api_key="x",
        http_options=types.HttpOptions(base_url=url, api_version="v1beta"),
    )
    result = SDKResult()
    try:
        async for piece in await client.aio.models.generate_content_stream(
            model=model, contents="hi"
        ):
            result.response_id = piece.response_id or result.response_id
            if piece.usage_metadata is not None:
                result.usage = piece.usage_metadata
            for candidate in piece.candidates or []:
                if candidate.content is not None:
                    result.parts.extend(candidate.content.parts or [])
                if candidate.finish_reason is not None:
                    result.finish_reason = candidate.finish_reason.value
    except Exception as exc:  # the SDK's own failure is part of the verdict
        result.error = exc
    finally:
        await client.aio.aclose()
    return result


def summary_of_sdk(result: SDKResult) -> dict[str, Any]:
    """The SDK's parts in Pluma's block terms: a run of parts of one kind is
    one block, signed by the last signature in the run (an empty text part
    carrying only a signature signs the run it ends)."""
    blocks: list[list[Any]] = []
    for part in result.parts:
        signature = (
            base64.b64encode(part.thought_signature).decode() if part.thought_signature else None
        )
        if part.function_call is not None:
            call = part.function_call
            blocks.append(["call", call.id, call.name, dict(call.args or {}), signature])
            continue
        if part.text is None:
            continue
        kind = "thinking" if part.thought else "text"
        if blocks and blocks[-1][0] == kind:
            blocks[-1][1] += part.text
            if signature:
                blocks[-1][2] = signature
        elif part.text or signature:
            blocks.append([kind, part.text, signature])
    summary: dict[str, Any] = {"blocks": [tuple(b) for b in blocks], "id": result.response_id}
    u = result.usage
    if u is not None:
        cached = u.cached_content_token_count or 0
        summary["usage"] = (
            (u.prompt_token_count or 0) - cached,
            cached,
            (u.candidates_token_count or 0) + (u.thoughts_token_count or 0),
            u.total_token_count,
        )
    return summary


def summary_of_pluma(message: Any, *, synthetic_ids: bool = True) -> dict[str, Any]:
    from pluma import llm

    blocks: list[tuple[Any, ...]] = []
    for block in message.content:
        if isinstance(block, llm.ThinkingContent):
            blocks.append(("thinking", block.thinking, block.signature))
        elif isinstance(block, llm.TextContent):
            blocks.append(("text", block.text, block.text_signature))
        elif isinstance(block, llm.ToolCall):
            call_id = None if block.id.startswith("pluma_call_") else block.id
            blocks.append(("call", call_id, block.name, block.arguments, block.thought_signature))
    u = message.usage
    return {
        "blocks": blocks,
        "id": message.response_id,
        "usage": (u.input, u.cache_read, u.output, u.total),
    }
