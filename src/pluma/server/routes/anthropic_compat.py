"""The Anthropic-compatible API: ``POST /v1/messages`` (stream and non-stream,
tools, thinking). Any Anthropic client works against it:
``Anthropic(base_url="http://127.0.0.1:PORT", api_key=...)`` (the key is only
checked when the server requires an access token; ``x-api-key`` and
``Authorization: Bearer`` both carry it).

Errors use Anthropic's shape ``{"type": "error", "error": {"type", "message"}}``;
a failure after the stream started is an ``error`` event.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from pluma.server.chat.codecs.anthropic_request import decode_messages_request
from pluma.server.chat.codecs.anthropic_response import encode_message
from pluma.server.chat.codecs.anthropic_stream import AnthropicEventEncoder
from pluma.server.chat.codecs.request_fields import HEADER_FIELDS
from pluma.server.chat.routing import open_chat
from pluma.server.http.bodies import read_json
from pluma.server.http.errors import error_response
from pluma.server.http.relay import RelayResponse, drain, relay
from pluma.server.services import Services

router = APIRouter(tags=["anthropic"])


@router.post(
    "/v1/messages", summary="Anthropic Messages (stream and non-stream)", response_class=Response
)
async def messages(request: Request) -> Response:
    state: Services = request.app.state.pluma
    try:
        decoded = decode_messages_request(await read_json(request))
        chat_request = decoded.request
        chat_request.extra_headers = {
            header: value
            for header in HEADER_FIELDS.values()
            if (value := request.headers.get(header))
        }
        requested = chat_request.model
        stream = await open_chat(state.connections, state.http, chat_request)
    except Exception as exc:
        return error_response(exc, "anthropic")
    if decoded.stream:
        encoder = AnthropicEventEncoder(requested)
        return RelayResponse(relay(stream, encoder.encode, defer=True), "anthropic")
    try:
        message = await drain(stream, request.receive)
    except Exception as exc:
        return error_response(exc, "anthropic")
    return JSONResponse(encode_message(message, requested))
