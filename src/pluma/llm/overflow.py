"""Recognising "the prompt does not fit the model's context window".

Every vendor says it differently, and most say it as a plain 400, so it
cannot be told from other bad requests by status alone. A caller that knows
it can compact the history and retry, so every error that reaches a stream
(HTTP errors before the stream, error events inside it, every protocol) is
checked here and re-raised as :class:`ContextOverflowError`.

| upstream               | how it says so                                                      |
|------------------------|---------------------------------------------------------------------|
| OpenAI Chat Completions| 400, ``code: "context_length_exceeded"``, "This model's maximum     |
|                        | context length is N tokens…"                                        |
| OpenAI Responses       | 400 ``code: "context_length_exceeded"``, "Your input exceeds the    |
|                        | context window of this model…"; the same ``error`` in a             |
|                        | ``response.failed`` event mid-stream                                |
| Anthropic              | 400 ``invalid_request_error`` "prompt is too long: N tokens > M     |
|                        | maximum" (also as an ``error`` event mid-stream)                    |
| Amazon Bedrock         | "input is too long for requested model"                             |
| Gemini                 | 400 ``INVALID_ARGUMENT`` "The input token count (N) exceeds the     |
|                        | maximum number of tokens allowed (M)."                              |
| xAI                    | "This model's maximum prompt length is N but the request contains M"|
| Groq                   | ``context_length_exceeded``; "Please reduce the length of the       |
|                        | messages or completion."                                            |
| Mistral                | "Prompt contains N tokens … too large for model with M maximum      |
|                        | context length"                                                     |
| DeepSeek, OpenRouter,  | "… maximum context length is N tokens …"                            |
| Together, Fireworks    |                                                                     |
| vLLM                   | the OpenAI wording, or "… is longer than the maximum model length   |
|                        | of N"                                                               |
| llama.cpp server       | 400 ``type: "exceed_context_size_error"``, "request (N tokens)      |
|                        | exceeds the available context size (M tokens)"                      |
| LM Studio              | "The number of tokens to keep from the initial prompt is greater    |
|                        | than the context length"                                            |
| Ollama                 | (truncates silently unless ``truncate: false``) "input length       |
|                        | exceeds the context length" / "prompt too long", as the HTTP error  |
|                        | body or an ``{"error": …}`` line mid-stream                         |
| Moonshot (Kimi)        | "Your request exceeded model token limit"                           |
| GitHub Copilot         | "prompt token count of N exceeds the limit of M"                    |
| MiniMax                | "context window exceeds limit"                                      |
| Cerebras               | 413 with no body                                                    |

Not an error: Anthropic's ``stop_reason: "model_context_window_exceeded"``
(a valid reply that stopped because prompt and reply filled the window) is
stop reason ``length`` with a ``context_window_exceeded`` diagnostic on the
message; OpenAI, Gemini and Ollama have no such stop reason (a reply cut by
the window is ``length`` / ``MAX_TOKENS`` / ``done_reason: "length"``, which
cannot be told from the output limit). The Responses API's
``incomplete_details.reason`` is ``max_output_tokens`` (``length``) or
``content_filter`` (an error).

Rate limits are never overflow, even when they talk about tokens ("Request
too large for … tokens per minute" is a 413 from Groq and a 429 from OpenAI).
"""

from __future__ import annotations

import re

from pluma.llm.errors import ContextOverflowError, ProviderError

_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error"})

_PHRASES = re.compile(
    "|".join(
        [
            r"prompt is too long",
            r"input is too long for requested model",
            r"exceeds the context window",
            r"input token count.{0,40}exceeds the maximum",
            r"maximum prompt length is \d+",
            r"reduce the length of the messages",
            r"maximum context length",
            r"too large for model with \d+ maximum context length",
            r"longer than the maximum model length",
            r"exceeds the available context size",
            r"greater than the context length",
            r"exceeds? (the )?(maximum )?context length",
            r"exceeded max context length",
            r"context[ _]length[ _]exceeded",
            r"context window exceeds limit",
            r"exceeded model token limit",
            r"token count of \d+ exceeds the limit",
            r"prompt too long",
        ]
    ),
    re.IGNORECASE,
)

_RATE_LIMIT = re.compile(r"per minute|rate.?limit|\bTPM\b|\bRPM\b|quota", re.IGNORECASE)


def is_context_overflow(error: ProviderError) -> bool:
    """Whether ``error`` says the prompt did not fit (see the module's table)."""
    if error.status == 429:
        return False
    text = error.message or ""
    if _RATE_LIMIT.search(text):
        return False
    if error.code in _CODES or error.type in _CODES:
        return True
    if error.status == 413:
        return True
    return _PHRASES.search(text) is not None


def classify(error: ProviderError) -> ProviderError:
    """``error`` as a :class:`ContextOverflowError` when it is one, else itself.

    The new error keeps every field and has the original as its cause."""
    if isinstance(error, ContextOverflowError) or not is_context_overflow(error):
        return error
    overflow = ContextOverflowError(
        error.message,
        status=error.status,
        code=error.code,
        type=error.type,
        retry_after=error.retry_after,
        retryable=False,
    )
    overflow.__cause__ = error
    return overflow
