"""An OpenAI Images API server on loopback, from OpenAI's published reference:
``POST /v1/images/generations`` (``prompt``, ``model``, ``n``, ``size``,
``response_format: b64_json``) answers ``{"created", "data": [{"b64_json",
"revised_prompt"}]}``; ``GET /v1/models`` lists models; a wrong bearer token
gets 401 with ``{"error": {"message", "type", "code"}}``."""

from __future__ import annotations

import base64
import struct
import time
import zlib

from tests.support.scripted_server import Reply, Request, ScriptedServer

TOKEN = "sk-images-test"


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG (signature, IHDR, one IDAT, IEND)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = b"\x00" + bytes(rgb) * width
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


class OpenAIImagesUpstream(ScriptedServer):
    def __init__(self) -> None:
        super().__init__(handler=self.answer)

    def answer(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return Reply.json(
                {
                    "error": {
                        "message": "Incorrect API key provided",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
                status=401,
            )
        if request.method == "GET" and request.path == "/v1/models":
            return Reply.json({"object": "list", "data": [{"id": "dall-e-2", "object": "model"}]})
        if request.method == "POST" and request.path == "/v1/images/generations":
            body = request.json()
            width, height = (int(v) for v in body.get("size", "256x256").split("x"))
            image = base64.b64encode(png(width, height, (200, 30, 30))).decode()
            return Reply.json(
                {
                    "created": int(time.time()),
                    "data": [
                        {"b64_json": image, "revised_prompt": f"a painting of {body['prompt']}"}
                        for _ in range(int(body.get("n", 1)))
                    ],
                }
            )
        return Reply.json(
            {"error": {"message": "not found", "type": "invalid_request_error"}}, status=404
        )
