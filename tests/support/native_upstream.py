"""One loopback server that answers the three native protocols the way their
APIs do, for the docs examples and the server's native providers: OpenAI
Responses (``POST /v1/responses``, ``GET /v1/models``), Gemini
(``POST /v1beta/models/<id>:streamGenerateContent?alt=sse``,
``GET /v1beta/models``) and Ollama (``POST /api/chat``, ``GET /api/tags``).
A Gemini request whose last turn is the user's and that offers tools gets a
function call to the first tool instead of text. Replies are built with the transcript builders
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


MODEL_LISTS: dict[str, dict[str, Any]] = {
    "/v1/models": {"object": "list", "data": [{"id": r.MODEL, "object": "model", "owned_by": "openai"}]},
    "/v1beta/models": {
        "models": [
            {"name": f"models/{g.MODEL}", "displayName": "Gemini 2.5 Flash",
             "supportedGenerationMethods": ["generateContent", "countTokens"]},
            {"name": "models/text-embedding-004", "displayName": "Text Embedding 004",
             "supportedGenerationMethods": ["embedContent"]},
        ]
    },
    "/api/tags": {
        "models": [{"name": o.MODEL, "model": o.MODEL, "details": {"family": "qwen3"}}]
    },
    "/api/version": {"version": "0.12.6"},
}  # fmt: skip


def answer(request: Request) -> Reply:
    body: dict[str, Any] = request.json() if request.body else {}
    path = request.path.split("?", 1)[0]
    if request.method == "GET" and path in MODEL_LISTS:
        return Reply.json(MODEL_LISTS[path])
    if path.endswith("/responses"):
        t = r.Transcript()
        if body.get("reasoning"):
            t.reasoning([_pieces(THINKING)], encrypted="gAAAAB-docs-encrypted")
        t.message(_pieces(TEXT))
        t.completed(r.usage(25, 40, cached=0, reasoning=12 if body.get("reasoning") else 0))
        return Reply(body=t.frames())
    if ":streamGenerateContent" in path:
        config = body.get("generationConfig", {}).get("thinkingConfig", {})
        tools = [d for t in body.get("tools", []) for d in t.get("functionDeclarations", [])]
        contents = body.get("contents", [])
        if (
            tools
            and contents
            and contents[-1].get("role") == "user"
            and not any("functionResponse" in part for part in contents[-1].get("parts", []))
        ):
            call = {"functionCall": {"name": tools[0]["name"], "args": {"city": "Paris"}}}
            return Reply(body=g.frames([g.chunk([call], finish="STOP", usage=g.usage(30, 8))]))
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
