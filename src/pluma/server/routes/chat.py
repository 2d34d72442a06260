"""``POST /api/chat``: the page's chat stream.

Two bodies:

| body                                   | history sent upstream                        |
|----------------------------------------|----------------------------------------------|
| ``conversation_id`` + ``message`` (the | the conversation as stored, then the new     |
| page; see :mod:`..chat.codecs.page_request`) | turn: thinking signatures, tool calls and |
|                                        | tool results kept exactly                    |
| OpenAI-style ``messages`` (API clients)| ``messages`` as sent                         |

Both take optional ``model`` (a model id or ``<connection>/<model id>``),
``connection`` (profile id or name), ``system``, ``reasoning``,
``temperature``, ``max_tokens``, ``tools``.

Answer: OpenAI ``chat.completion.chunk`` lines, then always a usage chunk
(``choices: []``) whose ``usage`` adds ``cost`` (US dollars: ``input``,
``output``, ``cache_read``, ``cache_write``, ``total``, priced from the model
catalog), then ``data: [DONE]``; the stored reply keeps the same usage and cost
(message JSON). A failure
after the stream started is ``event: error`` with ``{"error": {…}}`` data the
page renders inline. Caller mistakes (bad body, unknown connection or
conversation, no key) are answered before streaming with a 4xx JSON error.

Conversation hook: with ``conversation_id`` (and a conversation store), the
new turn (the page's ``message``, or the last non-assistant message of
``messages``) is saved before streaming and the assistant's reply after it
ends — finished, failed, or cut short by the client leaving (then with stop
reason ``aborted`` and whatever had arrived). Each reasoning block of the
stored reply carries how long it streamed (``durationMs``, see
:mod:`..chat.thinking_time`), which the page shows after a reload.

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
from pluma.server.chat.codecs.fields import opt_str, require_object
from pluma.server.chat.codecs.openai_request import decode_chat_completions, decode_reasoning
from pluma.server.chat.codecs.openai_stream import OpenAIChunkEncoder
from pluma.server.chat.codecs.page_request import decode_page_turn, is_page_turn
from pluma.server.chat.routing import open_chat
from pluma.server.chat.thinking_time import ThinkingClock
from pluma.server.http.bodies import read_json
from pluma.server.http.errors import error_response
from pluma.server.http.relay import RelayResponse, relay
from pluma.server.services import Services
from pluma.server.storage.conversations import ConversationNotFound, ConversationsUnavailable

log = logging.getLogger("pluma.server.chat")

router = APIRouter(tags=["chat"])


@router.post(
    "/api/chat",
    summary="Stream a chat reply (OpenAI chunk SSE) for the web page",
    response_class=Response,
)
async def chat(request: Request) -> Response:
    state: Services = request.app.state.pluma
    try:
        return await _start(request, state)
    except Exception as exc:
        return error_response(exc, "openai")


async def _start(request: Request, state: Services) -> Response:
    body = require_object(await read_json(request), "body")
    store = state.conversations
    new: list[llm.Message]
    conversation_id: str | None
    if is_page_turn(body):  # the history is the store's
        page = decode_page_turn(body)
        chat_request, conversation_id, new = page.request, page.conversation_id, page.turn
        if store is None:
            raise ConversationsUnavailable
        stored = store.get(conversation_id).messages
        chat_request.context.messages = [*stored, *new]
    else:  # the client sends the whole history (API clients)
        chat_request = decode_chat_completions(body, require_model=False, page=True).request
        conversation_id = opt_str(body, "conversation_id", "conversation_id")
        if conversation_id and store is not None and not store.exists(conversation_id):
            raise ConversationNotFound(conversation_id)
        last = chat_request.context.messages[-1]
        new = [last] if last.role != "assistant" else []
    if body.get("reasoning") is not None:
        chat_request.reasoning = decode_reasoning(body["reasoning"], "reasoning")
    connection = opt_str(body, "connection", "connection")
    system = opt_str(body, "system", "system")
    if system:
        prompt = chat_request.context.system_prompt
        chat_request.context.system_prompt = f"{system}\n\n{prompt}" if prompt else system
    requested = chat_request.model
    stream = await open_chat(state.connections, state.http, chat_request, connection)
    on_end: Callable[[llm.AssistantMessage], None] | None = None
    encoder = OpenAIChunkEncoder(
        requested or chat_request.model, include_usage=True, include_cost=True
    )
    encode: Callable[[llm.Event], list[str]] = encoder.encode
    if conversation_id and store is not None:
        for message in new:  # raises ConversationNotFound if deleted meanwhile
            store.add_message(conversation_id, message)
        clock = ThinkingClock()
        encode = clock.watching(encode)
        on_end = _timed(clock, _saver(store, conversation_id, _Turn.now(store, conversation_id)))
    return RelayResponse(relay(stream, encode, defer=False, on_end=on_end), "openai")


def _timed(
    clock: ThinkingClock, save: Callable[[llm.AssistantMessage], None]
) -> Callable[[llm.AssistantMessage], None]:
    """``save`` after the clock has timed the blocks the reply left open."""

    def end(message: llm.AssistantMessage) -> None:
        clock.finish(message)
        save(message)

    return end


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
