"""``/api/conversations``: the page's chat history (list, create, get, rename,
change the system prompt, truncate, delete).

| method | path                                   | does                                   |
|--------|----------------------------------------|----------------------------------------|
| GET    | /api/conversations                     | summaries, most recently updated first |
| POST   | /api/conversations                     | create (201)                           |
| GET    | /api/conversations/{id}                | one conversation with its messages     |
| PATCH  | /api/conversations/{id}                | rename / system prompt / model / connection |
| POST   | /api/conversations/{id}/truncate       | keep the first ``keep`` messages       |
| DELETE | /api/conversations/{id}                | delete (204)                           |

Messages are the pluma.llm message JSON (``role`` user/assistant/toolResult,
camelCase fields), exactly as stored. Failures answer with the server's error
shape ``{"error": {"message", "type", "code"}}``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from pluma import llm
from pluma.server.services import get_services
from pluma.server.storage.conversations import (
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
    message_count: int


class ConversationList(BaseModel):
    conversations: list[ConversationOut]


class ConversationWithMessages(ConversationOut):
    messages: list[dict[str, Any]] = Field(
        description="pluma.llm message JSON, oldest first (role user/assistant/toolResult)."
    )


class ConversationCreate(BaseModel):
    title: str = Field(default="", max_length=MAX_TITLE)
    system_prompt: str = Field(default="", max_length=MAX_SYSTEM_PROMPT)
    model: str = Field(default="", max_length=500)
    connection: str = Field(default="", max_length=500)


class ConversationPatch(BaseModel):
    """Fields left out stay as they are. An empty ``title`` turns automatic
    titling back on."""

    title: str | None = Field(default=None, max_length=MAX_TITLE)
    system_prompt: str | None = Field(default=None, max_length=MAX_SYSTEM_PROMPT)
    model: str | None = Field(default=None, max_length=500)
    connection: str | None = Field(default=None, max_length=500)


MAX_KEEP = 2**53 - 1
"""The largest ``keep`` accepted (any count above the conversation's length
keeps everything; this one is still exact in JavaScript and fits SQLite's
64-bit integers)."""


class TruncateBody(BaseModel):
    keep: int = Field(ge=0, le=MAX_KEEP, description="How many messages to keep from the start.")


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
    summary = store.create(body.title, body.system_prompt, body.model, body.connection)
    return _out(summary)


@router.get(
    "/api/conversations/{conversation_id}",
    response_model=ConversationWithMessages,
    responses=_NOT_FOUND,
)
def get_conversation(request: Request, conversation_id: str) -> ConversationWithMessages | Response:
    """One conversation with all its messages."""
    conversation = _store(request).get(conversation_id)
    out = _out(conversation.summary)
    return ConversationWithMessages(
        **out.model_dump(),
        messages=[llm.message_to_dict(m) for m in conversation.messages],
    )


@router.patch(
    "/api/conversations/{conversation_id}", response_model=ConversationOut, responses=_NOT_FOUND
)
def update_conversation(
    request: Request, conversation_id: str, body: ConversationPatch
) -> ConversationOut | Response:
    """Rename it, or change its system prompt, model or connection."""
    summary = _store(request).update(
        conversation_id,
        title=None if body.title is None else body.title.strip(),
        system_prompt=body.system_prompt,
        model=body.model,
        connection=body.connection,
    )
    return _out(summary)


@router.post(
    "/api/conversations/{conversation_id}/truncate",
    response_model=ConversationOut,
    responses=_NOT_FOUND,
)
def truncate_conversation(
    request: Request, conversation_id: str, body: TruncateBody
) -> ConversationOut | Response:
    """Drop every message after the first ``keep`` (used by Regenerate and
    edit-and-resend, which replace the end of the conversation)."""
    summary = _store(request).truncate(conversation_id, body.keep)
    return _out(summary)


@router.delete("/api/conversations/{conversation_id}", status_code=204, responses=_NOT_FOUND)
def delete_conversation(request: Request, conversation_id: str) -> Response:
    """Delete the conversation and its messages."""
    if not _store(request).delete(conversation_id):
        raise ConversationNotFound(conversation_id)
    return Response(status_code=204)
