"""Conversations as files: the JSON export (lossless, read back by import)
and the Markdown export (for reading), shared by the routes and ``pluma
conversations``.

The JSON document, version 1::

    {"format": "pluma.conversations", "version": 1, "exported_at": <Unix ms>,
     "conversations": [
       {"id": "…", "title": "…", "title_is_auto": false, "system_prompt": "…",
        "model": "…", "connection": "…", "settings": {…}, "created_at": <Unix ms>,
        "updated_at": <Unix ms>, "current_leaf": "<message id>",
        "messages": [{"id": "…", "parent_id": null | "…", "created_at": <Unix ms>,
                      "message": <pluma.llm message JSON>}, …]}]}

``messages`` is the whole tree, every branch, in creation order (a parent
before its children); ``current_leaf`` is the message the shown branch ends
at. Messages are the pluma.llm message JSON the stores keep (thinking and its
signatures, tool calls, tool results, images, usage), so an imported
conversation replays through any adapter exactly as the original. Import
gives every conversation and message a new id (so importing a file twice
makes two copies and never overwrites) and ignores fields it does not know;
``messages`` may also be a plain list of message JSON (read as one chain). A
file from a newer format version is refused rather than half read.
"""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from pluma import llm
from pluma.server.errors import InvalidRequest
from pluma.server.generation import check_generation
from pluma.server.storage.conversations import Conversation, ConversationStore, ConversationSummary
from pluma.server.storage.tree import MessageNode

FORMAT = "pluma.conversations"
VERSION = 1
MAX_TITLE = 200
MAX_SYSTEM_PROMPT = 100_000
MAX_NAME = 500
"""Characters of a model or connection name."""
MAX_TIMESTAMP = 2**53 - 1


@dataclass(slots=True)
class Portable:
    """A conversation as exported or imported: it and whether its title is
    still the automatic one (so automatic titling stays on after import)."""

    conversation: Conversation
    title_is_auto: bool


# -- JSON ------------------------------------------------------------------


def conversation_to_dict(item: Portable) -> dict[str, Any]:
    summary = item.conversation.summary
    nodes, leaf = item.conversation.tree()
    return {
        "id": summary.id,
        "title": summary.title,
        "title_is_auto": item.title_is_auto,
        "system_prompt": summary.system_prompt,
        "model": summary.model,
        "connection": summary.connection,
        "settings": summary.settings,
        "created_at": summary.created_at,
        "updated_at": summary.updated_at,
        "current_leaf": leaf,
        "messages": [
            {
                "id": node.id,
                "parent_id": node.parent_id,
                "created_at": node.created_at,
                "message": llm.message_to_dict(node.message),
            }
            for node in nodes
        ],
    }


def to_json(items: list[Portable], *, exported_at: int | None = None) -> dict[str, Any]:
    """The export document of ``items``."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": int(time.time() * 1000) if exported_at is None else exported_at,
        "conversations": [conversation_to_dict(item) for item in items],
    }


def to_json_bytes(items: list[Portable]) -> bytes:
    return orjson.dumps(to_json(items), option=orjson.OPT_INDENT_2) + b"\n"


def _bad(param: str, problem: str) -> InvalidRequest:
    return InvalidRequest(
        f"{param} {problem}; import takes a file made by Pluma's export "
        f'({{"format": "{FORMAT}", "version": {VERSION}, "conversations": [...]}})',
        param=param,
    )


def _text(obj: dict[str, Any], key: str, where: str, limit: int) -> str:
    value = obj.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _bad(f"{where}.{key}", f"must be a string, not {type(value).__name__}")
    if len(value) > limit:
        raise _bad(f"{where}.{key}", f"is {len(value)} characters long, more than {limit}")
    return value


def _stamp(obj: dict[str, Any], key: str, where: str, default: int) -> int:
    value = obj.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TIMESTAMP:
        raise _bad(f"{where}.{key}", "must be a Unix time in milliseconds (a whole number)")
    return value


def _conversation(obj: Any, where: str, max_messages: int, now: int) -> Portable:
    if not isinstance(obj, dict):
        raise _bad(where, "must be an object (one conversation)")
    title = _text(obj, "title", where, MAX_TITLE)
    auto = obj.get("title_is_auto", not title)
    if not isinstance(auto, bool):
        raise _bad(f"{where}.title_is_auto", "must be true or false")
    raw = obj.get("messages", [])
    if not isinstance(raw, list):
        raise _bad(f"{where}.messages", "must be a list of messages")
    if len(raw) > max_messages:
        raise InvalidRequest(
            f"{where}.messages has {len(raw)} messages, more than the server's limit of "
            f"{max_messages} per conversation; start the server with a larger "
            "PLUMA_MAX_MESSAGES to import it",
            param=f"{where}.messages",
            status=413,
        )
    nodes, leaf = _nodes(raw, obj.get("current_leaf"), where, now)
    # A time after now (another machine's clock, a hand-edited file) would sort
    # first forever and push every later update's stamp past it: kept at now.
    created = min(_stamp(obj, "created_at", where, now), now)
    summary = ConversationSummary(
        id=str(obj.get("id") or ""),
        title=title,
        system_prompt=_text(obj, "system_prompt", where, MAX_SYSTEM_PROMPT),
        model=_text(obj, "model", where, MAX_NAME),
        connection=_text(obj, "connection", where, MAX_NAME),
        created_at=created,
        updated_at=min(max(created, _stamp(obj, "updated_at", where, created)), now),
        message_count=len(nodes),
        settings=check_generation(obj.get("settings") or {}, f"{where}.settings"),
    )
    return Portable(Conversation.from_nodes(summary, nodes, leaf), auto)


def _message(raw: Any, where: str) -> llm.Message:
    try:
        return llm.message_from_dict(raw, where)
    except (ValueError, TypeError) as exc:
        raise InvalidRequest(
            f"{exc}; each message must be pluma.llm message JSON as Pluma exports it",
            param=where,
        ) from None


def _nodes(raw: list[Any], leaf: Any, where: str, now: int) -> tuple[list[MessageNode], str | None]:
    """The tree under fresh ids, and the current leaf mapped onto them."""
    if all(isinstance(m, dict) and "role" in m for m in raw):  # a plain list: one chain
        nodes: list[MessageNode] = []
        parent: str | None = None
        for i, message in enumerate(raw):
            node = MessageNode(
                ConversationStore.new_id(), parent, _message(message, f"{where}.messages[{i}]"), now
            )
            nodes.append(node)
            parent = node.id
        return nodes, parent
    fresh: dict[str, str] = {}
    nodes = []
    for i, entry in enumerate(raw):
        at = f"{where}.messages[{i}]"
        if not isinstance(entry, dict):
            raise _bad(at, 'must be an object {"id", "parent_id", "created_at", "message"}')
        old = entry.get("id")
        if not isinstance(old, str) or not old or old in fresh:
            raise _bad(f"{at}.id", "must be a string, unique within the conversation")
        parent = entry.get("parent_id")
        if parent is not None and (not isinstance(parent, str) or parent not in fresh):
            raise _bad(
                f"{at}.parent_id",
                "must be null or the id of a message listed before it",
            )
        fresh[old] = ConversationStore.new_id()
        nodes.append(
            MessageNode(
                fresh[old],
                None if parent is None else fresh[parent],
                _message(entry.get("message"), f"{at}.message"),
                min(_stamp(entry, "created_at", at, now), now),
            )
        )
    if leaf is None:
        return nodes, (nodes[-1].id if nodes else None)
    if not isinstance(leaf, str) or leaf not in fresh:
        raise _bad(f"{where}.current_leaf", "must be the id of one of its messages")
    return nodes, fresh[leaf]


def parse(doc: Any, *, max_messages: int) -> list[Portable]:
    """The conversations of an export document; raises
    :class:`~pluma.server.errors.InvalidRequest` naming the first bad field
    (``conversations[2].messages[0].role``, …)."""
    if not isinstance(doc, dict):
        raise _bad("body", "must be a JSON object")
    if doc.get("format") != FORMAT:
        raise _bad("format", f'must be "{FORMAT}" (got {orjson.dumps(doc.get("format")).decode()})')
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _bad("version", "must be a whole number from 1")
    if version > VERSION:
        raise InvalidRequest(
            f"this file is format version {version}, made by a newer Pluma; this one reads "
            f"version {VERSION}: upgrade Pluma to import it",
            param="version",
        )
    raw = doc.get("conversations")
    if not isinstance(raw, list):
        raise _bad("conversations", "must be a list")
    if not raw:
        raise _bad("conversations", "is empty: there is nothing to import")
    now = int(time.time() * 1000)
    return [_conversation(c, f"conversations[{i}]", max_messages, now) for i, c in enumerate(raw)]


# -- Markdown --------------------------------------------------------------


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _fence(text: str, info: str = "") -> str:
    """``text`` in a code fence longer than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines())


def _user_parts(content: str | list[llm.UserContent]) -> list[str]:
    if isinstance(content, str):
        return [content]
    out: list[str] = []
    for block in content:
        if isinstance(block, llm.TextContent):
            out.append(block.text)
        else:
            out.append(f"*[image: {block.mime_type}]*")
    return out


def _message_markdown(message: llm.Message) -> str:
    if isinstance(message, llm.UserMessage):
        return "\n\n".join(["## User", *_user_parts(message.content)])
    if isinstance(message, llm.ToolResultMessage):
        heading = f"## Tool result: `{message.tool_name}`" + (
            " (error)" if message.is_error else ""
        )
        parts = [
            _fence(p) if not p.startswith("*[image") else p for p in _user_parts(message.content)
        ]
        return "\n\n".join([heading, *parts])
    heading = "## Assistant" + (f" ({message.model})" if message.model else "")
    parts = [heading]
    for block in message.content:
        if isinstance(block, llm.ThinkingContent):
            if block.thinking.strip():
                parts.append(_quote("**Reasoning**\n\n" + block.thinking))
        elif isinstance(block, llm.TextContent):
            parts.append(block.text)
        else:
            arguments = orjson.dumps(block.arguments, option=orjson.OPT_INDENT_2).decode()
            parts.append(f"**Tool call** `{block.name}`\n\n" + _fence(arguments, "json"))
    if message.stop_reason == "aborted":
        parts.append("*(stopped before the end)*")
    elif message.stop_reason == "error":
        parts.append(f"*(error: {message.error_message or 'the answer failed'})*")
    return "\n\n".join(parts)


def conversation_markdown(conversation: Conversation) -> str:
    summary = conversation.summary
    lines = [f"# {summary.title or 'Untitled conversation'}", ""]
    if summary.model or summary.connection:
        used = [
            f"model `{summary.model}`" if summary.model else "",
            f"connection `{summary.connection}`" if summary.connection else "",
        ]
        lines.append("- " + ", ".join(u for u in used if u).capitalize())
    lines.append(f"- Started {_when(summary.created_at)}, last updated {_when(summary.updated_at)}")
    parts = ["\n".join(lines)]
    if summary.system_prompt:
        parts.append("## System prompt\n\n" + _quote(summary.system_prompt))
    parts += [_message_markdown(m) for m in conversation.messages]
    return "\n\n".join(parts) + "\n"


def to_markdown(conversations: list[Conversation]) -> str:
    """The conversations as one readable Markdown document."""
    return "\n---\n\n".join(conversation_markdown(c) for c in conversations)


# -- file names --------------------------------------------------------------


def filename(title: str | None, extension: str, *, when: int | None = None) -> str:
    """A download name: ``pluma-<title>-<date>.<ext>`` for one conversation,
    ``pluma-conversations-<date>.<ext>`` for all (``title`` None). ASCII only,
    so it needs no quoting in ``Content-Disposition``."""
    ms = time.time() * 1000 if when is None else when
    day = datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")
    if title is None:
        return f"pluma-conversations-{day}.{extension}"
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:50].strip("-")
    return f"pluma-{stem or 'conversation'}-{day}.{extension}"
