"""One loopback server that answers the three native protocols the way their
APIs do, for the docs examples: OpenAI Responses (``POST /v1/responses``),
Gemini (``POST /v1beta/models/<id>:streamGenerateContent?alt=sse``) and
Ollama (``POST /api/chat``). Replies are built with the transcript builders
of ``tests/support`` (from each API's published reference): thinking first
when the request asks for reasoning, then a short text in small pieces."""

from __future__ import annotations

from typing import Any

from tests.support import gemini_streams as g
from tests.support import ollama_streams as o
from tests.support import responses_streams as r
from tests.support.scripted_server import Reply, Request, ScriptedServer

TEXT = "Pluma speaks this protocol natively, so nothing is lost in translation."
THINKING = "A short, friendly answer will do."


def _pieces(text: str, size: int = 8) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def answer(request: Request) -> Reply:
    body: dict[str, Any] = request.json() if request.body else {}
    path = request.path
    if path.endswith("/responses"):
        t = r.Transcript()
        if body.get("reasoning"):
            t.reasoning([_pieces(THINKING)], encrypted="gAAAAB-docs-encrypted")
        t.message(_pieces(TEXT))
        t.completed(r.usage(25, 40, cached=0, reasoning=12 if body.get("reasoning") else 0))
        return Reply(body=t.frames())
    if ":streamGenerateContent" in path:
        config = body.get("generationConfig", {}).get("thinkingConfig", {})
        chunks = []
        if config.get("includeThoughts"):
            chunks.append(
                g.chunk([{"text": THINKING, "thought": True, "thoughtSignature": g.sig("docs")}])
            )
        chunks += [g.chunk([{"text": p}]) for p in _pieces(TEXT)]
        chunks.append(g.chunk([], finish="STOP", usage=g.usage(25, 20, thoughts=9)))
        return Reply(body=g.frames(chunks))
    if path == "/api/chat":
        lines = [o.line(thinking=THINKING)] if body.get("think") else []
        lines += [o.line(p) for p in _pieces(TEXT)]
        lines.append(o.final(prompt=25, output=20))
        return Reply(headers={"content-type": "application/x-ndjson"}, body=o.frames(lines))
    return Reply.json({"error": {"message": f"no route {path}"}}, status=404)


def native_upstream() -> ScriptedServer:
    return ScriptedServer(answer)
