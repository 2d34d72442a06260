"""The ``openai-responses`` adapter: request out, Responses events in.

It only glues the parts together: :mod:`.request` builds the body,
:mod:`pluma.llm.transport.http` sends it (retries before the first byte,
timeouts, HTTP errors with the upstream's message) and decodes SSE, and
:class:`.stream.ResponsesParser` turns each event into neutral events. An
upstream that ignores ``stream: true`` and answers one JSON Response is read
through the same parser.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson

from pluma.llm.errors import ConfigurationError, ProviderError
from pluma.llm.events import Event
from pluma.llm.keys import explain_refused_without_key
from pluma.llm.options import StreamOptions
from pluma.llm.protocols.openai_responses.options import PROTOCOL
from pluma.llm.protocols.openai_responses.request import build_request
from pluma.llm.protocols.openai_responses.stream import ResponsesParser, response_as_events
from pluma.llm.redact import carries_credentials, secrets_of
from pluma.llm.transport.http import finish_body, open_stream, read_body, read_sse
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
    """Bearer auth when there is a key, then the model's and the call's headers
    (lower-cased, so they replace ours instead of doubling them)."""
    headers: dict[str, str] = {}
    if options.api_key:
        headers["authorization"] = f"Bearer {options.api_key}"
    headers.update((name.lower(), value) for name, value in model.headers.items())
    headers.update((name.lower(), value) for name, value in options.headers.items())
    return headers


class OpenAIResponsesAdapter:
    """Streams a model over the OpenAI Responses API."""

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
        try:
            async with open_stream(
                responses_url(model, options), headers=headers, body=body, options=options
            ) as response:
                yield writer.start()
                if response.headers.get("content-type", "").startswith("application/json"):
                    whole = await read_body(response, options.timeouts)
                    try:
                        payload = orjson.loads(whole)
                    except orjson.JSONDecodeError:
                        payload = None
                    for item in response_as_events(payload):
                        for event in parser.feed(item):
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
