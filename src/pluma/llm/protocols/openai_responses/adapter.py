"""The ``openai-responses`` adapter: request out, Responses events in.

It only glues the parts together: :mod:`.request` builds the body,
:func:`pluma.llm.protocols.drive.relay` sends it (retries before the first
byte, timeouts, HTTP errors with the upstream's message) and decodes SSE, and
:class:`.stream.ResponsesParser` turns each event into neutral events. An
upstream that ignores ``stream: true`` and answers one JSON Response is read
through the same parser.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from pluma.llm.errors import ConfigurationError
from pluma.llm.events import Event
from pluma.llm.options import StreamOptions
from pluma.llm.protocols.drive import merged_headers, relay
from pluma.llm.protocols.openai_responses.options import PROTOCOL
from pluma.llm.protocols.openai_responses.request import build_request, check_request
from pluma.llm.protocols.openai_responses.stream import ResponsesParser
from pluma.llm.redact import secrets_of
from pluma.llm.types import AssistantMessage, Context, Model
from pluma.llm.writer import StreamWriter

OPENAI_BASE = "https://api.openai.com/v1"


def base_url(model: Model, options: StreamOptions) -> str:
    """The call's base URL, else the model's, else OpenAI's own for models of
    provider ``openai``; "" when none applies."""
    found = options.base_url or model.base_url
    if not found and model.provider == "openai":
        found = OPENAI_BASE
    return found.rstrip("/")


def responses_url(model: Model, options: StreamOptions) -> str:
    """``{base_url}/responses``."""
    return f"{base_url(model, options)}/responses"


def request_headers(model: Model, options: StreamOptions) -> dict[str, str]:
    """Bearer auth when there is a key, then the model's and the call's headers."""
    own = {"authorization": f"Bearer {options.api_key}"} if options.api_key else {}
    return merged_headers(own, model.headers, options.headers)


class OpenAIResponsesAdapter:
    """Streams a model over the OpenAI Responses API."""

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
                    f"StreamOptions.base_url (for OpenAI itself {OPENAI_BASE})"
                )
            )
            return
        try:
            body = build_request(model, context, options)
        except ConfigurationError as exc:
            yield writer.fail(exc)
            return
        parser = ResponsesParser(writer, model)
        async for event in relay(
            parser,
            writer,
            url=f"{base}/responses",
            headers=headers,
            body=body,
            options=options,
            provider=model.provider,
            base_url=base,
            whole=parser.feed_json,
        ):
            yield event
