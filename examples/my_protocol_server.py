"""A small server speaking "my-protocol", the invented wire format of
docs/custom-protocols.md and docs/providers.md, so their examples run
on a fresh clone:

    python examples/my_protocol_server.py            # http://127.0.0.1:9000
    python examples/my_protocol_server.py --port 0   # any free port (printed)

``POST /generate`` with ``{"model", "prompt", "max_tokens"}`` answers a
server-sent event stream: ``event: text`` (``{"text": "..."}``) per word of
a fixed reply, then ``event: done`` (``{"usage": {"input", "output"},
"stop"}``), ``stop`` being ``"length"`` when ``max_tokens`` cut the reply.
A body that is not such a JSON object gets ``event: error``
(``{"message": "..."}``) after a 200, as the protocol reports failures; any
other path is a 404.

Standard library only: an example upstream to read, not to deploy.
"""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPLY = (
    "Pluma speaks many wire protocols. Every event arrives in order, "
    "and the stream always ends with exactly one terminal event."
)


def sse(event: str, data: dict[str, object]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/generate":
            self._json(
                404, {"message": f"no route {self.path}; this server answers POST /generate"}
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            body = json.loads(raw)
            if not isinstance(body, dict) or not isinstance(body.get("prompt", ""), str):
                raise ValueError("the body must be a JSON object with a string prompt")
        except ValueError as exc:
            self.wfile.write(sse("error", {"message": f"bad request: {exc}"}))
            return
        words = REPLY.split(" ")
        limit = body.get("max_tokens")
        cut = isinstance(limit, int) and 0 < limit < len(words)
        sent = words[:limit] if cut else words
        for i, word in enumerate(sent):
            self.wfile.write(sse("text", {"text": word if i == len(sent) - 1 else word + " "}))
            self.wfile.flush()
        usage = {"input": len(str(body.get("prompt", "")).split()), "output": len(sent)}
        self.wfile.write(sse("done", {"usage": usage, "stop": "length" if cut else "stop"}))

    def _json(self, status: int, body: dict[str, object]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A my-protocol server for the docs' examples.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000, help="0 picks a free port")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    host, port = server.server_address[:2]
    print(f"my-protocol server listening on http://{host}:{port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
