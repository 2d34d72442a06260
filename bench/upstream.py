"""A fast local upstream for the benchmarks: fixed, pre-built stream bytes.

The benchmarks compare clients and gateways reading the *same bytes*, so the
upstream must never be the bottleneck and must answer identically to every
contender. This is a bare asyncio HTTP/1.1 server (keep-alive, no framework):
each stream body is built once, cached, and written with a few
``transport.write`` calls.

Routes (the request body's ``model`` picks the scenario):

| request                              | answer                                          |
|--------------------------------------|-------------------------------------------------|
| POST …/chat/completions              | an OpenAI chat-completions SSE stream           |
| POST …/messages                      | an Anthropic Messages SSE stream                |
| POST …/responses                     | an OpenAI Responses SSE stream                  |
| POST …/models/<model>:streamGenerateContent | a Gemini SSE stream (model from the path) |
| POST …/api/chat                      | an Ollama NDJSON stream                         |
| GET  …/models                        | an OpenAI model list (health probes)            |
| anything else                        | 404 with an OpenAI-shaped error body            |

``model`` is ``bench-<N>`` (N text deltas), optionally followed by
``-pace<MS>`` (one write every MS milliseconds: used to hold many streams
open at once) and ``-bulk``. By default every SSE event is sent as its own
HTTP chunk, as real upstreams that flush per token do; ``-bulk`` packs events
into 64 KiB chunks, which takes HTTP chunk parsing out of the per-event cost
and leaves only what a client does with the SSE bytes.

Run it as a process (``python bench/upstream.py``): it prints ``PORT <n>``
and serves until its stdin closes (the parent exited) or ``--max-seconds``
pass, so it never outlives a benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
import threading
from collections.abc import Coroutine
from functools import lru_cache
from typing import cast

_MODEL_RE = re.compile(r"^bench-(\d+)(?:-pace(\d+))?(-bulk)?$")
_WORDS = ("Lorem ", "ipsum ", "dolor ", "sit ", "amet, ", "consectetur ", "adipiscing ", "elit. ")
_CREATED = 1_700_000_000


def _dumps(payload: object) -> str:
    return json.dumps(payload, separators=(",", ":"))


def openai_events(n: int, model: str) -> list[bytes]:
    """The SSE events of an OpenAI chat-completions stream with ``n`` text deltas,
    shaped like api.openai.com's (role first, finish chunk, usage chunk, [DONE])."""

    def chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
        body = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": _CREATED,
            "model": model,
            "system_fingerprint": "fp_bench",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        return f"data: {_dumps(body)}\n\n".encode()

    events = [chunk({"role": "assistant", "content": ""})]
    events.extend(chunk({"content": _WORDS[i % len(_WORDS)]}) for i in range(n))
    events.append(chunk({}, "stop"))
    usage = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": model,
        "choices": [],
        "usage": {"prompt_tokens": 12, "completion_tokens": n, "total_tokens": 12 + n},
    }
    events.append(f"data: {_dumps(usage)}\n\n".encode())
    events.append(b"data: [DONE]\n\n")
    return events


def anthropic_events(n: int, model: str) -> list[bytes]:
    """The SSE events of an Anthropic Messages stream with ``n`` text deltas, in
    the order api.anthropic.com sends them (message_start, block start, ping,
    deltas, block stop, message_delta with usage, message_stop)."""

    def event(name: str, body: dict[str, object]) -> bytes:
        return f"event: {name}\ndata: {_dumps(body)}\n\n".encode()

    usage = {
        "input_tokens": 12,
        "output_tokens": 1,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    message = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    events = [
        event("message_start", {"type": "message_start", "message": message}),
        event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        event("ping", {"type": "ping"}),
    ]
    events.extend(
        event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": _WORDS[i % len(_WORDS)]},
            },
        )
        for i in range(n)
    )
    events.append(event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    events.append(
        event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": n},
            },
        )
    )
    events.append(event("message_stop", {"type": "message_stop"}))
    return events


def responses_events(n: int, model: str) -> list[bytes]:
    """The SSE events of an OpenAI Responses stream with ``n`` text deltas, in
    the order api.openai.com sends them (created, in_progress, item and part
    added, deltas, text/part/item done, completed with the whole output)."""
    seq = iter(range(1 << 62))
    text = "".join(_WORDS[i % len(_WORDS)] for i in range(n))

    def event(body: dict[str, object]) -> bytes:
        body = {"type": body.pop("type"), "sequence_number": next(seq), **body}
        return f"event: {body['type']}\ndata: {_dumps(body)}\n\n".encode()

    def response(status: str, output: list[object], usage: object) -> dict[str, object]:
        return {
            "id": "resp_bench",
            "object": "response",
            "created_at": _CREATED,
            "status": status,
            "model": model,
            "output": output,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": usage,
        }

    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    item = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [part],
    }
    where = {"item_id": "msg_bench", "output_index": 0, "content_index": 0}
    usage = {
        "input_tokens": 12,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": n,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 12 + n,
    }
    events = [
        event({"type": "response.created", "response": response("in_progress", [], None)}),
        event({"type": "response.in_progress", "response": response("in_progress", [], None)}),
        event(
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {**item, "status": "in_progress", "content": []},
            }
        ),
        event(
            {
                "type": "response.content_part.added",
                **where,
                "part": {**part, "text": ""},
            }
        ),
    ]
    events.extend(
        event(
            {
                "type": "response.output_text.delta",
                **where,
                "delta": _WORDS[i % len(_WORDS)],
                "logprobs": [],
            }
        )
        for i in range(n)
    )
    events += [
        event({"type": "response.output_text.done", **where, "text": text, "logprobs": []}),
        event({"type": "response.content_part.done", **where, "part": part}),
        event({"type": "response.output_item.done", "output_index": 0, "item": item}),
        event({"type": "response.completed", "response": response("completed", [item], usage)}),
    ]
    return events


def gemini_events(n: int, model: str) -> list[bytes]:
    """The SSE events of a Gemini ``streamGenerateContent?alt=sse`` stream with
    ``n`` text chunks, shaped like Google's (every chunk repeats the running
    usage, the model version and the response id; the last has finishReason)."""

    def chunk(text: str, index: int, finish: bool = False) -> bytes:
        candidate: dict[str, object] = {
            "content": {"parts": [{"text": text}], "role": "model"},
            "index": 0,
        }
        if finish:
            candidate["finishReason"] = "STOP"
        body = {
            "candidates": [candidate],
            "usageMetadata": {
                "promptTokenCount": 12,
                "candidatesTokenCount": index + 1,
                "totalTokenCount": 13 + index,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12}],
            },
            "modelVersion": model,
            "responseId": "bench-response-id",
        }
        return f"data: {_dumps(body)}\r\n\r\n".encode()

    return [chunk(_WORDS[i % len(_WORDS)], i, finish=i == n - 1) for i in range(n)]


def ollama_lines(n: int, model: str) -> list[bytes]:
    """The NDJSON lines of an Ollama ``/api/chat`` stream with ``n`` text
    pieces, then the final line with ``done_reason`` and the counts."""
    created = "2026-12-03T09:00:00.000000Z"
    lines = [
        (
            _dumps(
                {
                    "model": model,
                    "created_at": created,
                    "message": {"role": "assistant", "content": _WORDS[i % len(_WORDS)]},
                    "done": False,
                }
            )
            + "\n"
        ).encode()
        for i in range(n)
    ]
    final = {
        "model": model,
        "created_at": created,
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "stop",
        "total_duration": 4_883_583_458,
        "load_duration": 1_334_875,
        "prompt_eval_count": 12,
        "prompt_eval_duration": 342_546_000,
        "eval_count": n,
        "eval_duration": 4_535_599_000,
    }
    lines.append((_dumps(final) + "\n").encode())
    return lines


EVENTS = {
    "openai": openai_events,
    "anthropic": anthropic_events,
    "responses": responses_events,
    "gemini": gemini_events,
    "ollama": ollama_lines,
}


def _chunked(events: list[bytes], bulk: bool = False) -> list[bytes]:
    """Each event as one HTTP/1.1 chunk (or, ``bulk``, events packed into
    chunks of up to 64 KiB), then the last-chunk marker."""
    if bulk:
        packed: list[bytes] = []
        size = 0
        pieces: list[bytes] = []
        for event in events:
            pieces.append(event)
            size += len(event)
            if size >= 65536:
                packed.append(b"".join(pieces))
                pieces, size = [], 0
        if pieces:
            packed.append(b"".join(pieces))
        events = packed
    out = [b"%x\r\n%s\r\n" % (len(e), e) for e in events]
    out.append(b"0\r\n\r\n")
    return out


_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n"
)
_NDJSON_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\n"
    b"transfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n"
)


def _head(kind: str) -> bytes:
    return _NDJSON_HEAD if kind == "ollama" else _SSE_HEAD


@lru_cache(maxsize=32)
def stream_body(kind: str, n: int, bulk: bool = False) -> list[bytes]:
    """The chunk-encoded body of a stream, built once per (kind, n, bulk)."""
    model = f"bench-{n}"
    return _chunked(EVENTS[kind](n, model), bulk)


@lru_cache(maxsize=32)
def stream_blob(kind: str, n: int, bulk: bool = False) -> bytes:
    """Head and body as one buffer, for unpaced streams (one write)."""
    return _head(kind) + b"".join(stream_body(kind, n, bulk))


def _simple(status: str, payload: object) -> bytes:
    body = _dumps(payload).encode()
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: keep-alive\r\n\r\n"
    ).encode() + body


_MODELS = _simple(
    "200 OK",
    {
        "object": "list",
        "data": [{"id": "bench-200", "object": "model", "created": _CREATED, "owned_by": "bench"}],
    },
)


def _kind(path: str) -> str | None:
    """The stream a POST path asks for, or None."""
    if path.endswith("/chat/completions"):
        return "openai"
    if path.endswith("/messages"):
        return "anthropic"
    if path.endswith("/responses"):
        return "responses"
    if path.endswith(":streamGenerateContent"):
        return "gemini"
    if path.endswith("/api/chat"):
        return "ollama"
    return None


class _Connection(asyncio.Protocol):
    """One client connection: parses requests (Content-Length bodies only) and
    answers them in order; paced streams are written by a task that respects
    flow control."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        self._busy: asyncio.Task[None] | None = None
        self._can_write = asyncio.Event()
        self._can_write.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; same API.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._busy is not None:
            self._busy.cancel()
        self._can_write.set()

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self._busy is None:
            self._serve_buffered()

    def _serve_buffered(self) -> None:
        while self._transport is not None:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buf[:end]).decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(self._buf) < end + 4 + length:
                return
            body = bytes(self._buf[end + 4 : end + 4 + length])
            del self._buf[: end + 4 + length]
            method, _, rest = head.partition(" ")
            path = rest.partition(" ")[0].split("?")[0]
            paced = self._answer(method, path, body)
            if paced is not None:
                self._busy = asyncio.get_running_loop().create_task(paced)
                return

    def _answer(self, method: str, path: str, body: bytes) -> Coroutine[None, None, None] | None:
        transport = self._transport
        assert transport is not None
        if method == "GET" and path.endswith("/models"):
            transport.write(_MODELS)
            return None
        kind = _kind(path) if method == "POST" else None
        if kind is not None:
            if kind == "gemini":
                model = path.rsplit("/models/", 1)[-1].split(":", 1)[0]
            else:
                try:
                    model = str(json.loads(body).get("model", ""))
                except (ValueError, AttributeError):
                    model = ""
            match = _MODEL_RE.match(model.rsplit("/", 1)[-1])
            if match is None:
                transport.write(
                    _simple(
                        "400 Bad Request",
                        {
                            "error": {
                                "message": f"model must be bench-<N>[-pace<MS>][-bulk], got {model!r}",
                                "type": "invalid_request_error",
                                "code": None,
                            }
                        },
                    )
                )
                return None
            n, pace, bulk = int(match.group(1)), match.group(2), bool(match.group(3))
            if pace is None:
                transport.write(stream_blob(kind, n, bulk))
                return None
            return self._paced(kind, n, int(pace) / 1000, bulk)
        transport.write(
            _simple(
                "404 Not Found",
                {
                    "error": {
                        "message": f"no route {method} {path}",
                        "type": "not_found",
                        "code": None,
                    }
                },
            )
        )
        return None

    async def _paced(self, kind: str, n: int, gap: float, bulk: bool) -> None:
        try:
            for piece in [_head(kind), *stream_body(kind, n, bulk)]:
                await self._can_write.wait()
                if self._transport is None:
                    return
                self._transport.write(piece)
                await asyncio.sleep(gap)
        finally:
            self._busy = None
        if self._transport is not None:
            self._serve_buffered()


async def serve(host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
    """Start the upstream in the running loop (for in-process use)."""
    return await asyncio.get_running_loop().create_server(_Connection, host, port, backlog=1024)


async def _main(port: int, max_seconds: float) -> None:
    server = await serve(port=port)
    sock_port = server.sockets[0].getsockname()[1]
    print(f"PORT {sock_port}", flush=True)
    loop = asyncio.get_running_loop()
    stdin_closed = asyncio.Event()

    def watch_stdin() -> None:
        sys.stdin.buffer.read()
        loop.call_soon_threadsafe(stdin_closed.set)

    # A daemon thread: a blocked read must not keep the process alive.
    threading.Thread(target=watch_stdin, daemon=True).start()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stdin_closed.wait(), max_seconds)
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=1800.0)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_main(args.port, args.max_seconds))


if __name__ == "__main__":
    main()
