"""The ``google-generative-ai`` adapter: request out, Gemini chunks in.

It only glues the parts together: :mod:`.request` builds the body,
:mod:`pluma.llm.transport.http` sends it (retries before the first byte,
timeouts, HTTP errors with Google's own message) and decodes SSE, and
:class:`.stream.GeminiParser` turns each chunk into neutral events. The key
travels in the ``x-goog-api-key`` header, never in the URL (URLs end up in
logs). An upstream that answers JSON instead of SSE (one response, or the
array ``streamGenerateContent`` sends without ``alt=sse``) is read too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

import orjson

from pluma.llm.errors import ConfigurationError, ProviderError
from pluma.llm.events import Event
from pluma.llm.keys import explain_refused_without_key
from pluma.llm.options import StreamOptions
from pluma.llm.protocols.google_generative_ai.options import PROTOCOL
from pluma.llm.protocols.google_generative_ai.request import build_request
from pluma.llm.protocols.google_generative_ai.stream import GeminiParser
from pluma.llm.redact import carries_credentials, secrets_of
from pluma.llm.transport.http import finish_body, open_stream, read_body, read_sse
from pluma.llm.types import AssistantMessage, Context, Model
from pluma.llm.writer import StreamWriter

GEMINI_BASE = "https://generativelanguage.googleapis.com/v1beta"
_GOOGLE_PROVIDERS = ("google", "gemini")


def base_url(model: Model, options: StreamOptions) -> str:
    """The call's base URL, else the model's, else Google's own for models of
    provider ``google`` / ``gemini``; "" when none applies."""
    found = options.base_url or model.base_url
    if not found and model.provider in _GOOGLE_PROVIDERS:
        found = GEMINI_BASE
    return found.rstrip("/")


def stream_url(model: Model, options: StreamOptions) -> str:
    """``{base_url}/models/{id}:streamGenerateContent?alt=sse``."""
    model_id = model.id.removeprefix("models/")
    return f"{base_url(model, options)}/models/{quote(model_id, safe='')}:streamGenerateContent?alt=sse"


def request_headers(model: Model, options: StreamOptions) -> dict[str, str]:
    """The key as ``x-goog-api-key``, then the model's and the call's headers
    (lower-cased, so they replace ours instead of doubling them)."""
    headers: dict[str, str] = {}
    if options.api_key:
        headers["x-goog-api-key"] = options.api_key
    headers.update((name.lower(), value) for name, value in model.headers.items())
    headers.update((name.lower(), value) for name, value in options.headers.items())
    return headers


class GoogleGenerativeAIAdapter:
    """Streams a model over the Gemini API (``generativelanguage.googleapis.com``)."""

    protocol = PROTOCOL

    async def stream(
        self, model: Model, context: Context, options: StreamOptions
    ) -> AsyncIterator[Event | None]:
        message = AssistantMessage(protocol=PROTOCOL, provider=model.provider, model=model.id)
        headers = request_headers(model, options)
        writer = StreamWriter(message, secrets=secrets_of(options.api_key, headers))
        if not base_url(model, options):
            yield writer.fail(
                ConfigurationError(
                    f"model {model.id!r} has no base_url; set Model.base_url or "
                    f"StreamOptions.base_url (for Google itself {GEMINI_BASE})"
                )
            )
            return
        try:
            body = build_request(model, context, options)
        except ConfigurationError as exc:
            yield writer.fail(exc)
            return
        parser = GeminiParser(writer, model)
        try:
            async with open_stream(
                stream_url(model, options), headers=headers, body=body, options=options
            ) as response:
                yield writer.start()
                if response.headers.get("content-type", "").startswith("application/json"):
                    whole = await read_body(response, options.timeouts)
                    try:
                        payload = orjson.loads(whole)
                    except orjson.JSONDecodeError:
                        payload = None
                    chunks = payload if isinstance(payload, list) else [payload]
                    for chunk in chunks:
                        events = (
                            parser.feed(chunk)
                            if isinstance(chunk, dict)
                            else parser.fail(
                                ProviderError(
                                    "the upstream sent JSON that is not a GenerateContentResponse"
                                )
                            )
                        )
                        for event in events:
                            yield event
                else:
                    async for sse in read_sse(response, options.timeouts):
                        events = parser.feed_data(sse.data)
                        # Only the parser ends the writer, so one read serves both checks.
                        finished = writer.finished
                        if finished:
                            await finish_body(response)
                        for event in events:
                            yield event
                        if finished:
                            return
        except ProviderError as exc:
            if not carries_credentials(options.api_key, headers):
                explain_refused_without_key(exc, model.provider, base_url(model, options))
            for event in parser.fail(exc):
                yield event
            return
        for event in parser.finish():
            yield event
