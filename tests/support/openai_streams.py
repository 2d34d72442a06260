"""OpenAI Chat Completions streams for tests, and the official SDK as a judge.

Chunks are built to the published ``chat.completion.chunk`` shape: ``id``,
``object``, ``created``, ``model``, ``choices[{index, delta, finish_reason}]``;
the usage chunk (``stream_options.include_usage``) has ``choices: []``.
:func:`sdk_accumulate` reads the same bytes with the ``openai`` SDK and its
own accumulator (``ChatCompletionStreamState``), so a test can check that
Pluma assembles the same message.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass, field
from typing import Any

import openai
from openai.lib.streaming.chat import ChatCompletionStreamState

from pluma import llm

# Built once: an SDK client otherwise loads the CA bundle each time (~70 ms),
# which only plain-HTTP local servers never need.
SSL_CONTEXT = ssl.create_default_context()

RESPONSE_ID = "chatcmpl-test123"
MODEL_NAME = "gpt-test-2026-01-01"


def chunk(
    delta: dict[str, Any] | None = None,
    *,
    finish_reason: str | None = None,
    usage: dict[str, Any] | None = None,
    choice_usage: dict[str, Any] | None = None,
    no_choices: bool = False,
) -> dict[str, Any]:
    """One ``chat.completion.chunk``; ``no_choices`` gives the usage-only shape."""
    payload: dict[str, Any] = {
        "id": RESPONSE_ID,
        "object": "chat.completion.chunk",
        "created": 1_760_000_000,
        "model": MODEL_NAME,
        "system_fingerprint": None,
        "choices": [],
    }
    if not no_choices:
        choice: dict[str, Any] = {
            "index": 0,
            "delta": delta if delta is not None else {},
            "logprobs": None,
            "finish_reason": finish_reason,
        }
        if choice_usage is not None:
            choice["usage"] = choice_usage
        payload["choices"] = [choice]
    if usage is not None:
        payload["usage"] = usage
    return payload


def usage(prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0},
    }


def tool_fragment(
    index: int | None,
    *,
    id: str | None = None,
    name: str | None = None,
    arguments: str | None = None,
) -> dict[str, Any]:
    """A ``delta.tool_calls[]`` entry; the first fragment of a call carries
    ``id``, ``type`` and ``function.name``, later ones only arguments."""
    fragment: dict[str, Any] = {}
    if index is not None:
        fragment["index"] = index
    if id is not None:
        fragment["id"] = id
        fragment["type"] = "function"
    function: dict[str, Any] = {}
    if name is not None:
        function["name"] = name
    if arguments is not None:
        function["arguments"] = arguments
    fragment["function"] = function
    return fragment


def sse(chunks: list[dict[str, Any] | str], *, done: bool = True, eol: str = "\n") -> list[str]:
    """One SSE event per chunk (``str`` items are sent verbatim), then ``[DONE]``."""
    events = [
        item if isinstance(item, str) else f"data: {json.dumps(item, ensure_ascii=False)}{eol}{eol}"
        for item in chunks
    ]
    if done:
        events.append(f"data: [DONE]{eol}{eol}")
    return events


def text_stream(parts: list[str], *, with_usage: bool = True) -> list[dict[str, Any]]:
    """A plain text reply: role chunk, one chunk per part, stop, usage."""
    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": part}) for part in parts]
    chunks.append(chunk({}, finish_reason="stop"))
    if with_usage:
        chunks.append(chunk(no_choices=True, usage=usage(12, len(parts), cached=4)))
    return chunks


def model_for(url: str, **kwargs: Any) -> llm.Model:
    """A Chat Completions model at a local scripted server (``url`` + ``/v1``)."""
    values: dict[str, Any] = {
        "id": "gpt-test",
        "provider": "test",
        "protocol": "openai-completions",
        "base_url": url + "/v1",
        "cost": llm.ModelCost(input=1.0, output=2.0, cache_read=0.5),
    }
    values.update(kwargs)
    return llm.Model(**values)


@dataclass
class SDKResult:
    """What the openai SDK's accumulator made of a stream (up to any error)."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[tuple[str, str, Any]] = field(default_factory=list)
    usage: Any = None
    finish_reason: str | None = None
    response_id: str | None = None
    error: BaseException | None = None


async def sdk_accumulate(url: str, **create: Any) -> SDKResult:
    """Stream with ``openai.AsyncOpenAI`` from ``url`` + ``/v1`` and accumulate
    with ``ChatCompletionStreamState``. An exception mid-stream is recorded in
    ``error`` and the snapshot so far is returned."""
    client = openai.AsyncOpenAI(
        base_url=url + "/v1",
        api_key="x",
        max_retries=0,
        http_client=openai.DefaultAsyncHttpxClient(verify=SSL_CONTEXT),
    )
    state = ChatCompletionStreamState()
    result = SDKResult()
    seen = False
    try:
        stream = await client.chat.completions.create(
            model=create.pop("model", "gpt-test"),
            messages=create.pop("messages", [{"role": "user", "content": "hi"}]),
            stream=True,
            **create,
        )
        async for piece in stream:
            state.handle_chunk(piece)
            seen = True
    except Exception as exc:  # the SDK's own failure is part of the verdict
        result.error = exc
    finally:
        await client.close()
    if not seen:
        return result
    snapshot = state.current_completion_snapshot
    result.usage = snapshot.usage
    result.response_id = snapshot.id
    if snapshot.choices:
        choice = snapshot.choices[0]
        message = choice.message
        result.finish_reason = choice.finish_reason
        result.text = message.content or ""
        extra = message.model_extra or {}
        result.reasoning = str(extra.get("reasoning_content") or extra.get("reasoning") or "")
        for call in message.tool_calls or []:
            arguments = call.function.arguments
            result.tool_calls.append(
                (call.id, call.function.name, json.loads(arguments) if arguments else {})
            )
    return result


def assert_agrees(message: llm.AssistantMessage, sdk: SDKResult, *, usage: bool = True) -> None:
    """Pluma's final message matches the SDK's accumulation: text, reasoning,
    tool calls (id, name, parsed arguments) and, when asked, usage."""
    assert message.text == sdk.text
    assert message.thinking == sdk.reasoning
    ours = [(c.id, c.name, c.arguments) for c in message.tool_calls]
    assert ours == sdk.tool_calls
    if usage:
        assert sdk.usage is not None, "the SDK saw no usage"
        cached = 0
        details = sdk.usage.prompt_tokens_details
        if details is not None and details.cached_tokens:
            cached = details.cached_tokens
        assert message.usage.input == sdk.usage.prompt_tokens - cached
        assert message.usage.cache_read == cached
        assert message.usage.output == sdk.usage.completion_tokens
        assert message.usage.total == sdk.usage.total_tokens
