"""The ``ollama`` adapter: request out, NDJSON lines in.

It only glues the parts together: :mod:`.request` builds the body,
:func:`pluma.llm.protocols.drive.relay` sends it (retries before the first
byte, timeouts, HTTP errors with Ollama's own ``{"error": "…"}`` message)
and splits the NDJSON lines, and :class:`.stream.OllamaParser` turns each
line into neutral events.

The base URL is the server's root (``http://127.0.0.1:11434``, the default
when none is given); a base URL ending in ``/api`` or in ``/v1`` (the
OpenAI-compatible one) is accepted and trimmed to the root.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from pluma.llm.errors import ConfigurationError
from pluma.llm.events import Event
from pluma.llm.options import StreamOptions
from pluma.llm.protocols.drive import merged_headers, relay
from pluma.llm.protocols.ollama.options import PROTOCOL
from pluma.llm.protocols.ollama.request import build_request, check_request
from pluma.llm.protocols.ollama.stream import OllamaParser
from pluma.llm.redact import secrets_of
from pluma.llm.types import AssistantMessage, Context, Model
from pluma.llm.writer import StreamWriter

OLLAMA_BASE = "http://127.0.0.1:11434"


def base_url(model: Model, options: StreamOptions) -> str:
    """The server root: the call's base URL, else the model's, else the local
    default, without a trailing ``/api`` or ``/v1``."""
    found = (options.base_url or model.base_url or OLLAMA_BASE).rstrip("/")
    for suffix in ("/api", "/v1"):
        if found.endswith(suffix):
            found = found[: -len(suffix)]
    return found


def chat_url(model: Model, options: StreamOptions) -> str:
    """``{root}/api/chat``."""
    return f"{base_url(model, options)}/api/chat"


def request_headers(model: Model, options: StreamOptions) -> dict[str, str]:
    """Bearer auth when there is a key (Ollama's cloud, a proxy), then the
    model's and the call's headers."""
    own = {"accept": "application/x-ndjson"}
    if options.api_key:
        own["authorization"] = f"Bearer {options.api_key}"
    return merged_headers(own, model.headers, options.headers)


class OllamaAdapter:
    """Streams a model over Ollama's native chat API."""

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
        try:
            body = build_request(model, context, options)
        except ConfigurationError as exc:
            yield writer.fail(exc)
            return
        # Without stream support an answer is one JSON object: one line.
        parser = OllamaParser(writer, model)
        async for event in relay(
            parser,
            writer,
            url=chat_url(model, options),
            headers=headers,
            body=body,
            options=options,
            provider=model.provider,
            base_url=base_url(model, options),
            framing="ndjson",
            feed_lines=parser.feed_lines,
        ):
            yield event
