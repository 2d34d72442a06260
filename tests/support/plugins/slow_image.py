"""A test image plugin served with the kit, for cancellation and the page.

Its ``generate`` reports a step every 50 ms for ``steps`` steps and then
returns one solid PNG, so a test can cancel it mid-way. A generation that is
cancelled writes the wall time to ``$PLUMA_TEST_MARKS/image-cancelled``: the
plugin is another process, so that file is how a test sees it noticed.
"""

from __future__ import annotations

import asyncio
import os
import time

import httpx

from pluma.plugin import serve_image
from pluma.server.images import (
    GeneratedImage,
    ImageConnectionProfile,
    ImageRequest,
    ImageResult,
    Progress,
    ProgressCallback,
)
from pluma.server.images.base import report
from tests.support.fake_a1111 import png

KIND = "slow-images"


class SlowImages:
    def __init__(self, profile: ImageConnectionProfile, http: httpx.AsyncClient) -> None:
        self.profile = profile

    @property
    def kind(self) -> str:
        return KIND

    @property
    def upstream(self) -> str:
        return self.profile.base_url

    async def ping(self) -> None:
        return None

    async def list_checkpoints(self) -> list[str]:
        return ["slow-v1"]

    async def generate(
        self, request: ImageRequest, on_progress: ProgressCallback | None = None
    ) -> ImageResult:
        try:
            for step in range(1, request.steps + 1):
                await report(on_progress, Progress(step / request.steps, step, request.steps))
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            marks = os.environ.get("PLUMA_TEST_MARKS")
            if marks:
                # a tiny write on the way out; blocking is fine in a test plugin
                with open(os.path.join(marks, "image-cancelled"), "w") as f:  # noqa: ASYNC230
                    f.write(f"{time.time()}")
            raise
        return ImageResult(
            images=[GeneratedImage(png(request.width, request.height, (200, 40, 40)))],
            parameters=request.to_dict() | {"seed": request.resolved_seed()},
            info={KIND: {}},
        )


if __name__ == "__main__":
    serve_image(SlowImages, kind=KIND, display_name="Slow Test Images", version="1.0.0")
