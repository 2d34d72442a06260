"""A Cohere v2 chat server on loopback, built from Cohere's published API
reference (``POST /v2/chat`` with ``stream: true``; ``GET /v1/models``).

Streams the named events Cohere documents: ``message-start`` (with the
message ``id``), ``content-start``, one ``content-delta`` per piece of text
(``delta.message.content.text``), ``content-end``, ``message-end``
(``delta.finish_reason`` and ``delta.usage`` with ``billed_units`` and
``tokens``). A wrong key gets 401 with ``{"message": ...}``.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.scripted_server import Reply, Request, ScriptedServer

KEY = "co-test-key"
MODELS = ["command-r-plus-08-2024", "command-a-03-2025"]


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()


class CohereUpstream(ScriptedServer):
    def __init__(self, text: str = "Bonjour from Cohere.") -> None:
        super().__init__(handler=self.answer)
        self.text = text

    def answer(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return Reply.json({"id": "e1", "message": "invalid api token"}, status=401)
        if request.method == "GET" and request.path.startswith("/v1/models"):
            return Reply.json(
                {
                    "models": [
                        {"name": m, "endpoints": ["chat", "generate"], "context_length": 128000}
                        for m in MODELS
                    ],
                    "next_page_token": None,
                }
            )
        if request.method == "POST" and request.path == "/v2/chat":
            body = request.json()
            words = [w + " " for w in self.text.split()]
            events = [
                _event(
                    "message-start",
                    {"id": "msg-123", "delta": {"message": {"role": "assistant", "content": []}}},
                ),
                _event(
                    "content-start",
                    {"index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}},
                ),
                *(
                    _event(
                        "content-delta",
                        {"index": 0, "delta": {"message": {"content": {"text": w}}}},
                    )
                    for w in words
                ),
                _event("content-end", {"index": 0}),
                _event(
                    "message-end",
                    {
                        "delta": {
                            "finish_reason": "MAX_TOKENS"
                            if body.get("max_tokens") == 1
                            else "COMPLETE",
                            "usage": {
                                "billed_units": {"input_tokens": 9, "output_tokens": len(words)},
                                "tokens": {"input_tokens": 70, "output_tokens": len(words)},
                            },
                        }
                    },
                ),
            ]
            return Reply(body=list(events))
        return Reply.json({"message": f"no route {request.path}"}, status=404)
