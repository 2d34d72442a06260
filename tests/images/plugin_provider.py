"""A third-party image provider, loaded by ``pluma serve`` through the
``pluma.image_providers`` entry-point group in the plugin test.

It draws solid-colour PNGs itself (no backend), so the test exercises only
what a plugin relies on: registration at import, the registry feeding
``/api/image-providers``, and the server driving ``generate`` like any
built-in provider.
"""

from __future__ import annotations

import httpx

from pluma.server.images import (
    GeneratedImage,
    ImageConnectionProfile,
    ImageRequest,
    ImageResult,
    Progress,
    ProgressCallback,
    register_image_provider,
)
from pluma.server.images.base import report
from tests.support.fake_a1111 import colour_for, png

KIND = "solid"


class SolidProvider:
    def __init__(self, profile: ImageConnectionProfile, http: httpx.AsyncClient) -> None:
        self.profile = profile
        self.http = http

    @property
    def kind(self) -> str:
        return KIND

    @property
    def upstream(self) -> str:
        return self.profile.base_url

    async def ping(self) -> None:
        return None

    async def list_checkpoints(self) -> list[str]:
        return ["solid-v1"]

    async def generate(
        self, request: ImageRequest, on_progress: ProgressCallback | None = None
    ) -> ImageResult:
        seed = request.resolved_seed()
        for step in range(1, request.steps + 1):
            await report(on_progress, Progress(step / request.steps, step, request.steps))
        images = [
            GeneratedImage(png(request.width, request.height, colour_for(seed + i)))
            for i in range(request.batch_size)
        ]
        parameters = request.to_dict() | {"seed": seed, "checkpoint": "solid-v1"}
        return ImageResult(images=images, parameters=parameters, info={KIND: {}})


register_image_provider(KIND, SolidProvider)
