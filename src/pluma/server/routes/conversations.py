"""``/api/conversations``: the page's chat history (list, create, get, rename,
change the system prompt, model, connection and generation settings, switch
branch, truncate, delete, search, export, import).

| method | path                                   | does                                   |
|--------|----------------------------------------|----------------------------------------|
| GET    | /api/conversations                     | summaries, most recently updated first |
| POST   | /api/conversations                     | create (201)                           |
| GET    | /api/conversations/search?q=           | conversations matching the words, best first, each with a snippet |
| GET    | /api/conversations/export?format=      | every conversation as a download (``json`` or ``markdown``) |
| POST   | /api/conversations/import              | conversations from an export's JSON, under new ids (201) |
| GET    | /api/conversations/{id}                | one conversation: its visible path, with each message's id and siblings |
| PATCH  | /api/conversations/{id}                | rename / system prompt / model / connection / settings |
| POST   | /api/conversations/{id}/branch         | show the branch through ``message_id`` (its newest leaf) |
| POST   | /api/conversations/{id}/truncate       | show only the first ``keep`` messages of the visible path (nothing is deleted: the next message starts a new branch) |
| GET    | /api/conversations/{id}/export?format= | one conversation (every branch) as a download |
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
value is a 400 naming it). Search semantics (every branch is searched) are in
:mod:`pluma.server.storage.search`, the export format (the whole tree) in
:mod:`pluma.server.storage.transfer`. An import is bounded like any request
body (``--max-body`` / ``PLUMA_MAX_BODY``, ``PLUMA_MAX_JSON_NODES``: 413 past
them) and each conversation by ``PLUMA_MAX_MESSAGES``; ``pluma conversations
import`` has no body limit. Failures answer with the server's error shape
``{"error": {"message", "type", "code", "param"}}``.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from pluma import llm
from pluma.server.config import DEFAULT_MAX_MESSAGES
from pluma.server.generation import check_generation
from pluma.server.http.bodies import read_json
from pluma.server.services import get_services
from pluma.server.storage import search, transfer
from pluma.server.storage.conversations import (
    Conversation,
    ConversationNotFound,
    ConversationStore,
    ConversationSummary,
    ConversationsUnavailable,
)

router = APIRouter(tags=["conversations"])
log = logging.getLogger("pluma.conversations")

MAX_TITLE = transfer.MAX_TITLE
MAX_SYSTEM_PROMPT = transfer.MAX_SYSTEM_PROMPT


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


class SnippetPart(BaseModel):
    text: str
    match: bool = Field(description="Whether this part is a matching word (the page marks it).")


class SearchResult(BaseModel):
    conversation: ConversationOut
    snippet: list[SnippetPart] = Field(
        description="Text around the match as plain-text parts (never markup)."
    )
    message_id: str | None = Field(
        description="Id of the matching message (in any branch); null when only the title matched."
    )


class SearchResults(BaseModel):
    query: str
    results: list[SearchResult]


ExportFormat = Literal["json", "markdown"]
_MEDIA = {"json": "application/json", "markdown": "text/markdown; charset=utf-8"}
_EXTENSION = {"json": "json", "markdown": "md"}

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


@router.get("/api/conversations/search", response_model=SearchResults)
def search_conversations(
    request: Request,
    q: str = Query("", description="Plain words; each is a prefix, all must match."),
    limit: int = Query(50, ge=1, le=search.MAX_RESULTS),
) -> SearchResults:
    """Conversations whose title or message text holds every word of ``q``:
    title matches first, then by relevance, each with a snippet."""
    hits = _store(request).search(q, limit)
    return SearchResults(
        query=q,
        results=[
            SearchResult(
                conversation=_out(hit.summary),
                snippet=[SnippetPart(text=t, match=m) for t, m in hit.snippet],
                message_id=hit.message_id,
            )
            for hit in hits
        ],
    )


def _download(items: list[transfer.Portable], fmt: ExportFormat, title: str | None) -> Response:
    if fmt == "json":
        body = transfer.to_json_bytes(items)
    else:
        body = transfer.to_markdown([item.conversation for item in items]).encode()
    name = transfer.filename(title, _EXTENSION[fmt])
    return Response(
        body,
        media_type=_MEDIA[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


def _portable(store: ConversationStore, conversation_id: str) -> transfer.Portable:
    return transfer.Portable(store.get(conversation_id), store.title_is_auto(conversation_id))


_DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file, with a Content-Disposition download name.",
        "content": {"application/json": {}, "text/markdown": {}},
    }
}


@router.get("/api/conversations/export", response_class=Response, responses=_DOWNLOAD)
def export_all(request: Request, format: ExportFormat = "json") -> Response:
    """Every conversation, most recently updated first: ``json`` (lossless,
    what import reads) or ``markdown`` (for reading)."""
    store = _store(request)
    items: list[transfer.Portable] = []
    for summary in store.list():
        try:
            items.append(_portable(store, summary.id))
        except ConversationNotFound:  # deleted while exporting
            continue
    return _download(items, format, None)


@router.post("/api/conversations/import", response_model=ConversationList, status_code=201)
async def import_conversations(request: Request) -> ConversationList:
    """Conversations from an export's JSON, each under a new id (importing
    twice makes copies, never overwrites); all or nothing is checked before
    any is stored. The answer lists them in the file's order."""
    store = _store(request)
    settings = getattr(get_services(request), "settings", None)
    limit = settings.max_messages if settings is not None else DEFAULT_MAX_MESSAGES
    items = transfer.parse(await read_json(request), max_messages=limit)
    imported: list[ConversationOut] = []
    for item in items:
        conversation = item.conversation
        conversation.summary.id = store.new_id()
        imported.append(_out(store.insert(conversation, title_is_auto=item.title_is_auto)))
    log.info("imported %d conversations", len(imported))
    return ConversationList(conversations=imported)


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


@router.get(
    "/api/conversations/{conversation_id}/export",
    response_class=Response,
    responses={**_DOWNLOAD, **_NOT_FOUND},
)
def export_one(
    request: Request,
    conversation_id: str,
    format: ExportFormat = "json",
) -> Response:
    """One conversation: ``json`` (lossless, what import reads) or
    ``markdown`` (for reading)."""
    item = _portable(_store(request), conversation_id)
    return _download([item], format, item.conversation.summary.title)


@router.delete("/api/conversations/{conversation_id}", status_code=204, responses=_NOT_FOUND)
def delete_conversation(request: Request, conversation_id: str) -> Response:
    """Delete the conversation and its messages."""
    if not _store(request).delete(conversation_id):
        raise ConversationNotFound(conversation_id)
    return Response(status_code=204)
