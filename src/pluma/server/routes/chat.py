"""``POST /api/chat``: the page's chat stream.

Body: OpenAI-style ``messages`` plus optional ``model`` (a model id or
``<connection>/<model id>``), ``connection`` (profile id or name),
``conversation_id``, ``system``, ``reasoning``, ``temperature``,
``max_tokens``, ``tools``.

Answer: OpenAI ``chat.completion.chunk`` lines, ``data: [DONE]``; a failure
after the stream started is ``event: error`` with ``{"error": {…}}`` data the
page renders inline. Caller mistakes (bad body, unknown connection or
conversation, no key) are answered before streaming with a 4xx JSON error.

Conversation hook: with ``conversation_id`` (and a conversation store), the
last user turn is saved before streaming and the assistant's reply after it
ends — finished, failed, or cut short by the client leaving (then with stop
reason ``aborted`` and whatever had arrived).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from pluma import llm
from pluma.server.codecs.bodies import read_json
from pluma.server.codecs.failures import Failure, failure_for
from pluma.server.codecs.fields import opt_str
from pluma.server.codecs.openai_request import decode_chat_completions, decode_reasoning
from pluma.server.codecs.openai_stream import OpenAIChunkEncoder
from pluma.server.codecs.streaming import RelayResponse, relay
from pluma.server.providers.bridge import events_for
from pluma.server.providers.resolve import resolve_target
from pluma.server.state import ServerState

log = logging.getLogger("pluma.server.chat")

router = APIRouter(tags=["chat"])


@router.post(
    "/api/chat",
    summary="Stream a chat reply (OpenAI chunk SSE) for the web page",
    response_class=Response,
)
async def chat(request: Request) -> Response:
    state: ServerState = request.app.state.pluma
    try:
        return await _start(request, state)
    except Exception as exc:
        failure = failure_for(exc)
        return JSONResponse(failure.openai_body(), status_code=failure.status)


async def _start(request: Request, state: ServerState) -> Response:
    body = await read_json(request)
    decoded = decode_chat_completions(body, require_model=False)
    chat_request = decoded.request
    connection = opt_str(body, "connection", "connection")
    conversation_id = opt_str(body, "conversation_id", "conversation_id")
    system = opt_str(body, "system", "system")
    if system:
        prompt = chat_request.context.system_prompt
        chat_request.context.system_prompt = f"{system}\n\n{prompt}" if prompt else system
    if body.get("reasoning") is not None:
        chat_request.reasoning = decode_reasoning(body["reasoning"], "reasoning")
    store = state.conversations
    if conversation_id and store is not None and not store.exists(conversation_id):
        raise Failure(
            404,
            "not_found_error",
            "unknown_conversation",
            f"no conversation with id {conversation_id!r}; create one with POST /api/conversations",
        )
    requested = chat_request.model
    target = resolve_target(state.connections, state.http, requested, connection)
    chat_request.model = target.model
    stream = events_for(target.provider, chat_request)
    on_end: Callable[[llm.AssistantMessage], None] | None = None
    if conversation_id and store is not None:
        last = chat_request.context.messages[-1]
        if last.role != "assistant":
            store.add_message(conversation_id, last)
        on_end = _saver(store, conversation_id)
    encoder = OpenAIChunkEncoder(requested or target.model)
    return RelayResponse(
        relay(stream, encoder.encode, defer=False, on_end=on_end), Failure.openai_body
    )


def _saver(store: Any, conversation_id: str) -> Callable[[llm.AssistantMessage], None]:
    def save(message: llm.AssistantMessage) -> None:
        try:
            store.add_message(conversation_id, message)
        except Exception as exc:  # the conversation may have been deleted meanwhile
            log.warning("could not save the reply to conversation %s: %s", conversation_id, exc)

    return save
