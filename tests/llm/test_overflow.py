"""Context overflow is recognised in each vendor's words, before the stream (an
HTTP error) and inside it (an error event), and raised as
``llm.ContextOverflowError``; lookalikes (rate limits, other 400s) are not.
Also: the usage shapes of the openai-completions parser's usage table."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support import anthropic_streams as a
from tests.support import openai_streams as o
from tests.support.scripted_server import Reply, ScriptedServer

from pluma import llm
from pluma.llm.protocols.openai_completions import ChunkParser

HELLO = llm.Context(messages=[llm.UserMessage("hello")])

# (status, JSON body) as each upstream answers an over-long prompt.
OVERFLOWS: dict[str, tuple[int, dict[str, Any]]] = {
    "openai": (
        400,
        {
            "error": {
                "message": "This model's maximum context length is 128000 tokens. However, your "
                "messages resulted in 130412 tokens. Please reduce the length of the messages.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        },
    ),
    "openai-responses": (
        400,
        {
            "error": {
                "message": "Your input exceeds the context window of this model. Please adjust "
                "your input and try again.",
                "type": "invalid_request_error",
                "param": "input",
                "code": "context_length_exceeded",
            }
        },
    ),
    "gemini": (
        400,
        {
            "error": {
                "code": 400,
                "message": "The input token count (1196265) exceeds the maximum number of tokens "
                "allowed (1048575).",
                "status": "INVALID_ARGUMENT",
            }
        },
    ),
    "xai": (
        400,
        {
            "code": "Client specified an invalid argument",
            "error": "This model's maximum prompt length is 131072 but the request contains "
            "537812 tokens.",
        },
    ),
    "groq": (
        400,
        {
            "error": {
                "message": "Please reduce the length of the messages or completion.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        },
    ),
    "mistral": (
        400,
        {
            "object": "error",
            "message": "Prompt contains 40000 tokens and 0 draft tokens, too large for model "
            "with 32768 maximum context length",
            "type": "invalid_request_message_error",
            "code": "3051",
        },
    ),
    "vllm": (
        400,
        {
            "object": "error",
            "message": "The decoder prompt (length 5000) is longer than the maximum model "
            "length of 4096. Make sure that `max_model_len` is no smaller than the number of "
            "text tokens.",
            "type": "BadRequestError",
            "code": 400,
        },
    ),
    "llama.cpp": (
        400,
        {
            "error": {
                "code": 400,
                "message": "request (9412 tokens) exceeds the available context size (8192 "
                "tokens), try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": 9412,
                "n_ctx": 8192,
            }
        },
    ),
    "lmstudio": (
        400,
        {
            "error": "The number of tokens to keep from the initial prompt is greater than the "
            "context length. Try to load the model with a larger context length, or provide a "
            "shorter input"
        },
    ),
    "ollama": (400, {"error": "the input length exceeds the context length"}),
    "moonshot": (
        400,
        {
            "error": {
                "message": "Invalid request: Your request exceeded model token limit: 131072 "
                "(requested: 140000)",
                "type": "invalid_request_error",
            }
        },
    ),
    "openrouter": (
        400,
        {
            "error": {
                "message": "This endpoint's maximum context length is 200000 tokens. However, "
                "you requested about 250000 tokens.",
                "code": 400,
            }
        },
    ),
}


@pytest.mark.parametrize("vendor", sorted(OVERFLOWS))
async def test_overflow_before_the_stream_openai_protocol(vendor: str) -> None:
    status, body = OVERFLOWS[vendor]
    with ScriptedServer() as server:
        server.reply(Reply.json(body, status=status))
        model = o.model_for(server.url)
        with pytest.raises(llm.StreamError) as caught:
            await llm.complete(model, HELLO)
    cause = caught.value.cause
    assert isinstance(cause, llm.ContextOverflowError), cause
    assert isinstance(cause, llm.ProviderError) and cause.status == status
    assert not cause.retryable
    assert len(server.requests) == 1  # not retried: the same prompt cannot fit


async def test_anthropic_prompt_is_too_long() -> None:
    body = a.error_body(
        "invalid_request_error", "prompt is too long: 213462 tokens > 200000 maximum"
    )
    with ScriptedServer() as server:
        server.reply(Reply.json(body, status=400))
        model = llm.Model(
            id="claude-test",
            provider="anthropic",
            protocol="anthropic-messages",
            base_url=server.url + "/v1",
        )
        stream = llm.stream(model, HELLO, llm.StreamOptions(api_key="k"))
        events = [event async for event in stream]
    error = events[-1].error
    assert isinstance(error, llm.ContextOverflowError)
    assert error.type == "invalid_request_error" and "213462" in error.message


async def test_overflow_reported_inside_a_stream() -> None:
    chunks = [
        o.chunk({"role": "assistant", "content": ""}),
        {
            "error": {
                "message": "maximum context length exceeded",
                "code": "context_length_exceeded",
            }
        },
    ]
    with ScriptedServer() as server:
        server.reply(Reply.sse(o.sse(chunks, done=False)))
        with pytest.raises(llm.StreamError) as caught:
            await llm.complete(o.model_for(server.url), HELLO)
    assert isinstance(caught.value.cause, llm.ContextOverflowError)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        # Groq's per-minute budget: a 413 that talks about tokens, but a rate limit.
        (
            413,
            {
                "error": {
                    "message": "Request too large for model `llama3-70b-8192` in organization "
                    "`org_x` on tokens per minute (TPM): Limit 6000, Requested 9000",
                    "type": "tokens",
                    "code": "rate_limit_exceeded",
                }
            },
        ),
        (
            400,
            {
                "error": {
                    "message": "Invalid value for 'temperature': must be at most 2.",
                    "type": "invalid_request_error",
                }
            },
        ),
        (401, {"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}),
    ],
)
async def test_lookalikes_are_not_overflow(status: int, body: dict[str, Any]) -> None:
    with ScriptedServer() as server:
        server.reply(Reply.json(body, status=status))
        with pytest.raises(llm.StreamError) as caught:
            await llm.complete(o.model_for(server.url), HELLO, llm.StreamOptions(max_retries=0))
    assert not isinstance(caught.value.cause, llm.ContextOverflowError)
    assert isinstance(caught.value.cause, llm.ProviderError)


async def test_cerebras_413_without_body_is_overflow() -> None:
    with ScriptedServer() as server:
        server.reply(Reply(status=413, headers={"content-type": "text/plain"}, body=[]))
        with pytest.raises(llm.StreamError) as caught:
            await llm.complete(o.model_for(server.url), HELLO)
    assert isinstance(caught.value.cause, llm.ContextOverflowError)


# -- usage shapes -----------------------------------------------------------------

PRICED = llm.Model(
    id="m",
    provider="test",
    protocol="openai-completions",
    cost=llm.ModelCost(input=1.0, output=2.0, cache_read=0.5, cache_write=1.25),
)


def parse_usage(*chunks: dict[str, Any]) -> llm.Usage:
    message = llm.AssistantMessage(protocol="openai-completions", provider="test", model="m")
    parser = ChunkParser(llm.StreamWriter(message), PRICED)
    parser.feed(o.chunk({"role": "assistant", "content": "hi"}))
    for item in chunks:
        parser.feed(item)
    parser.feed_data("[DONE]")
    assert message.stop_reason == "stop", message.error_message
    return message.usage


def test_usage_under_prompt_tokens_details() -> None:  # OpenAI
    usage = parse_usage(
        o.chunk({}, finish_reason="stop"),
        o.chunk(no_choices=True, usage=o.usage(100, 20, cached=60)),
    )
    assert (usage.input, usage.cache_read, usage.output) == (40, 60, 20)
    assert usage.cost.total == pytest.approx((40 * 1 + 60 * 0.5 + 20 * 2) / 1e6)


def test_usage_inside_the_choice_with_flat_cached_tokens() -> None:  # Moonshot
    raw = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120, "cached_tokens": 30}
    usage = parse_usage(o.chunk({}, finish_reason="stop", choice_usage=raw))
    assert (usage.input, usage.cache_read, usage.output) == (70, 30, 20)


def test_deepseek_cache_hit_tokens() -> None:
    raw = {
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "total_tokens": 120,
        "prompt_cache_hit_tokens": 64,
        "prompt_cache_miss_tokens": 36,
    }
    usage = parse_usage(o.chunk({}, finish_reason="stop"), o.chunk(no_choices=True, usage=raw))
    assert (usage.input, usage.cache_read) == (36, 64)


def test_openrouter_cache_writes() -> None:
    raw = {
        "prompt_tokens": 194,
        "completion_tokens": 2,
        "total_tokens": 196,
        "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 100, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
        "cost": 0.95,
    }
    usage = parse_usage(o.chunk({}, finish_reason="stop"), o.chunk(no_choices=True, usage=raw))
    assert (usage.input, usage.cache_write, usage.output) == (94, 100, 2)
    assert usage.cost.cache_write == pytest.approx(100 * 1.25 / 1e6)


def test_reasoning_tokens_inside_completion_tokens_are_not_counted_twice() -> None:  # OpenAI
    usage = parse_usage(
        o.chunk({}, finish_reason="stop"),
        o.chunk(no_choices=True, usage=o.usage(10, 500, reasoning=450)),
    )
    assert usage.output == 500


def test_reasoning_tokens_beside_completion_tokens_are_added() -> None:  # xAI
    raw = {
        "prompt_tokens": 10120,
        "completion_tokens": 1499,
        "total_tokens": 14428,
        "prompt_tokens_details": {"cached_tokens": 128},
        "completion_tokens_details": {"reasoning_tokens": 2809},
    }
    usage = parse_usage(o.chunk({}, finish_reason="stop"), o.chunk(no_choices=True, usage=raw))
    assert (usage.input, usage.cache_read, usage.output) == (9992, 128, 1499 + 2809)


def test_groq_usage_under_x_groq() -> None:
    raw = {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
    usage = parse_usage(
        o.chunk({}, finish_reason="stop"), {**o.chunk(no_choices=True), "x_groq": {"usage": raw}}
    )
    assert (usage.input, usage.output) == (10, 3)


async def test_anthropic_overflow_as_an_error_event_mid_stream() -> None:
    stream = [
        a.message_start(),
        a.error("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
    ]
    with ScriptedServer() as server:
        server.reply(Reply.sse(stream))
        model = llm.Model(
            id="claude-test",
            provider="anthropic",
            protocol="anthropic-messages",
            base_url=server.url + "/v1",
        )
        with pytest.raises(llm.StreamError) as caught:
            await llm.complete(model, HELLO, llm.StreamOptions(api_key="k"))
    assert isinstance(caught.value.cause, llm.ContextOverflowError)
    assert caught.value.message.stop_reason == "error"
