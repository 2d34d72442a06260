"""``/api/conversations``: the page's chat history (list, create, get, rename,
change the system prompt, model, connection and generation settings, switch
branch, truncate, delete).

| method | path                                   | does                                   |
|--------|----------------------------------------|----------------------------------------|
| GET    | /api/conversations                     | summaries, most recently updated first |
| POST   | /api/conversations                     | create (201)                           |
| GET    | /api/conversations/{id}                | one conversation: its visible path, with each message's id and siblings |
| PATCH  | /api/conversations/{id}                | rename / system prompt / model / connection / settings |
| POST   | /api/conversations/{id}/branch         | show the branch through ``message_id`` (its newest leaf) |
| POST   | /api/conversations/{id}/truncate       | show only the first ``keep`` messages of the visible path (nothing is deleted: the next message starts a new branch) |
| DELETE | /api/conversations/{id}                | delete (204)                           |

A conversation's messages are a tree: editing a message or regenerating an
answer adds a sibling version, and the conversation remembers which branch
is shown (its current leaf). ``messages`` is the visible path, root first;
``path`` lies beside it, one entry per message, with the message's ``id``,
``parent_id``, ``sibling_ids`` (every version at that place, oldest first),
``sibling_index`` and ``sibling_count``. Picking another version is
``POST …/branch`` with that sibling's id.

Messages are the pluma.llm message JSON (``role`` user/assistant/toolResult,
camelCase fields), exactly as stored. ``settings`` are the generation
settings the chat relay applies (see :mod:`pluma.server.generation`; a bad
value is a 400 naming it). Failures answer with the server's error shape
``{"error": {"message", "type", "code"}}``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from pluma import llm
from pluma.server.generation import check_generation
from pluma.server.services import get_services
from pluma.server.storage.conversations import (
    Conversation,
    ConversationNotFound,
    ConversationStore,
    ConversationSummary,
    ConversationsUnavailable,
)

router = APIRouter(tags=["conversations"])
log = logging.getLogger("pluma.conversations")

MAX_TITLE = 200
MAX_SYSTEM_PROMPT = 100_000


class ErrorDetail(BaseModel):
    message: str
    type: str
    code: str | None = None
    param: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class ConversationOut(BaseModel):
    """A conversation without its messages."""

    id: str
    title: str = Field(description="From the first user message unless renamed.")
    system_prompt: str
    model: str = Field(description="The model last picked for it ('' = connection default).")
    connection: str = Field(description="The connection profile id last used ('' = active).")
    created_at: int = Field(description="Unix time in milliseconds.")
    updated_at: int = Field(description="Unix time in milliseconds.")
    message_count: int = Field(description="Messages stored, in every branch.")
    settings: dict[str, Any] = Field(
        description="Generation settings: temperature, max_tokens, top_p, stop, reasoning."
    )


class ConversationList(BaseModel):
    conversations: list[ConversationOut]


class PathEntryOut(BaseModel):
    """Where one message of the visible path sits in the tree."""

    id: str
    parent_id: str | None
    sibling_ids: list[str] = Field(description="Every version at this place, oldest first.")
    sibling_index: int = Field(description="This message's index in sibling_ids.")
    sibling_count: int


class ConversationWithMessages(ConversationOut):
    messages: list[dict[str, Any]] = Field(
        description="The visible path: pluma.llm message JSON, oldest first "
        "(role user/assistant/toolResult)."
    )
    path: list[PathEntryOut] = Field(description="One entry per message, in the same order.")
    current_leaf: str | None = Field(description="The id of the last message shown.")


class ConversationCreate(BaseModel):
    title: str = Field(default="", max_length=MAX_TITLE)
    system_prompt: str = Field(default="", max_length=MAX_SYSTEM_PROMPT)
    model: str = Field(default="", max_length=500)
    connection: str = Field(default="", max_length=500)
    settings: dict[str, Any] | None = Field(default=None, description="Generation settings.")


class ConversationPatch(BaseModel):
    """Fields left out stay as they are. An empty ``title`` turns automatic
    titling back on."""

    title: str | None = Field(default=None, max_length=MAX_TITLE)
    system_prompt: str | None = Field(default=None, max_length=MAX_SYSTEM_PROMPT)
    model: str | None = Field(default=None, max_length=500)
    connection: str | None = Field(default=None, max_length=500)
    settings: dict[str, Any] | None = Field(
        default=None, description="Generation settings, replaced whole ({} clears them)."
    )


class BranchBody(BaseModel):
    message_id: str = Field(
        max_length=100, description="A message (usually a sibling of one shown) to show."
    )


MAX_KEEP = 2**53 - 1
"""The largest ``keep`` accepted (any count above the conversation's length
keeps everything; this one is still exact in JavaScript and fits SQLite's
64-bit integers)."""


class TruncateBody(BaseModel):
    keep: int = Field(
        ge=0, le=MAX_KEEP, description="How many messages of the visible path to keep showing."
    )


_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No conversation with that id."}
}


def _store(request: Request) -> ConversationStore:
    """The store; errors (unavailable, unknown id) render through the app's
    one error handler."""
    store = get_services(request).conversations
    if store is None:
        raise ConversationsUnavailable
    return store


def _out(summary: ConversationSummary) -> ConversationOut:
    return ConversationOut(
        id=summary.id,
        title=summary.title,
        system_prompt=summary.system_prompt,
        model=summary.model,
        connection=summary.connection,
        created_at=summary.created_at,
        updated_at=summary.updated_at,
        message_count=summary.message_count,
        settings=summary.settings,
    )


def _with_messages(conversation: Conversation) -> ConversationWithMessages:
    path = conversation.path()
    return ConversationWithMessages(
        **_out(conversation.summary).model_dump(),
        messages=[llm.message_to_dict(entry.node.message) for entry in path],
        path=[
            PathEntryOut(
                id=entry.node.id,
                parent_id=entry.node.parent_id,
                sibling_ids=entry.sibling_ids,
                sibling_index=entry.sibling_index,
                sibling_count=len(entry.sibling_ids),
            )
            for entry in path
        ],
        current_leaf=conversation.current_leaf,
    )


@router.get("/api/conversations", response_model=ConversationList)
def list_conversations(request: Request) -> ConversationList | Response:
    """Every conversation, most recently updated first."""
    store = _store(request)
    return ConversationList(conversations=[_out(s) for s in store.list()])


@router.post("/api/conversations", response_model=ConversationOut, status_code=201)
def create_conversation(
    request: Request, body: ConversationCreate | None = None
) -> ConversationOut | Response:
    """Start an empty conversation; its title comes from the first user
    message unless one is given."""
    store = _store(request)
    body = body or ConversationCreate()
    settings = check_generation(body.settings)
    summary = store.create(body.title, body.system_prompt, body.model, body.connection, settings)
    return _out(summary)


@router.get(
    "/api/conversations/{conversation_id}",
    response_model=ConversationWithMessages,
    responses=_NOT_FOUND,
)
def get_conversation(request: Request, conversation_id: str) -> ConversationWithMessages | Response:
    """One conversation with its visible path (see the module docstring)."""
    return _with_messages(_store(request).get(conversation_id))


@router.patch(
    "/api/conversations/{conversation_id}", response_model=ConversationOut, responses=_NOT_FOUND
)
def update_conversation(
    request: Request, conversation_id: str, body: ConversationPatch
) -> ConversationOut | Response:
    """Rename it, or change its system prompt, model, connection or
    generation settings."""
    settings = None if body.settings is None else check_generation(body.settings)
    summary = _store(request).update(
        conversation_id,
        title=None if body.title is None else body.title.strip(),
        system_prompt=body.system_prompt,
        model=body.model,
        connection=body.connection,
        settings=settings,
    )
    return _out(summary)


@router.post(
    "/api/conversations/{conversation_id}/branch",
    response_model=ConversationWithMessages,
    responses=_NOT_FOUND,
)
def select_branch(
    request: Request, conversation_id: str, body: BranchBody
) -> ConversationWithMessages | Response:
    """Show the branch through ``message_id``: the current leaf becomes the
    newest message below it, and the answer is the conversation as it now
    reads (what a reload shows too)."""
    return _with_messages(_store(request).select_branch(conversation_id, body.message_id))


@router.post(
    "/api/conversations/{conversation_id}/truncate",
    response_model=ConversationOut,
    responses=_NOT_FOUND,
)
def truncate_conversation(
    request: Request, conversation_id: str, body: TruncateBody
) -> ConversationOut | Response:
    """Show only the first ``keep`` messages of the visible path. Nothing is
    deleted: the messages after them stay a branch one can switch back to,
    and the next message sent starts a new branch (for API clients; the page
    names the parent with each turn instead)."""
    summary = _store(request).truncate(conversation_id, body.keep)
    return _out(summary)


@router.delete("/api/conversations/{conversation_id}", status_code=204, responses=_NOT_FOUND)
def delete_conversation(request: Request, conversation_id: str) -> Response:
    """Delete the conversation and its messages."""
    if not _store(request).delete(conversation_id):
        raise ConversationNotFound(conversation_id)
    return Response(status_code=204)
