"""Reading a chat endpoint's JSON body, with a 400 that says what is wrong."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from pluma.server.chat.codecs.errors import RequestError
from pluma.server.config import DEFAULT_MAX_MESSAGES
from pluma.server.errors import HTTPError


async def read_json(request: Request) -> Any:
    """The body, parsed; a body with more messages than the server's
    ``max_messages`` is refused 413 before anything is built from it."""
    raw = await request.body()
    if not raw.strip():
        raise RequestError("body", "is empty: send a JSON object (Content-Type: application/json)")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError("body", f"is not valid JSON ({exc})") from None
    messages = body.get("messages") if isinstance(body, dict) else None
    if isinstance(messages, list):
        state = getattr(request.app.state, "pluma", None)
        limit = state.settings.max_messages if state is not None else DEFAULT_MAX_MESSAGES
        if len(messages) > limit:
            raise HTTPError(
                413,
                f"messages has {len(messages)} items, more than the server's limit of {limit} "
                "per request; send a shorter history, or start the server with a larger "
                "PLUMA_MAX_MESSAGES",
                code="too_many_messages",
            )
    return body
