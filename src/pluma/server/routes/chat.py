"""``POST /api/chat``: the page's chat stream.

Body: OpenAI-style ``messages`` plus optional ``model`` (a model id or
``<connection>/<model id>``), ``connection`` (profile id or name),
``conversation_id``, ``system``, ``reasoning``, ``temperature``,
``max_tokens``, ``tools``.

Answer: OpenAI ``chat.completion.chunk`` lines, then always a usage chunk
(``choices: []``) whose ``usage`` adds ``cost`` (US dollars: ``input``,
``output``, ``cache_read``, ``cache_write``, ``total``, priced from the model
catalog), then ``data: [DONE]``; the stored reply keeps the same usage and cost
(message JSON). A failure
after the stream started is ``event: error`` with ``{"error": {…}}`` data the
page renders inline. Caller mistakes (bad body, unknown connection or
conversation, no key) are answered before streaming with a 4xx JSON error.

Conversation hook: with ``conversation_id`` (and a conversation store), the
last user turn is saved before streaming and the assistant's reply after it
ends — finished, failed, or cut short by the client leaving (then with stop
reason ``aborted`` and whatever had arrived).

The reply is saved only where it belongs: right after the messages stored when
its request started (:class:`_Turn`). The page's Stop then Regenerate sends a
truncate (and a new turn) at once, while this server may still be saving the
stopped reply; whichever lands first, a reply whose history was truncated or
continued meanwhile is dropped (logged) instead of landing after the new turn.

| stored when the reply ends                     | the reply is          |
|------------------------------------------------|-----------------------|
| exactly what was stored when the request began | appended              |
| fewer messages, more, or a different last one  | dropped (logged)      |
| the conversation is gone                       | dropped (logged)      |
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response

from pluma import llm
from pluma.server.chat.codecs.fields import opt_str
from pluma.server.chat.codecs.openai_request import decode_chat_completions, decode_reasoning
from pluma.server.chat.codecs.openai_stream import OpenAIChunkEncoder
from pluma.server.chat.routing import open_chat
from pluma.server.http.bodies import read_json
from pluma.server.http.failures import Failure, error_response
from pluma.server.http.relay import RelayResponse, relay
from pluma.server.state import ServerState
from pluma.server.storage.conversations import ConversationNotFound

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
        return error_response(exc, Failure.openai_body)


async def _start(request: Request, state: ServerState) -> Response:
    body = await read_json(request)
    decoded = decode_chat_completions(body, require_model=False, page=True)
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
        raise _unknown(conversation_id)
    requested = chat_request.model
    stream = await open_chat(state.connections, state.http, chat_request, connection)
    on_end: Callable[[llm.AssistantMessage], None] | None = None
    if conversation_id and store is not None:
        last = chat_request.context.messages[-1]
        try:
            if last.role != "assistant":
                store.add_message(conversation_id, last)
            on_end = _saver(store, conversation_id, _Turn.now(store, conversation_id))
        except ConversationNotFound:  # deleted since the check above
            raise _unknown(conversation_id) from None
    encoder = OpenAIChunkEncoder(
        requested or chat_request.model, include_usage=True, include_cost=True
    )
    return RelayResponse(
        relay(stream, encoder.encode, defer=False, on_end=on_end), Failure.openai_body
    )


def _unknown(conversation_id: str) -> Failure:
    return Failure(
        404,
        "not_found_error",
        "unknown_conversation",
        f"no conversation with id {conversation_id!r}; create one with POST /api/conversations",
    )


@dataclass(frozen=True, slots=True)
class _Turn:
    """Where a reply belongs: after the ``count`` messages stored when its
    request began, the last of them being ``last`` (message JSON)."""

    count: int
    last: dict[str, Any] | None

    @classmethod
    def now(cls, store: Any, conversation_id: str) -> _Turn:
        messages = store.get(conversation_id).messages
        return cls(len(messages), llm.message_to_dict(messages[-1]) if messages else None)


def _saver(store: Any, conversation_id: str, turn: _Turn) -> Callable[[llm.AssistantMessage], None]:
    """Saves the reply if the conversation is still as ``turn`` found it.

    Check and append are two calls of the store's public API; the window
    between them is a few microseconds of one thread, against a truncate that
    needs a whole HTTP request from the page.
    """

    def save(message: llm.AssistantMessage) -> None:
        try:
            if _Turn.now(store, conversation_id) != turn:
                log.info(
                    "conversation %s changed while its reply streamed (truncated or continued); "
                    "the %s reply is not saved",
                    conversation_id,
                    message.stop_reason,
                )
                return
            store.add_message(conversation_id, message)
        except Exception as exc:  # the conversation may have been deleted meanwhile
            log.warning("could not save the reply to conversation %s: %s", conversation_id, exc)

    return save
