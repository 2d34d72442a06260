"""AUTOMATIC1111 (Stable Diffusion web UI) started with ``--api``.

| Pluma                  | A1111 API                                                     |
|------------------------|---------------------------------------------------------------|
| ``ping``               | ``GET /sdapi/v1/options``                                     |
| ``list_checkpoints``   | ``GET /sdapi/v1/sd-models`` → each model's ``title``          |
| ``generate``           | ``POST /sdapi/v1/txt2img``; the checkpoint rides in           |
|                        | ``override_settings.sd_model_checkpoint`` (restored after)    |
| progress               | ``GET /sdapi/v1/progress`` polled while txt2img runs          |
|                        | (``progress``, ``state.sampling_step/steps``, ``current_image``)|
| cancel, timeout        | ``POST /sdapi/v1/interrupt``                                  |
| seed used              | the ``info`` JSON string of the txt2img answer (``seed``,     |
|                        | ``all_seeds``)                                                |
| auth (``--api-auth``)  | HTTP Basic                                                    |

A web UI started without ``--api`` answers FastAPI's bare ``404 {"detail":
"Not Found"}`` on every ``/sdapi`` path; that becomes a message saying to add
``--api``. Other 404s (``Sampler not found``) keep A1111's own message.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from typing import Any

import httpx

from pluma.server.images.base import (
    GeneratedImage,
    ImageBackendError,
    ImageRequest,
    ImageResult,
    Progress,
    ProgressCallback,
    register_image_provider,
    report,
)
from pluma.server.images.http import BackendHTTP, backend_message
from pluma.server.images.profiles import ImageConnectionProfile

log = logging.getLogger(__name__)

KIND = "a1111"
LABEL = "AUTOMATIC1111"


def _decode_b64(data: str) -> bytes:
    if data.startswith("data:"):
        data = data.split(",", 1)[-1]
    return base64.b64decode(data)


def sniff_mime(data: bytes) -> str:
    """The image type from its magic bytes (A1111 and ComfyUI previews say
    nothing else about it)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


class A1111Provider:
    """One A1111 backend. Cheap to build: it wraps the shared HTTP client."""

    def __init__(
        self,
        profile: ImageConnectionProfile,
        client: httpx.AsyncClient,
        *,
        poll_interval: float = 0.3,
    ) -> None:
        self.profile = profile
        self.http = BackendHTTP(
            client, profile.base_url, profile.auth_headers(), LABEL, profile.secrets()
        )
        self.poll_interval = poll_interval

    @property
    def kind(self) -> str:
        return KIND

    @property
    def upstream(self) -> str:
        return self.http.base_url

    # -- helpers ---------------------------------------------------------------

    def _check(self, response: httpx.Response, path: str) -> None:
        if response.status_code == 404 and backend_message(response) == "Not Found":
            raise ImageBackendError(
                f"{LABEL} at {self.upstream} has no API ({path} answered 404): start the "
                "web UI with --api (add it to COMMANDLINE_ARGS in webui-user.sh or "
                "webui-user.bat) and restart it",
                code="api_disabled",
            )
        self.http.check(response, path)

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        response = await self.http.send("GET", path, params=params)
        self._check(response, path)
        return self.http.json_of(response, LABEL, path)

    # -- contract ----------------------------------------------------------------

    async def ping(self) -> None:
        await self._get("/sdapi/v1/options")

    async def list_checkpoints(self) -> list[str]:
        models = await self._get("/sdapi/v1/sd-models")
        if not isinstance(models, list):
            raise ImageBackendError(f"{LABEL} answered /sdapi/v1/sd-models with no list")
        return [str(m.get("title") or m.get("model_name")) for m in models if isinstance(m, dict)]

    def payload(self, request: ImageRequest, seed: int) -> dict[str, Any]:
        """The txt2img body for a request (``seed`` already resolved)."""
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "seed": seed,
            "width": request.width,
            "height": request.height,
            "steps": request.steps,
            "cfg_scale": request.cfg_scale,
            "batch_size": request.batch_size,
            "n_iter": 1,
            "send_images": True,
            "save_images": False,
        }
        if request.sampler:
            body["sampler_name"] = request.sampler
        if request.scheduler:
            body["scheduler"] = request.scheduler
        checkpoint = request.checkpoint or self.profile.default_checkpoint
        if checkpoint:
            body["override_settings"] = {"sd_model_checkpoint": checkpoint}
            body["override_settings_restore_afterwards"] = True
        return body

    async def generate(
        self, request: ImageRequest, on_progress: ProgressCallback | None = None
    ) -> ImageResult:
        seed = request.resolved_seed()
        body = self.payload(request, seed)
        path = "/sdapi/v1/txt2img"
        # No read timeout on the request itself: the job's deadline below
        # covers it, and on expiry the job is interrupted, not just abandoned.
        job = asyncio.ensure_future(self.http.send("POST", path, json=body, read_timeout=None))
        try:
            async with asyncio.timeout(self.profile.timeout):
                await self._poll_progress(job, on_progress)
                response = await job
        except asyncio.CancelledError:
            job.cancel()
            await asyncio.shield(self._interrupt())
            raise
        except TimeoutError:
            job.cancel()
            await asyncio.shield(self._interrupt())
            raise ImageBackendError(
                f"{LABEL} did not finish the job in {self.profile.timeout:g} s; it was "
                "interrupted (raise the connection's timeout for large or slow jobs)",
                code="execution",
            ) from None
        self._check(response, path)
        answer = self.http.json_of(response, LABEL, path)
        return self._result(request, body, answer)

    async def _interrupt(self) -> None:
        """Tell A1111 to stop the running job (best effort: we are leaving)."""
        try:
            await self.http.send("POST", "/sdapi/v1/interrupt", read_timeout=5.0)
        except ImageBackendError as exc:
            log.warning("could not interrupt %s: %s", LABEL, exc.message)

    async def _poll_progress(
        self, job: asyncio.Future[httpx.Response], on_progress: ProgressCallback | None
    ) -> None:
        last: tuple[float, int | None, str | None] | None = None
        while True:
            done, _ = await asyncio.wait({job}, timeout=self.poll_interval)
            if done:
                return
            try:
                response = await self.http.send(
                    "GET",
                    "/sdapi/v1/progress",
                    params={"skip_current_image": "false"},
                    read_timeout=10.0,
                )
                state: Any = response.json() if response.is_success else None
            except (ImageBackendError, ValueError):
                continue  # progress is a nicety; the job itself decides success
            if not isinstance(state, dict):
                continue
            progress = _progress_from(state)
            if progress is None:
                continue
            key = (progress.fraction, progress.step, state.get("current_image"))
            if key != last:
                last = key
                await report(on_progress, progress)

    def _result(self, request: ImageRequest, body: dict[str, Any], answer: Any) -> ImageResult:
        if not isinstance(answer, dict) or not isinstance(answer.get("images"), list):
            raise ImageBackendError(f"{LABEL} answered txt2img without an images list")
        images: list[GeneratedImage] = []
        for item in answer["images"]:
            try:
                data = _decode_b64(str(item))
            except (binascii.Error, ValueError):
                raise ImageBackendError(f"{LABEL} sent an image that is not base64") from None
            images.append(GeneratedImage(data=data, mime_type=sniff_mime(data)))
        info = _parse_info(answer.get("info"))
        parameters = request.to_dict()
        parameters["seed"] = info.get("seed", body["seed"])
        parameters["checkpoint"] = (
            info.get("sd_model_name")
            or body.get("override_settings", {}).get("sd_model_checkpoint")
            or ""
        )
        parameters["sampler"] = info.get("sampler_name") or request.sampler
        if "all_seeds" in info:
            parameters["all_seeds"] = info["all_seeds"]
        return ImageResult(images=images, parameters=parameters, info={"a1111": info})


def _parse_info(raw: Any) -> dict[str, Any]:
    """A1111 sends ``info`` as a JSON *string*; tolerate a dict or garbage."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _progress_from(state: dict[str, Any]) -> Progress | None:
    """A :class:`Progress` from ``/sdapi/v1/progress``, or None while idle."""
    inner = state.get("state") if isinstance(state.get("state"), dict) else {}
    assert isinstance(inner, dict)
    fraction = float(state.get("progress") or 0.0)
    step = inner.get("sampling_step")
    steps = inner.get("sampling_steps")
    if fraction <= 0 and not inner.get("job_count"):
        return None
    preview = None
    image = state.get("current_image")
    if isinstance(image, str) and image:
        try:
            data = _decode_b64(image)
            preview = GeneratedImage(data=data, mime_type=sniff_mime(data))
        except (binascii.Error, ValueError):
            preview = None
    return Progress(
        fraction=max(0.0, min(1.0, fraction)),
        step=step if isinstance(step, int) else None,
        steps=steps if isinstance(steps, int) else None,
        preview=preview,
    )


register_image_provider(KIND, A1111Provider)
