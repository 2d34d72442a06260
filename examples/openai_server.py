"""A small OpenAI-compatible server (Chat Completions) for the examples of
docs/providers.md, so they run on a fresh clone without an API key:

    python examples/openai_server.py            # http://127.0.0.1:9001/v1
    python examples/openai_server.py --port 0   # any free port (printed)

| route                        | answer                                              |
|------------------------------|-----------------------------------------------------|
| ``GET /v1/models``           | ``{"object": "list", "data": [{"id": "my-model", …}]}`` |
| ``POST /v1/chat/completions``| a fixed reply, streamed as ``chat.completion.chunk`` |
|                              | events (``stream: true``, usage last when           |
|                              | ``stream_options.include_usage``, then ``[DONE]``)  |
|                              | or as one ``chat.completion``                       |
| anything else                | 404 with OpenAI's error shape                       |

The shapes follow OpenAI's published API reference. Standard library only:
an example upstream to read, not to deploy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODELS = ["my-model"]
REPLY = (
    "Pluma speaks many wire protocols. Every event arrives in order, "
    "and the stream always ends with exactly one terminal event."
)


def error(message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "example"} for m in MODELS
            ]
            self._json(200, {"object": "list", "data": data})
        else:
            self._json(404, error(f"no route GET {self.path}"))

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._json(404, error(f"no route POST {self.path}"))
            return
        try:
            body = json.loads(raw)
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                raise ValueError("the body must be a JSON object with a messages array")
        except ValueError as exc:
            self._json(400, error(f"bad request: {exc}"))
            return
        model = str(body.get("model") or MODELS[0])
        prompt_words = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
        words = REPLY.split(" ")
        usage = {
            "prompt_tokens": prompt_words,
            "completion_tokens": len(words),
            "total_tokens": prompt_words + len(words),
        }
        if not body.get("stream"):
            self._json(200, {
                "id": "chatcmpl-example", "object": "chat.completion", "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                             "message": {"role": "assistant", "content": REPLY}}],
                "usage": usage,
            })  # fmt: skip
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> None:
            payload = {
                "id": "chatcmpl-example", "object": "chat.completion.chunk", "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
                **extra,
            }  # fmt: skip
            if "usage" in extra:
                payload["choices"] = []
            self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
            self.wfile.flush()

        chunk({"role": "assistant", "content": ""})
        for i, word in enumerate(words):
            chunk({"content": word if i == len(words) - 1 else word + " "})
        chunk({}, "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            chunk({}, usage=usage)
        self.wfile.write(b"data: [DONE]\n\n")

    def _json(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="An OpenAI-compatible server for the examples.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001, help="0 picks a free port")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    host, port = server.server_address[:2]
    print(f"OpenAI-compatible server listening on http://{host}:{port}/v1", file=sys.stderr,
          flush=True)  # fmt: skip
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
