"""The OpenAI Responses API: ``POST /v1/responses`` (stream and non-stream,
function tools, reasoning), for any upstream protocol.

Any OpenAI client works against it:
``OpenAI(base_url="http://127.0.0.1:PORT/v1").responses.create(...)``,
``.responses.stream(...)``. Pluma keeps no responses (``store`` is accepted
and has no effect, ``previous_response_id`` is refused): the client sends the
whole conversation in ``input``, with ``include: ["reasoning.encrypted_content"]``
to carry reasoning across turns. Errors before the stream are OpenAI error
bodies with a real HTTP status; after it starts, ``response.failed``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from pluma.server.chat.codecs.responses_request import decode_responses_request
from pluma.server.chat.codecs.responses_response import encode_response
from pluma.server.chat.codecs.responses_stream import ResponsesEventEncoder
from pluma.server.chat.routing import open_chat
from pluma.server.http.bodies import read_json
from pluma.server.http.errors import error_response
from pluma.server.http.relay import RelayResponse, drain, relay
from pluma.server.services import Services

router = APIRouter(tags=["openai"])


@router.post(
    "/v1/responses", summary="OpenAI Responses (stream and non-stream)", response_class=Response
)
async def responses(request: Request) -> Response:
    state: Services = request.app.state.pluma
    try:
        decoded = decode_responses_request(await read_json(request))
        stream = await open_chat(state.connections, state.http, decoded.request)
    except Exception as exc:
        return error_response(exc, "openai")
    if decoded.stream:
        encoder = ResponsesEventEncoder(decoded.echo)
        return RelayResponse(relay(stream, encoder.encode, defer=True), "openai")
    try:
        message = await drain(stream, request.receive)
    except Exception as exc:
        return error_response(exc, "openai")
    return JSONResponse(encode_response(message, decoded.echo))
