"""The ``google-generative-ai`` adapter: request out, Gemini chunks in.

It only glues the parts together: :mod:`.request` builds the body,
:func:`pluma.llm.protocols.drive.relay` sends it (retries before the first
byte, timeouts, HTTP errors with Google's own message) and decodes SSE, and
:class:`.stream.GeminiParser` turns each chunk into neutral events. The key
travels in the ``x-goog-api-key`` header, never in the URL (URLs end up in
logs). An upstream that answers JSON instead of SSE (one response, or the
array ``streamGenerateContent`` sends without ``alt=sse``) is read too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

from pluma.llm.errors import ConfigurationError
from pluma.llm.events import Event
from pluma.llm.options import StreamOptions
from pluma.llm.protocols.drive import merged_headers, relay
from pluma.llm.protocols.google_generative_ai.options import PROTOCOL
from pluma.llm.protocols.google_generative_ai.request import build_request, check_request
from pluma.llm.protocols.google_generative_ai.stream import GeminiParser
from pluma.llm.redact import secrets_of
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
    """The key as ``x-goog-api-key``, then the model's and the call's headers."""
    own = {"x-goog-api-key": options.api_key} if options.api_key else {}
    return merged_headers(own, model.headers, options.headers)


class GoogleGenerativeAIAdapter:
    """Streams a model over the Gemini API (``generativelanguage.googleapis.com``)."""

    protocol = PROTOCOL

    def check(self, model: Model, context: Context, options: StreamOptions) -> None:
        """Raise :class:`ConfigurationError` for what the request would be refused for."""
        check_request(model, context, options)

    async def stream(
        self, model: Model, context: Context, options: StreamOptions
    ) -> AsyncIterator[Event | list[Event] | None]:
        message = AssistantMessage(protocol=PROTOCOL, provider=model.provider, model=model.id)
        headers = request_headers(model, options)
        writer = StreamWriter(message, secrets=secrets_of(options.api_key, headers))
        base = base_url(model, options)
        if not base:
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
        async for event in relay(
            parser,
            writer,
            url=stream_url(model, options),
            headers=headers,
            body=body,
            options=options,
            provider=model.provider,
            base_url=base,
            whole=parser.feed_json,
        ):
            yield event
