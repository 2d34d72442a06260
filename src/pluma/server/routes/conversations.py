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
import sqlite3
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from pluma import llm
from pluma.server.http.errors import error_body
from pluma.server.storage.conversations import (
    FILENAME,
    ConversationNotFound,
    ConversationStore,
    ConversationSummary,
    damage_advice,
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


async def startup(state: Any) -> None:
    """Open ``<datadir>/conversations.sqlite3`` into ``state.conversations``.
    A store that cannot open is a start-up problem (shown by /api/health),
    not a fatal one: chat still works without history."""
    try:
        state.conversations = ConversationStore.open(state.settings.data_dir)
    except (OSError, sqlite3.Error) as exc:
        problem = f"conversation history is off: cannot open {FILENAME} in {state.settings.data_dir}: {exc}"
        if isinstance(exc, sqlite3.DatabaseError):
            problem = f"conversation history is off: {damage_advice(state.settings.data_dir / FILENAME, str(exc))}"
        log.error("%s", problem)
        state.problems.append(problem)
        return
    damage = state.conversations.check()
    if damage is not None:
        log.error("%s", damage)  # /api/health shows it from the store
    log.info("conversations: %s", state.conversations.path)


async def shutdown(state: Any) -> None:
    store = getattr(state, "conversations", None)
    if isinstance(store, ConversationStore):
        store.close()
        state.conversations = None


def _error(status: int, message: str, code: str) -> Response:
    """The server's error shape (pluma.server.http.errors), like every other route."""
    return JSONResponse(error_body("/api/conversations", status, message, code=code), status)


def _not_found(exc: ConversationNotFound) -> Response:
    return _error(404, str(exc), "conversation_not_found")


class StoreUnavailable(Exception):
    pass


def _store(request: Request) -> ConversationStore:
    state = getattr(request.app.state, "pluma", None)
    store = getattr(state, "conversations", None)
    if store is None:
        raise StoreUnavailable
    assert isinstance(store, ConversationStore)
    return store


def _unavailable() -> Response:
    return _error(
        503,
        "the conversation store is not open (see the server log for why, e.g. an "
        "unwritable data dir); chat still works, but history is not saved",
        "conversations_unavailable",
    )


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
    try:
        store = _store(request)
    except StoreUnavailable:
        return _unavailable()
    return ConversationList(conversations=[_out(s) for s in store.list()])


@router.post("/api/conversations", response_model=ConversationOut, status_code=201)
def create_conversation(
    request: Request, body: ConversationCreate | None = None
) -> ConversationOut | Response:
    """Start an empty conversation; its title comes from the first user
    message unless one is given."""
    try:
        store = _store(request)
    except StoreUnavailable:
        return _unavailable()
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
    try:
        conversation = _store(request).get(conversation_id)
    except StoreUnavailable:
        return _unavailable()
    except ConversationNotFound as exc:
        return _not_found(exc)
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
    try:
        summary = _store(request).update(
            conversation_id,
            title=None if body.title is None else body.title.strip(),
            system_prompt=body.system_prompt,
            model=body.model,
            connection=body.connection,
        )
    except StoreUnavailable:
        return _unavailable()
    except ConversationNotFound as exc:
        return _not_found(exc)
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
    try:
        summary = _store(request).truncate(conversation_id, body.keep)
    except StoreUnavailable:
        return _unavailable()
    except ConversationNotFound as exc:
        return _not_found(exc)
    return _out(summary)


@router.delete("/api/conversations/{conversation_id}", status_code=204, responses=_NOT_FOUND)
def delete_conversation(request: Request, conversation_id: str) -> Response:
    """Delete the conversation and its messages."""
    try:
        deleted = _store(request).delete(conversation_id)
    except StoreUnavailable:
        return _unavailable()
    if not deleted:
        return _not_found(ConversationNotFound(conversation_id))
    return Response(status_code=204)
