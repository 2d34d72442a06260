"""The OpenAI-compatible API: ``GET /v1/models`` and ``POST /v1/chat/completions``
(stream and non-stream, tools, ``stream_options.include_usage``).

``/v1/models`` lists every name ``model`` accepts: the active connection's
models as bare ids, then each connection's as ``<connection-name>/<model-id>``
(see :func:`pluma.server.chat.routing.catalog`). The entries and the
list carry Anthropic's model-list fields too, so ``Anthropic().models.list()``
reads the same answer.

Any OpenAI client works against it: ``OpenAI(base_url="http://127.0.0.1:PORT/v1")``.
Streams hold their headers until the upstream has answered, so an upstream
failure before the first token is a real HTTP status (see
:mod:`pluma.server.http.errors`); after that it is ``event: error``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from pluma.server.chat.codecs.model_list import encode_model_list
from pluma.server.chat.codecs.openai_request import decode_chat_completions
from pluma.server.chat.codecs.openai_response import encode_completion
from pluma.server.chat.codecs.openai_stream import OpenAIChunkEncoder
from pluma.server.chat.routing import catalog, open_chat
from pluma.server.http.bodies import read_json
from pluma.server.http.errors import error_response
from pluma.server.http.relay import RelayResponse, drain, relay
from pluma.server.services import Services

router = APIRouter(tags=["openai"])


@router.get(
    "/v1/models",
    summary="Models: the active connection's bare ids, then every connection's as <name>/<id>",
)
async def list_models(request: Request) -> Any:
    state: Services = request.app.state.pluma
    try:
        models = await catalog(state.connections, state.http)
    except Exception as exc:
        return error_response(exc, "openai")
    return encode_model_list(models)


@router.post(
    "/v1/chat/completions",
    summary="Chat Completions (stream and non-stream)",
    response_class=Response,
)
async def chat_completions(request: Request) -> Response:
    state: Services = request.app.state.pluma
    try:
        decoded = decode_chat_completions(await read_json(request))
        chat_request = decoded.request
        requested = chat_request.model
        stream = await open_chat(state.connections, state.http, chat_request)
    except Exception as exc:
        return error_response(exc, "openai")
    if decoded.stream:
        encoder = OpenAIChunkEncoder(requested, include_usage=decoded.include_usage)
        return RelayResponse(relay(stream, encoder.encode, defer=True), "openai")
    try:
        message = await drain(stream, request.receive)
    except Exception as exc:
        return error_response(exc, "openai")
    return JSONResponse(encode_completion(message, requested))
