"""AUTOMATIC1111 (Stable Diffusion web UI) started with ``--api``.

| Pluma                  | A1111 API                                                     |
|------------------------|---------------------------------------------------------------|
| ``ping``               | ``GET /sdapi/v1/options``                                     |
| ``list_checkpoints``   | ``GET /sdapi/v1/sd-models`` → each model's ``title``          |
| ``list_options``       | ``/sdapi/v1/samplers``, ``/schedulers``, ``/loras`` (the      |
|                        | built-in Lora extension), ``/sd-vae``, ``/upscalers`` +       |
|                        | ``/latent-upscale-modes``; a 404 (older web UI) lists nothing |
| ``generate``           | ``POST /sdapi/v1/txt2img``, or ``/img2img`` with              |
|                        | ``init_images`` (+ ``mask`` for inpainting) and               |
|                        | ``denoising_strength``; ``force_task_id`` names the job;      |
|                        | the checkpoint and VAE ride in ``override_settings``          |
|                        | (restored after); LoRAs as ``<lora:name:weight>`` in the      |
|                        | prompt; hires fix as ``enable_hr``, ``hr_scale``,             |
|                        | ``hr_upscaler``, ``hr_second_pass_steps``; batch count as     |
|                        | ``n_iter``                                                    |
| progress               | ``POST /internal/progress {id_task}`` polled while the job    |
|                        | runs: ``queued`` (with A1111's ``In queue: 2/3``), ``active`` |
|                        | (``progress``, ``live_preview``), ``completed``: only this    |
|                        | job's, never another client's                                 |
| cancel, timeout        | see below                                                     |
| seed used              | the ``info`` JSON string of the answer (``seed``,             |
|                        | ``all_seeds``); the checkpoint reported is the title from the |
|                        | checkpoint list (matched on ``sd_model_hash``)                |
| auth (``--api-auth``)  | HTTP Basic                                                    |

**A shared web UI.** A1111 runs one job at a time (``queue_lock``);
``/sdapi/v1/interrupt`` stops *whatever runs now* and there is no call to
drop a queued job: a request cut short still runs once its turn comes
(``begin()`` of the next job also clears an earlier interrupt). So a cancel
polls ``/internal/progress`` for Pluma's task id: while it is queued Pluma
waits (bounded by the connection's timeout), once it is ``active`` Pluma
interrupts it, and when it is ``completed`` there is nothing to do. Only
Pluma's own job is ever interrupted, save for one HTTP round trip at the
very moment its job ends. A web UI that ignores ``force_task_id`` (older
versions) never lists Pluma's task: its cancel then only stops following the
job, which runs to its end.

A web UI started with ``--nowebui`` has no ``/internal/progress`` (404):
Pluma then falls back to the global ``/sdapi/v1/progress`` and interrupts
when it shows a job running, which on a shared server may be another
client's; the docs say to run a shared A1111 without ``--nowebui``.

A web UI started without ``--api`` answers FastAPI's bare ``404 {"detail":
"Not Found"}`` on every ``/sdapi`` path; that becomes a message saying to add
``--api``. Other 404s (``Sampler not found``) keep A1111's own message.

A1111 silently ignores a checkpoint it does not know (``process_images``
drops the override and keeps the loaded model): the result then carries a
warning naming both.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import uuid
from pathlib import PurePath
from typing import Any

import httpx

from pluma.server.images.base import (
    BackendOptions,
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

TASK_PROGRESS = "/internal/progress"
UNACKNOWLEDGED_GRACE = 5.0
"""Seconds a cancel waits for A1111 to list a task id it has never shown
(the request may still be on its way) before treating the web UI as one
that ignores ``force_task_id``."""

_stoppers: set[asyncio.Task[None]] = set()
"""Cancels still waiting for their queued job's turn (kept referenced)."""


def _decode_b64(data: str) -> bytes:
    if data.startswith("data:"):
        data = data.split(",", 1)[-1]
    return base64.b64decode(data)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


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


def new_task_id() -> str:
    """A task id in A1111's own shape (``task(...)``), unique to Pluma."""
    return f"task(pluma-{uuid.uuid4().hex})"


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

    async def _names(self, path: str, key: str) -> list[str]:
        """The ``key`` of every item ``path`` lists; [] when this web UI has
        no such route (an older version or a missing extension)."""
        response = await self.http.send("GET", path)
        if response.status_code == 404:
            return []
        self._check(response, path)
        items = self.http.json_of(response, LABEL, path)
        if not isinstance(items, list):
            return []
        return [str(i[key]) for i in items if isinstance(i, dict) and i.get(key)]

    # -- contract ----------------------------------------------------------------

    async def ping(self) -> None:
        await self._get("/sdapi/v1/options")

    async def _models(self) -> list[dict[str, Any]]:
        models = await self._get("/sdapi/v1/sd-models")
        if not isinstance(models, list):
            raise ImageBackendError(f"{LABEL} answered /sdapi/v1/sd-models with no list")
        return [m for m in models if isinstance(m, dict)]

    async def list_checkpoints(self) -> list[str]:
        return [str(m.get("title") or m.get("model_name")) for m in await self._models()]

    async def list_options(self) -> BackendOptions:
        checkpoints, samplers, schedulers, loras, vaes, upscalers, latent = await asyncio.gather(
            self.list_checkpoints(),
            self._names("/sdapi/v1/samplers", "name"),
            self._names("/sdapi/v1/schedulers", "name"),
            self._names("/sdapi/v1/loras", "name"),
            self._names("/sdapi/v1/sd-vae", "model_name"),
            self._names("/sdapi/v1/upscalers", "name"),
            self._names("/sdapi/v1/latent-upscale-modes", "name"),
        )
        return BackendOptions(
            checkpoints=checkpoints,
            samplers=samplers,
            schedulers=schedulers,
            loras=loras,
            vaes=vaes,
            # "None" is A1111's no-op upscaler: not a choice for hires fix.
            upscalers=[*latent, *(u for u in upscalers if u != "None")],
            modes=["txt2img", "img2img", "inpaint", "hires"],
        )

    def payload(self, request: ImageRequest, seed: int, task_id: str = "") -> dict[str, Any]:
        """The txt2img or img2img body for a request (``seed`` already resolved)."""
        prompt = request.prompt
        for lora in request.loras:
            prompt += f" <lora:{lora.name}:{lora.weight:g}>"
        body: dict[str, Any] = {
            "prompt": prompt,
            "negative_prompt": request.negative_prompt,
            "seed": seed,
            "width": request.width,
            "height": request.height,
            "steps": request.steps,
            "cfg_scale": request.cfg_scale,
            "batch_size": request.batch_size,
            "n_iter": request.batch_count,
            "send_images": True,
            "save_images": False,
        }
        if task_id:
            body["force_task_id"] = task_id
        if request.sampler:
            body["sampler_name"] = request.sampler
        if request.scheduler:
            body["scheduler"] = request.scheduler
        overrides: dict[str, Any] = {}
        checkpoint = request.checkpoint or self.profile.default_checkpoint
        if checkpoint:
            overrides["sd_model_checkpoint"] = checkpoint
        if request.vae:
            overrides["sd_vae"] = request.vae
        if overrides:
            body["override_settings"] = overrides
            body["override_settings_restore_afterwards"] = True
        if request.init_image is not None:
            body["init_images"] = [_b64(request.init_image.data)]
            body["denoising_strength"] = request.denoise
            body["include_init_images"] = False
            if request.mask is not None:
                body["mask"] = _b64(request.mask.data)
                body["mask_blur"] = 4
                body["inpainting_fill"] = 1  # "original": start from the init image
                body["inpaint_full_res"] = False
                body["inpainting_mask_invert"] = 0  # white repaints
        elif request.hires is not None:
            body["enable_hr"] = True
            body["hr_scale"] = request.hires.scale
            body["hr_upscaler"] = request.hires.upscaler or "Latent"
            body["hr_second_pass_steps"] = request.hires.steps
            body["denoising_strength"] = request.hires.denoise
        return body

    async def generate(
        self, request: ImageRequest, on_progress: ProgressCallback | None = None
    ) -> ImageResult:
        seed = request.resolved_seed()
        task_id = new_task_id()
        body = self.payload(request, seed, task_id)
        path = "/sdapi/v1/img2img" if request.init_image is not None else "/sdapi/v1/txt2img"
        # No read timeout on the request itself: the job's deadline below
        # covers it, and on expiry the job is interrupted, not just abandoned.
        job = asyncio.ensure_future(self.http.send("POST", path, json=body, read_timeout=None))
        try:
            async with asyncio.timeout(self.profile.timeout):
                await self._poll_progress(job, task_id, on_progress, _total_steps(request))
                response = await job
        except asyncio.CancelledError:
            job.cancel()
            await self._stop_shielded(task_id)
            raise
        except TimeoutError:
            job.cancel()
            await self._stop_shielded(task_id)
            raise ImageBackendError(
                f"{LABEL} did not finish the job in {self.profile.timeout:g} s; it was "
                "interrupted (raise the connection's timeout for large or slow jobs)",
                code="execution",
            ) from None
        self._check(response, path)
        answer = self.http.json_of(response, LABEL, path)
        return await self._result(request, body, answer, path)

    # -- progress and cancel -------------------------------------------------------

    async def _task_state(self, task_id: str, preview_id: int = -1) -> dict[str, Any] | None:
        """``/internal/progress`` for our task; None when unreadable. Raises
        :class:`_NoTaskProgress` when this web UI has no such route."""
        response = await self.http.send(
            "POST",
            TASK_PROGRESS,
            json={"id_task": task_id, "id_live_preview": preview_id, "live_preview": True},
            read_timeout=10.0,
        )
        if response.status_code == 404:
            raise _NoTaskProgress
        if not response.is_success:
            return None
        try:
            state: Any = response.json()
        except ValueError:
            return None
        return state if isinstance(state, dict) else None

    async def _global_state(self) -> dict[str, Any] | None:
        response = await self.http.send(
            "GET", "/sdapi/v1/progress", params={"skip_current_image": "false"}, read_timeout=10.0
        )
        try:
            state: Any = response.json() if response.is_success else None
        except ValueError:
            return None
        return state if isinstance(state, dict) else None

    async def _poll_progress(
        self,
        job: asyncio.Future[httpx.Response],
        task_id: str,
        on_progress: ProgressCallback | None,
        total_steps: int = 0,
    ) -> None:
        last: tuple[Any, ...] | None = None
        preview_id = -1
        task_scoped = True
        while True:
            done, _ = await asyncio.wait({job}, timeout=self.poll_interval)
            if done:
                return
            try:
                if task_scoped:
                    state = await self._task_state(task_id, preview_id)
                    progress = _task_progress(state, total_steps) if state is not None else None
                    if state is not None and isinstance(state.get("id_live_preview"), int):
                        preview_id = max(preview_id, state["id_live_preview"])
                else:
                    state = await self._global_state()
                    progress = _progress_from(state) if state is not None else None
            except _NoTaskProgress:
                log.warning(
                    "%s at %s has no %s (started with --nowebui?): showing its global "
                    "progress, which on a shared server may be another client's job",
                    LABEL,
                    self.upstream,
                    TASK_PROGRESS,
                )
                task_scoped = False
                continue
            except ImageBackendError:
                continue  # progress is a nicety; the job itself decides success
            if progress is None:
                continue
            key = (progress.fraction, progress.step, progress.queued, progress.text)
            if key != last or progress.preview is not None:
                last = key
                await report(on_progress, progress)

    async def _stop_shielded(self, task_id: str) -> None:
        """Run :meth:`_stop` in a task of its own that our cancellation
        cannot cut short (it may wait for a queued job's turn)."""
        stopper = asyncio.ensure_future(self._stop(task_id))
        _stoppers.add(stopper)
        stopper.add_done_callback(_stoppers.discard)
        await asyncio.shield(stopper)

    async def _stop(self, task_id: str) -> None:
        """Make sure Pluma's job does not run on, touching no other job.

        | ``/internal/progress`` says | Pluma                                     |
        |-----------------------------|-------------------------------------------|
        | ``active``                  | interrupts (it is the running job)        |
        | ``queued``                  | waits for its turn, then interrupts it    |
        | ``completed``               | nothing left to stop                      |
        | never heard of it, 5 s      | a web UI that ignores ``force_task_id``:  |
        |                             | nothing (the running job may not be ours) |
        | no such route (404)         | interrupts if ``/sdapi/v1/progress``      |
        |                             | shows a job running                       |
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + max(self.profile.timeout, UNACKNOWLEDGED_GRACE)
        seen = False
        try:
            while loop.time() < deadline:
                try:
                    state = await self._task_state(task_id)
                except _NoTaskProgress:
                    await self._interrupt_if_busy()
                    return
                if state is not None:
                    if state.get("active"):
                        await self._interrupt()
                        return
                    if state.get("completed"):
                        return
                    seen = seen or bool(state.get("queued"))
                    if not seen and loop.time() - started > UNACKNOWLEDGED_GRACE:
                        # Interrupting now could stop another client's job:
                        # Pluma cannot tell its own from theirs.
                        log.warning(
                            "%s never listed task %s (a web UI that ignores force_task_id?); "
                            "not interrupting, since the running job may be another client's",
                            LABEL,
                            task_id,
                        )
                        return
                # A1111 has no event to wait on: the next look is all there is.
                await asyncio.sleep(self.poll_interval)
            log.warning(
                "%s: Pluma's cancelled job %s was still queued after %g s; it may run yet",
                LABEL,
                task_id,
                self.profile.timeout,
            )
        except ImageBackendError as exc:
            log.warning("could not stop %s job %s: %s", LABEL, task_id, exc.message)

    async def _interrupt_if_busy(self) -> None:
        state = await self._global_state()
        inner = state.get("state") if isinstance(state, dict) else None
        if not isinstance(inner, dict) or inner.get("job_count"):
            await self._interrupt()

    async def _interrupt(self) -> None:
        """Tell A1111 to stop the running job (best effort: we are leaving)."""
        try:
            await self.http.send("POST", "/sdapi/v1/interrupt", read_timeout=5.0)
        except ImageBackendError as exc:
            log.warning("could not interrupt %s: %s", LABEL, exc.message)

    # -- the result --------------------------------------------------------------

    async def _result(
        self, request: ImageRequest, body: dict[str, Any], answer: Any, path: str
    ) -> ImageResult:
        if not isinstance(answer, dict) or not isinstance(answer.get("images"), list):
            raise ImageBackendError(f"{LABEL} answered {path} without an images list")
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
        wanted = body.get("override_settings", {}).get("sd_model_checkpoint") or ""
        used = await self._used_checkpoint(info)
        parameters["checkpoint"] = (used or {}).get("title") or info.get("sd_model_name") or wanted
        parameters["sampler"] = info.get("sampler_name") or request.sampler
        if "all_seeds" in info:
            parameters["all_seeds"] = info["all_seeds"]
        warnings: list[str] = []
        if wanted and used is not None and not _names_model(wanted, used):
            warnings.append(
                f"{LABEL} has no checkpoint {wanted!r} and used {used.get('title')!r} instead "
                "(it ignores a checkpoint it does not know); pick one from the list"
            )
        return ImageResult(
            images=images, parameters=parameters, info={"a1111": info}, warnings=warnings
        )

    async def _used_checkpoint(self, info: dict[str, Any]) -> dict[str, Any] | None:
        """The checkpoint-list entry of the model the job ran with (matched
        on the hash ``info`` reports), so the name reported is the list's."""
        model_hash, model_name = info.get("sd_model_hash"), info.get("sd_model_name")
        if not model_hash and not model_name:
            return None
        try:
            models = await self._models()
        except ImageBackendError:
            return None
        for model in models:
            if model_hash and model_hash in (model.get("hash"), str(model.get("sha256"))[:10]):
                return model
        for model in models:
            if model_name and model_name == model.get("model_name"):
                return model
        return None


class _NoTaskProgress(Exception):
    """This web UI has no ``/internal/progress`` (started with ``--nowebui``)."""


def _names_model(wanted: str, model: dict[str, Any]) -> bool:
    """Whether ``wanted`` is one of the names A1111 knows ``model`` by
    (its title, model name, file name, short hash or sha256)."""
    filename = str(model.get("filename") or "")
    names = {
        str(model.get("title") or ""),
        str(model.get("model_name") or ""),
        str(model.get("hash") or ""),
        str(model.get("sha256") or ""),
        PurePath(filename).name,
        PurePath(filename).stem,
    }
    title = str(model.get("title") or "")
    if " [" in title:
        names.add(title.rsplit(" [", 1)[0])
    return wanted in names - {""}


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


def _preview(image: Any) -> GeneratedImage | None:
    if not isinstance(image, str) or not image:
        return None
    try:
        data = _decode_b64(image)
    except (binascii.Error, ValueError):
        return None
    return GeneratedImage(data=data, mime_type=sniff_mime(data))


def _total_steps(request: ImageRequest) -> int:
    """The sampling steps of the whole job (every iteration, hires pass included)."""
    hires = request.hires
    per_image = request.steps + ((hires.steps or request.steps) if hires else 0)
    return per_image * request.batch_count


def _task_progress(state: dict[str, Any], total_steps: int = 0) -> Progress | None:
    """A :class:`Progress` from ``/internal/progress`` for our task: queued
    (with A1111's words for the place in line) or active; None otherwise.

    That endpoint gives a fraction only (``job_no/job_count`` plus the
    current job's share); the step shown is that fraction of the job's
    ``total_steps``, which Pluma knows from its own request."""
    text = state.get("textinfo") if isinstance(state.get("textinfo"), str) else None
    if state.get("active"):
        fraction = max(0.0, min(1.0, float(state.get("progress") or 0.0)))
        return Progress(
            fraction=fraction,
            step=round(fraction * total_steps) if total_steps else None,
            steps=total_steps or None,
            preview=_preview(state.get("live_preview")),
            text=text,
        )
    if state.get("queued"):
        return Progress(fraction=0.0, queued=True, text=text or "Queued")
    return None


def _progress_from(state: dict[str, Any]) -> Progress | None:
    """A :class:`Progress` from the global ``/sdapi/v1/progress`` (the
    ``--nowebui`` fallback), or None while idle."""
    inner = state.get("state") if isinstance(state.get("state"), dict) else {}
    assert isinstance(inner, dict)
    fraction = float(state.get("progress") or 0.0)
    step = inner.get("sampling_step")
    steps = inner.get("sampling_steps")
    if fraction <= 0 and not inner.get("job_count"):
        return None
    return Progress(
        fraction=max(0.0, min(1.0, fraction)),
        step=step if isinstance(step, int) else None,
        steps=steps if isinstance(steps, int) else None,
        preview=_preview(state.get("current_image")),
    )


register_image_provider(KIND, A1111Provider)
