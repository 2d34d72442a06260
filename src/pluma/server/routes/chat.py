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
reason ``aborted`` and whatever had arrived). A turn refused before streaming
(no model chosen, no key, an unknown connection: the 4xx above) is stored too,
with a failed reply holding the error, as if it had failed midway; a body or
conversation the server cannot read stores nothing. Each reasoning block of the
stored reply carries how long it streamed (``durationMs``, see
:mod:`..chat.thinking_time`), which the page shows after a reload.

A stored conversation is a tree (see :mod:`pluma.server.storage.tree`). The
page names where its turn goes (``parent_id``, or ``regenerate`` for a new
answer to a stored message); the history sent upstream is only the path from
the first message down to that point, never another branch. The reply is
saved as a child of the turn it answers, so it lands where it belongs even
when other requests changed the conversation meanwhile:

| when the reply ends, the conversation shows        | the reply                 |
|----------------------------------------------------|---------------------------|
| the turn it answers, or another answer to that turn (Stop then Regenerate) | is saved and shown |
| another branch (the reader switched meanwhile)     | is saved as a version, not shown |
| nothing: the conversation is gone                  | is dropped (logged)       |

Generation settings stored with the conversation (temperature, max_tokens,
top_p, stop, reasoning) apply to the page's turns wherever the body leaves
them out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request, Response

from pluma import llm
from pluma.server.chat.codecs.errors import RequestError
from pluma.server.chat.codecs.fields import opt_str, require_object
from pluma.server.chat.codecs.openai_request import decode_chat_completions, decode_reasoning
from pluma.server.chat.codecs.openai_stream import OpenAIChunkEncoder
from pluma.server.chat.codecs.page_request import PageTurn, decode_page_turn, is_page_turn
from pluma.server.chat.routing import open_chat
from pluma.server.chat.thinking_time import ThinkingClock
from pluma.server.errors import as_error
from pluma.server.generation import apply_generation
from pluma.server.http.bodies import read_json
from pluma.server.http.errors import error_response
from pluma.server.http.relay import RelayResponse, relay
from pluma.server.services import Services
from pluma.server.storage.conversations import (
    LEAF,
    ConversationNotFound,
    ConversationsUnavailable,
    Leaf,
    MessageNotFound,
    Parent,
)
from pluma.server.storage.tree import path_to

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
    parent: Parent = LEAF
    if is_page_turn(body):  # the history is the store's: the path down to the parent
        page = decode_page_turn(body)
        chat_request, conversation_id, new = page.request, page.conversation_id, page.turn
        if store is None:
            raise ConversationsUnavailable
        parent = await to_thread.run_sync(_load_history, store, page)
    else:  # the client sends the whole history (API clients)
        chat_request = decode_chat_completions(body, require_model=False, page=True).request
        conversation_id = opt_str(body, "conversation_id", "conversation_id")
        if (
            conversation_id
            and store is not None
            and not await to_thread.run_sync(store.exists, conversation_id)
        ):
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
    try:
        stream = await open_chat(state.connections, state.http, chat_request, connection)
    except Exception as exc:
        if conversation_id and store is not None:
            await to_thread.run_sync(_keep_failed_turn, store, conversation_id, new, parent, exc)
        raise
    on_end: Callable[[llm.AssistantMessage], None] | None = None
    encoder = OpenAIChunkEncoder(
        requested or chat_request.model, include_usage=True, include_cost=True
    )
    encode: Callable[[llm.Event], list[str]] = encoder.encode
    if conversation_id and store is not None:
        answered = await to_thread.run_sync(_record_turn, store, conversation_id, new, parent)
        clock = ThinkingClock()
        encode = clock.watching(encode)
        on_end = _timed(clock, _saver(store, conversation_id, answered))
    return RelayResponse(relay(stream, encode, defer=False, on_end=on_end), "openai")


def _timed(
    clock: ThinkingClock, save: Callable[[llm.AssistantMessage], None]
) -> Callable[[llm.AssistantMessage], None]:
    """``save`` after the clock has timed the blocks the reply left open."""

    def end(message: llm.AssistantMessage) -> None:
        clock.finish(message)
        save(message)

    return end


# The store helpers below are synchronous (SQLite, or the PostgreSQL store
# waiting on its pool's own loop) and run in a worker thread, so a slow or
# restarting database holds up only the request that needs it, never the
# event loop that carries every other stream in the process.


def _load_history(store: Any, page: PageTurn) -> Parent:
    """Puts the stored path down to the page's parent (then the new turn) in
    ``page.request``, applies the conversation's generation settings, and
    returns the parent the turn goes under."""
    conversation = store.get(page.conversation_id)
    parent = conversation.current_leaf if isinstance(page.parent, Leaf) else page.parent
    node = next((n for n in conversation.nodes if n.id == parent), None)
    if parent is not None and node is None:
        raise MessageNotFound(page.conversation_id, parent)
    if not page.turn and node is not None and node.message.role == "assistant":
        raise RequestError(
            "regenerate",
            "names the message to answer again (a user or toolResult message), "
            "not an answer; give the id of the message above it",
        )
    stored = [node.message for node in path_to(conversation.nodes, parent)]
    page.request.context.messages = [*stored, *page.turn]
    apply_generation(page.request, conversation.summary.settings)
    return parent


def _record_turn(
    store: Any, conversation_id: str, new: list[llm.Message], parent: Parent
) -> str | None:
    """Saves the new turn under ``parent`` before streaming; the id of the
    message the reply will answer."""
    if not new and isinstance(parent, str):  # regenerate: its answers' branch is shown
        store.show(conversation_id, parent)
    for message in new:  # raises ConversationNotFound if deleted meanwhile
        parent = store.add_message(conversation_id, message, parent)
    if isinstance(parent, Leaf):
        leaf: str | None = store.get(conversation_id).current_leaf
        return leaf
    return parent


def _keep_failed_turn(
    store: Any, conversation_id: str, new: list[llm.Message], parent: Parent, exc: Exception
) -> None:
    """A turn refused before its stream began (no model chosen, no key, an
    unknown connection) is stored like one that failed midway: the new turn
    where it was going, then a failed reply carrying the error, so the
    conversation gets its title from the message, a reload shows what
    happened, and the page's Retry answers it again as after any failed
    answer."""
    if not new:  # a regenerate: nothing new to keep
        return
    failure = as_error(exc)
    reply = llm.AssistantMessage(stop_reason="error", error_message=str(failure))
    try:
        for message in new:
            parent = store.add_message(conversation_id, message, parent)
        store.add_message(conversation_id, reply, parent, follow=True)
    except Exception as error:  # the refusal is what the client must hear, not this
        log.warning(
            "could not save the refused turn of conversation %s: %s", conversation_id, error
        )


def _saver(
    store: Any, conversation_id: str, parent: str | None
) -> Callable[[llm.AssistantMessage], None]:
    """Saves the reply as a child of ``parent`` (the turn it answers); it
    becomes the shown branch only where the module table says."""

    def save(message: llm.AssistantMessage) -> None:
        try:
            store.add_message(conversation_id, message, parent, follow=True)
        except Exception as exc:  # the conversation may have been deleted meanwhile
            log.warning("could not save the reply to conversation %s: %s", conversation_id, exc)

    return save
