#!/usr/bin/env python3
"""An image plugin: the OpenAI Images API (``POST /v1/images/generations``,
also served by LocalAI and other OpenAI-compatible servers) as a Pluma image
provider, shipped as its own executable.

The API has no progress and no seed: the plugin reports 0 % when it sends the
request and 100 % when the images arrive, asks for ``b64_json`` results, and
records the size and model it used. Checkpoints are the server's model ids.
Cancelling the generation closes the HTTP request.

Install: copy to ``<datadir>/plugins/image/openai-images`` (``chmod 755``),
restart ``pluma serve``, then add an image connection with kind
``openai-images``, the server's base URL (``https://api.openai.com``) and
auth ``bearer`` with your key.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx

from pluma.plugin import PluginError, serve_image
from pluma.plugin.errors import code_for_status
from pluma.server.images.base import (
    GeneratedImage,
    ImageRequest,
    ImageResult,
    Progress,
    ProgressCallback,
    report,
)
from pluma.server.images.profiles import ImageConnectionProfile


class OpenAIImagesProvider:
    def __init__(self, profile: ImageConnectionProfile, http: httpx.AsyncClient) -> None:
        self.base_url = (profile.base_url or "https://api.openai.com").rstrip("/")
        self.headers = profile.auth_headers()
        self.model = profile.default_checkpoint
        self.http = http

    @property
    def kind(self) -> str:
        return "openai-images"

    @property
    def upstream(self) -> str:
        return self.base_url

    async def _get(self, path: str) -> Any:
        try:
            response = await self.http.get(self.base_url + path, headers=self.headers)
        except httpx.TransportError as exc:
            raise PluginError(
                f"nothing answers at {self.base_url}: {exc}", code="unreachable"
            ) from None
        if response.status_code != 200:
            self._fail(response)
        return response.json()

    def _fail(self, response: httpx.Response) -> None:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text
        raise PluginError(
            f"the images API answered {response.status_code}: {message}",
            code=code_for_status(response.status_code),
            upstream_status=response.status_code,
        )

    async def ping(self) -> None:
        await self._get("/v1/models")

    async def list_checkpoints(self) -> list[str]:
        return [m["id"] for m in (await self._get("/v1/models")).get("data", [])]

    async def generate(
        self, request: ImageRequest, on_progress: ProgressCallback | None = None
    ) -> ImageResult:
        model = request.checkpoint or self.model
        size = f"{request.width}x{request.height}"
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "n": request.batch_size,
            "size": size,
            "response_format": "b64_json",
        }
        if model:
            body["model"] = model
        await report(on_progress, Progress(0.0))
        try:
            response = await self.http.post(
                self.base_url + "/v1/images/generations", json=body, headers=self.headers
            )
        except httpx.TransportError as exc:
            raise PluginError(
                f"nothing answers at {self.base_url}: {exc}", code="unreachable"
            ) from None
        if response.status_code != 200:
            self._fail(response)
        data = response.json().get("data", [])
        images = [
            GeneratedImage(base64.b64decode(d["b64_json"])) for d in data if d.get("b64_json")
        ]
        if not images:
            raise PluginError("the images API answered without images", code="upstream")
        await report(on_progress, Progress(1.0))
        revised = [d.get("revised_prompt") for d in data if d.get("revised_prompt")]
        return ImageResult(
            images=images,
            parameters={
                "prompt": request.prompt,
                "width": request.width,
                "height": request.height,
                "checkpoint": model,
                "batch_size": len(images),
            },
            info={"revised_prompt": revised[0]} if revised else {},
        )


if __name__ == "__main__":
    serve_image(
        OpenAIImagesProvider,
        kind="openai-images",
        display_name="OpenAI Images API",
        version="1.0.0",
        upstream="OpenAI-compatible /v1/images/generations",
        default_base_url="https://api.openai.com",
    )
