"""The ``anthropic-messages`` adapter: request building, HTTP, stream parsing.

It only wires the parts together: :mod:`.request` builds the body and
headers, :mod:`pluma.llm.transport.http` sends it (retries before the first
byte, timeouts, HTTP errors carrying Anthropic's own message) and decodes SSE,
and :class:`~.stream.EventParser` turns each event into Pluma events. An
upstream that ignores ``stream: true`` and answers one JSON message is read
too (:func:`~.stream.message_as_events`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson

from pluma.llm.catalog import ANTHROPIC_BASE
from pluma.llm.errors import ConfigurationError, ProviderError
from pluma.llm.events import Event
from pluma.llm.keys import explain_refused_without_key
from pluma.llm.options import StreamOptions
from pluma.llm.protocols.anthropic_messages.options import PROTOCOL
from pluma.llm.protocols.anthropic_messages.request import (
    build_body,
    build_headers,
    check_request,
    json_output_tool,
    plan_tokens,
    protocol_options,
)
from pluma.llm.protocols.anthropic_messages.stream import EventParser, message_as_events
from pluma.llm.redact import carries_credentials, secrets_of
from pluma.llm.transport.http import finish_body, open_stream, read_body, read_sse
from pluma.llm.types import AssistantMessage, Context, Model
from pluma.llm.writer import StreamWriter


def base_url(model: Model, options: StreamOptions) -> str:
    """The call's base URL, else the model's, else Anthropic's own for models of
    provider ``anthropic``; "" when none applies."""
    found = options.base_url or model.base_url
    if not found and model.provider == "anthropic":
        found = ANTHROPIC_BASE
    return found.rstrip("/")


def messages_url(model: Model, options: StreamOptions) -> str:
    """``{base_url}/messages``."""
    return f"{base_url(model, options)}/messages"


class AnthropicMessagesAdapter:
    """Streams from any endpoint speaking the Anthropic Messages API."""

    protocol = PROTOCOL

    def check(self, model: Model, context: Context, options: StreamOptions) -> None:
        """Raise :class:`ConfigurationError` for what the request would be refused for."""
        check_request(model, context, options)

    async def stream(
        self, model: Model, context: Context, options: StreamOptions
    ) -> AsyncIterator[Event | None]:
        message = AssistantMessage(protocol=PROTOCOL, provider=model.provider, model=model.id)
        writer = StreamWriter(
            message, secrets=secrets_of(options.api_key, model.headers, options.headers)
        )
        anthropic = protocol_options(options)
        if not base_url(model, options):
            yield writer.fail(
                ConfigurationError(
                    f"model {model.id!r} has no base_url: set Model.base_url (for Anthropic "
                    "itself https://api.anthropic.com/v1) or StreamOptions(base_url=...)"
                )
            )
            return
        try:
            plan = plan_tokens(model, options, anthropic)
            body = build_body(model, context, options, anthropic, plan)
        except ConfigurationError as exc:
            yield writer.fail(exc)
            return
        headers = build_headers(
            model,
            options,
            anthropic,
            thinking=plan.thinking_budget is not None,
            has_tools=bool(context.tools),
        )
        parser = EventParser(writer, model, json_tool=json_output_tool(options))
        try:
            async with open_stream(
                messages_url(model, options), headers=headers, body=body, options=options
            ) as response:
                if response.headers.get("content-type", "").startswith("application/json"):
                    # An upstream that ignored stream: true answered one message.
                    whole = await read_body(response, options.timeouts)
                    for name, payload in message_as_events(whole):
                        for event in parser.feed(name, payload):
                            yield event
                else:
                    async for sse in read_sse(response, options.timeouts):
                        try:
                            data = orjson.loads(sse.data)
                        except orjson.JSONDecodeError:
                            data = None
                        if not isinstance(data, dict):
                            yield writer.fail(
                                ProviderError(
                                    f"the upstream sent a malformed {sse.event or 'unnamed'} "
                                    f"event (not a JSON object): {sse.data[:200]!r}"
                                )
                            )
                            return
                        events = parser.feed(sse.event, data)
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
            yield writer.fail(exc)
            return
        for event in parser.finish():
            yield event
