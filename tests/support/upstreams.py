"""Realistic OpenAI and Anthropic upstreams for :class:`ScriptedServer`.

Built from the published APIs, not from Pluma's code:

* OpenAI: ``GET /v1/models`` (``{"object": "list", "data": [{"id", "object",
  "created", "owned_by"}]}``) and ``POST /v1/chat/completions`` — streaming
  ``chat.completion.chunk`` SSE (role first, ``reasoning_content`` as the
  OpenAI-compatible reasoning servers send it, tool-call fragments with
  ``index`` and id/name only on the first, ``finish_reason``, the usage chunk
  with ``choices: []`` only when ``stream_options.include_usage``, ``[DONE]``)
  or a ``chat.completion`` object.
* Anthropic: ``GET /v1/models`` (``{"data": [{"type": "model", "id",
  "display_name", "created_at"}], "has_more", "first_id", "last_id"}``) and
  ``POST /v1/messages`` — named SSE events (``message_start`` with usage,
  ``ping``, ``content_block_start/delta/stop`` for thinking with
  ``signature_delta``, text and ``tool_use`` with ``input_json_delta``,
  ``message_delta`` with ``stop_reason`` and usage, ``message_stop``) or a
  ``message`` object.

What the model "says" is a :class:`Script`, set on the upstream per test.
Each upstream answers on its own :class:`ScriptedServer`, which records the
requests (so a test can check what Pluma sent; :meth:`_Upstream.bodies` gives
their JSON bodies) and notices disconnects.

Both honour stop sequences as the APIs document them: the reply ends before
the first occurrence of any of ``stop`` (OpenAI: ``finish_reason: stop``, the
sequence left out) or ``stop_sequences`` (Anthropic: ``stop_reason:
stop_sequence`` with ``stop_sequence`` naming the one that matched). The
Anthropic upstream also honours a forced tool (``tool_choice: {"type":
"tool", "name"}``) when the script has no tool calls of its own: it calls
that tool with the script's text as its input (the text parsed as JSON).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.support.scripted_server import Chunk, Reply, Request, ScriptedServer


@dataclass
class ToolUse:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class Script:
    """One reply. ``stall`` keeps the upstream silent (headers sent, no token)
    for that many seconds before anything; ``hold_after`` goes silent for a
    minute after that many text pieces (a stream stalled mid-way);
    ``fail_after`` ends the stream after that many text pieces with an error
    event."""

    text: str = "Hello from the upstream."
    thinking: str = ""
    signature: str = "sig-abc123"
    tools: list[ToolUse] = field(default_factory=list)
    input_tokens: int = 12
    output_tokens: int = 7
    cached_tokens: int = 0
    stop: str = ""  # "" = natural (stop / tool use), or "length"
    stall: float = 0.0
    hold_after: int | None = None
    fail_after: int | None = None
    status: int = 200
    error_message: str = "upstream is overloaded"
    retry_after: str | None = None  # the Retry-After header of an error reply


MODELS = ["model-a", "meta-llama/Llama-3-8B"]


def pieces(text: str, size: int = 6) -> list[str]:
    """Split text into small deltas (as models stream it)."""
    return [text[i : i + size] for i in range(0, len(text), size)] or []


def cut_at_stop(text: str, stops: Any) -> tuple[str, str | None]:
    """``text`` up to the earliest stop sequence, and the sequence that matched."""
    if isinstance(stops, str):
        stops = [stops]
    best: tuple[int, str] | None = None
    for seq in stops or []:
        at = text.find(seq) if isinstance(seq, str) and seq else -1
        if at >= 0 and (best is None or at < best[0]):
            best = (at, seq)
    if best is None:
        return text, None
    return text[: best[0]], best[1]


def _sse(data: dict[str, Any] | str, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


class _Upstream(ScriptedServer):
    """A scripted upstream API: subclasses answer each request from ``script``."""

    default_models: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__(handler=self.answer)
        self.script = Script()
        self.models = list(self.default_models)
        """The ids ``GET /v1/models`` lists (a test may change them)."""

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def answer(self, request: Request) -> Reply:
        raise NotImplementedError

    def reset(self, script: Script | None = None) -> None:
        """A new script, a clean request log and disconnect flag (servers are
        shared by the tests of a module)."""
        self.script = script or Script()
        self.requests.clear()
        self._disconnected.clear()

    def wait_request(self, count: int = 1, timeout: float = 5.0) -> bool:
        """True once ``count`` requests have arrived."""
        return self.wait_requests(count, timeout)

    def bodies(self, path: str = "") -> list[dict[str, Any]]:
        """The JSON bodies of the POST requests received (to ``path`` when given)."""
        return [
            r.json()
            for r in list(self.requests)
            if r.method == "POST" and (not path or r.path == path)
        ]


class OpenAIUpstream(_Upstream):
    """An OpenAI Chat Completions server."""

    default_models = tuple(MODELS)

    def answer(self, request: Request) -> Reply:
        if request.method == "GET" and request.path == "/v1/models":
            return Reply.json(
                {
                    "object": "list",
                    "data": [
                        {
                            "id": m,
                            "object": "model",
                            "created": 1_700_000_000,
                            "owned_by": "test-org",
                        }
                        for m in self.models
                    ],
                }
            )
        if request.method == "POST" and request.path == "/v1/chat/completions":
            return self.completion(request.json())
        return Reply.json(
            {"error": {"message": f"no route {request.path}", "type": "invalid_request_error"}},
            status=404,
        )

    def completion(self, body: dict[str, Any]) -> Reply:
        s = self.script
        if s.status != 200:
            return Reply.json(
                {"error": {"message": s.error_message, "type": "server_error", "code": None}},
                status=s.status,
                headers={"retry-after": s.retry_after} if s.retry_after else None,
            )
        text, matched = cut_at_stop(s.text, body.get("stop"))
        finish = s.stop or ("tool_calls" if s.tools and not matched else "stop")
        usage = {
            "prompt_tokens": s.input_tokens + s.cached_tokens,
            "completion_tokens": s.output_tokens,
            "total_tokens": s.input_tokens + s.cached_tokens + s.output_tokens,
            "prompt_tokens_details": {"cached_tokens": s.cached_tokens},
        }
        model = body.get("model", "model-a")
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": text or None}
            if s.tools and not matched:
                message["tool_calls"] = [
                    {
                        "id": t.id,
                        "type": "function",
                        "function": {"name": t.name, "arguments": json.dumps(t.arguments)},
                    }
                    for t in s.tools
                ]
            return Reply.json(
                {
                    "id": "chatcmpl-up1",
                    "object": "chat.completion",
                    "created": 1_700_000_000,
                    "model": model,
                    "choices": [
                        {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
                    ],
                    "usage": usage,
                }
            )

        def chunk(delta: dict[str, Any], reason: str | None = None) -> bytes:
            return _sse(
                {
                    "id": "chatcmpl-up1",
                    "object": "chat.completion.chunk",
                    "created": 1_700_000_000,
                    "model": model,
                    "choices": [
                        {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
                    ],
                }
            )

        out: list[Chunk] = []
        if s.stall:
            out.append(float(s.stall))
        out.append(chunk({"role": "assistant", "content": ""}))
        for piece in pieces(s.thinking):
            out.append(chunk({"reasoning_content": piece}))
        for n, piece in enumerate(pieces(text)):
            if s.fail_after is not None and n == s.fail_after:
                out.append(_sse({"error": {"message": s.error_message, "type": "server_error"}}))
                return Reply(body=out)
            if s.hold_after is not None and n == s.hold_after:
                out.append(60.0)
            out.append(chunk({"content": piece}))
        for i, tool in enumerate([] if matched else s.tools):
            out.append(
                chunk({"tool_calls": [{"index": i, "id": tool.id, "type": "function",
                                        "function": {"name": tool.name, "arguments": ""}}]})
            )  # fmt: skip
            for piece in pieces(json.dumps(tool.arguments), 5):
                out.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
        out.append(chunk({}, finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            out.append(
                _sse({"id": "chatcmpl-up1", "object": "chat.completion.chunk", "created": 1_700_000_000,
                      "model": model, "choices": [], "usage": usage})
            )  # fmt: skip
        out.append(_sse("[DONE]"))
        return Reply(body=out)


class AnthropicUpstream(_Upstream):
    """An Anthropic Messages server (API version 2023-06-01).

    With ``strict_thinking`` it checks the history as the real API does when
    extended thinking is used: every ``thinking`` block sent back must carry a
    signature this server issued ("Invalid `signature` in `thinking` block"),
    and with thinking enabled, an assistant turn whose ``tool_use`` is being
    answered with ``tool_result`` must start with its ``thinking`` block. A
    request that breaks either is a 400 ``invalid_request_error``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.strict_thinking = False
        self.issued_signatures: set[str] = set()

    default_models = ("claude-test-1", "claude-test-2")

    def answer(self, request: Request) -> Reply:
        if request.method == "GET" and request.path.startswith("/v1/models"):
            data = [
                {
                    "type": "model",
                    "id": m,
                    "display_name": f"Claude {m}",
                    "created_at": "2025-01-01T00:00:00Z",
                }
                for m in self.models
            ]
            return Reply.json(
                {
                    "data": data,
                    "has_more": False,
                    "first_id": data[0]["id"] if data else None,
                    "last_id": data[-1]["id"] if data else None,
                }
            )
        if request.method == "POST" and request.path == "/v1/messages":
            return self.messages(request.json())
        return Reply.json(
            {
                "type": "error",
                "error": {"type": "not_found_error", "message": f"no route {request.path}"},
            },
            status=404,
        )

    def _stop_reason(self, tools: list[ToolUse], matched: str | None) -> str:
        if matched is not None:
            return "stop_sequence"
        return {"length": "max_tokens"}.get(self.script.stop, "tool_use" if tools else "end_turn")

    def thinking_problem(self, body: dict[str, Any]) -> str | None:
        """What the real API would refuse in this history, or None."""
        messages = body.get("messages") or []
        for i, message in enumerate(messages):
            content = message.get("content")
            if message.get("role") != "assistant" or not isinstance(content, list):
                continue
            for j, block in enumerate(content):
                if block.get("type") == "thinking" and (
                    block.get("signature") not in self.issued_signatures
                ):
                    return f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
            following = messages[i + 1].get("content") if i + 1 < len(messages) else None
            answered = isinstance(following, list) and any(
                isinstance(b, dict) and b.get("type") == "tool_result" for b in following
            )
            thinking_on = (body.get("thinking") or {}).get("type") == "enabled"
            uses_tools = any(b.get("type") == "tool_use" for b in content)
            if thinking_on and uses_tools and answered and i == _last_assistant(messages):
                first = content[0].get("type") if content else None
                if first not in ("thinking", "redacted_thinking"):
                    return (
                        f"messages.{i}.content.0.type: Expected `thinking` or "
                        f"`redacted_thinking`, but found `{first}`. When `thinking` is enabled, "
                        "a final `assistant` message must start with a thinking block"
                    )
        return None

    def messages(self, body: dict[str, Any]) -> Reply:
        s = self.script
        problem = self.thinking_problem(body) if self.strict_thinking else None
        if problem is not None:
            return Reply.json(
                {"type": "error", "error": {"type": "invalid_request_error", "message": problem}},
                status=400,
            )
        if s.thinking:
            self.issued_signatures.add(s.signature)
        text, matched = cut_at_stop(s.text, body.get("stop_sequences"))
        tools = [] if matched else list(s.tools)
        choice = body.get("tool_choice") or {}
        if choice.get("type") == "tool" and not tools:
            # A forced tool: the model must call it, so the reply is its input.
            try:
                forced = json.loads(text)
            except ValueError:
                forced = {"text": text}
            tools, text = [ToolUse("toolu_forced1", str(choice.get("name")), forced)], ""
        stop_reason = self._stop_reason(tools, matched)
        if s.status != 200:
            kind = "overloaded_error" if s.status == 529 else "api_error"
            return Reply.json(
                {"type": "error", "error": {"type": kind, "message": s.error_message}},
                status=s.status,
                headers={"retry-after": s.retry_after} if s.retry_after else None,
            )
        model = body.get("model", "claude-test-1")
        start_usage = {
            "input_tokens": s.input_tokens,
            "output_tokens": 1,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": s.cached_tokens,
        }
        if not body.get("stream"):
            content: list[dict[str, Any]] = []
            if s.thinking:
                content.append(
                    {"type": "thinking", "thinking": s.thinking, "signature": s.signature}
                )
            if text:
                content.append({"type": "text", "text": text})
            content += [
                {"type": "tool_use", "id": t.id, "name": t.name, "input": t.arguments}
                for t in tools
            ]
            return Reply.json(
                {"id": "msg_up1", "type": "message", "role": "assistant", "model": model, "content": content,
                 "stop_reason": stop_reason, "stop_sequence": matched,
                 "usage": {**start_usage, "output_tokens": s.output_tokens}}
            )  # fmt: skip
        out: list[Chunk] = []
        if s.stall:
            out.append(float(s.stall))
        out.append(
            _sse({"type": "message_start", "message": {"id": "msg_up1", "type": "message", "role": "assistant",
                  "model": model, "content": [], "stop_reason": None, "stop_sequence": None,
                  "usage": start_usage}}, "message_start")
        )  # fmt: skip
        out.append(_sse({"type": "ping"}, "ping"))
        index = 0

        def block(kind: dict[str, Any]) -> None:
            out.append(
                _sse(
                    {"type": "content_block_start", "index": index, "content_block": kind},
                    "content_block_start",
                )
            )

        def delta(d: dict[str, Any]) -> None:
            out.append(
                _sse(
                    {"type": "content_block_delta", "index": index, "delta": d},
                    "content_block_delta",
                )
            )

        def stop() -> None:
            out.append(_sse({"type": "content_block_stop", "index": index}, "content_block_stop"))

        if s.thinking:
            block({"type": "thinking", "thinking": "", "signature": ""})
            for piece in pieces(s.thinking):
                delta({"type": "thinking_delta", "thinking": piece})
            delta({"type": "signature_delta", "signature": s.signature})
            stop()
            index += 1
        if text:
            block({"type": "text", "text": ""})
            for n, piece in enumerate(pieces(text)):
                if s.fail_after is not None and n == s.fail_after:
                    out.append(
                        _sse(
                            {
                                "type": "error",
                                "error": {"type": "overloaded_error", "message": s.error_message},
                            },
                            "error",
                        )
                    )
                    return Reply(body=out)
                if s.hold_after is not None and n == s.hold_after:
                    out.append(60.0)
                delta({"type": "text_delta", "text": piece})
            stop()
            index += 1
        for tool in tools:
            block({"type": "tool_use", "id": tool.id, "name": tool.name, "input": {}})
            for piece in pieces(json.dumps(tool.arguments), 5):
                delta({"type": "input_json_delta", "partial_json": piece})
            stop()
            index += 1
        out.append(
            _sse({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": matched},
                  "usage": {"output_tokens": s.output_tokens}}, "message_delta")
        )  # fmt: skip
        out.append(_sse({"type": "message_stop"}, "message_stop"))
        return Reply(body=out)


def _last_assistant(messages: list[dict[str, Any]]) -> int:
    return max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
