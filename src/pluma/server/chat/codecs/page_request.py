"""The page's turn for ``POST /api/chat`` → a :class:`ChatRequest` without its
history, which the route reads from the conversation store.

The page names a stored conversation and sends only what is new; the server
builds the history from its own store, in the neutral vocabulary, so thinking
blocks and their signatures, tool calls and tool results reach the upstream
exactly as they came back (a page converting stored messages to OpenAI
messages lost the signatures, which Anthropic then refuses).

| field             | meaning                                                          |
|-------------------|------------------------------------------------------------------|
| ``conversation_id``| the stored conversation this turn continues (required)          |
| ``message``       | the new turn: one message in pluma.llm message JSON (``role``    |
|                   | ``user`` or ``toolResult``), or an array of them (several tool   |
|                   | results)                                                         |
| ``parent_id``     | with ``message``: the stored message the turn follows (null: a   |
|                   | new first message; left out: the conversation's current leaf)    |
| ``regenerate``    | instead of ``message``: the stored message whose answer is made  |
|                   | again (a new sibling of the earlier answers)                     |
| everything else   | as in the OpenAI-style body the route also takes (every Chat     |
|                   | Completions member, ``connection``, ``system``, ``reasoning``)   |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pluma import llm
from pluma.server.chat.codecs.errors import RequestError
from pluma.server.chat.codecs.fields import opt_str, require_list, require_object
from pluma.server.chat.codecs.openai_request import decode_chat_completions
from pluma.server.chat.providers.base import ChatRequest
from pluma.server.storage.conversations import LEAF, Parent

NEW_TURN_ROLES = ("user", "toolResult")


@dataclass(slots=True)
class PageTurn:
    conversation_id: str
    turn: list[llm.Message]
    """The new messages, to store and to send after the stored history."""
    request: ChatRequest
    """Everything but the history: ``request.context.messages`` is empty."""
    parent: Parent = LEAF
    """The stored message the turn follows (for ``regenerate``, the one answered)."""


def is_page_turn(body: dict[str, Any]) -> bool:
    """Whether ``body`` is the page's shape (``message``) rather than an
    OpenAI-style ``messages`` array."""
    return ("message" in body or "regenerate" in body) and "messages" not in body


def decode_page_turn(body: dict[str, Any]) -> PageTurn:
    """Validate and decode the page's body; raises :class:`RequestError`."""
    conversation_id = opt_str(body, "conversation_id", "conversation_id")
    if not conversation_id:
        raise RequestError(
            "conversation_id",
            "is required with message (the stored conversation the turn continues); "
            "without a stored conversation, send the whole history as messages",
        )
    parent: Parent = LEAF
    if "parent_id" in body:
        parent = opt_str(body, "parent_id", "parent_id") or None
    rest = {k: v for k, v in body.items() if k not in ("message", "parent_id", "regenerate")}
    request = decode_chat_completions(rest, require_model=False, page=True, history=False).request
    if "regenerate" in body:
        if "message" in body or "parent_id" in body:
            raise RequestError(
                "regenerate", "comes alone: without message and parent_id (it names the parent)"
            )
        answered = opt_str(body, "regenerate", "regenerate")
        if not answered:
            raise RequestError("regenerate", "must be the id of a stored message")
        return PageTurn(conversation_id, [], request, answered)
    value = body["message"]
    items = require_list(value, "message") if isinstance(value, list) else [value]
    if not items:
        raise RequestError("message", "must not be empty")
    turn: list[llm.Message] = []
    for i, item in enumerate(items):
        path = f"message[{i}]" if isinstance(value, list) else "message"
        require_object(item, path)
        try:
            message = llm.message_from_dict(item, path)
        except ValueError as exc:  # MessageFormatError names the field
            raise RequestError("", str(exc)) from None
        if message.role not in NEW_TURN_ROLES:
            raise RequestError(
                f"{path}.role",
                f"a new turn is a user message or tool results, got {message.role!r}",
            )
        turn.append(message)
    return PageTurn(conversation_id=conversation_id, turn=turn, request=request, parent=parent)
