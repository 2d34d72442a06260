"""Reading a chat endpoint's JSON body, with a 400 that says what is wrong."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from pluma.server.chat.codecs.errors import RequestError


async def read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise RequestError("body", "is empty: send a JSON object (Content-Type: application/json)")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError("body", f"is not valid JSON ({exc})") from None
