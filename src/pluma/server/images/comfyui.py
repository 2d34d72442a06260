"""ComfyUI, driven by a workflow in API format with ``%placeholder%`` values.

| Pluma                | ComfyUI API                                                        |
|----------------------|--------------------------------------------------------------------|
| ``ping``             | ``GET /system_stats``                                              |
| ``list_checkpoints`` | ``GET /object_info/CheckpointLoaderSimple`` → ``ckpt_name`` choices|
| ``list_options``     | ``/object_info/KSampler`` (``sampler_name``, ``scheduler``),       |
|                      | ``LoraLoader`` (``lora_name``), ``VAELoader`` (``vae_name``),      |
|                      | ``LatentUpscaleBy`` (``upscale_method``)                           |
| init image, mask     | ``POST /upload/image`` (multipart ``image``, ``type=input``) →     |
|                      | ``{name, subfolder}``: the value of ``%init_image%`` / ``%mask%``  |
| the workflow         | the connection's own when it has the mode's placeholders, else the |
|                      | shipped one (txt2img, img2img, inpaint, hires); LoRAs and a VAE    |
|                      | are chained after its CheckpointLoaderSimple; batch count runs the |
|                      | prompt that many times, the seed following on                      |
| ``generate``         | open ``/ws?clientId=ID``, then ``POST /prompt {prompt, client_id,``|
|                      | ``prompt_id}`` (the id is ours, so a cancel can name the job even  |
|                      | before ComfyUI answers; 400 ``node_errors`` → a message naming the |
|                      | node and the problem)                                              |
| waiting              | on a ``status`` message before our prompt starts, ``GET /queue``:  |
|                      | ``In queue: 2/3`` when other prompts run or wait ahead of ours     |
| progress             | websocket JSON ``progress {value, max}``, ``executing {node}``;    |
|                      | binary frames ``>I event=1, >I format (1 JPEG, 2 PNG), bytes`` are |
|                      | previews                                                           |
| end of the job       | ``executing {node: null}`` or ``execution_success`` for our prompt |
|                      | ``execution_error`` / ``execution_interrupted`` → an error         |
| results              | ``GET /history/{prompt_id}``: the output nodes' ``images`` of type |
|                      | ``output`` (SaveImage); PreviewImage's ``temp`` pictures are shown |
|                      | as progress, and are results only when no node saved any; bytes   |
|                      | from ``GET /view``                                                 |
| checkpoint reported  | the ``ckpt_name`` the submitted workflow loads (a name from the    |
|                      | checkpoint list: a request's name is matched to it, ignoring case  |
|                      | and extension)                                                     |
| cancel               | ``POST /queue {delete: [id]}`` (still queued), then, if            |
|                      | ``GET /queue`` lists it as running, ``POST /interrupt {prompt_id}``|
|                      | (older ComfyUI interrupts whatever runs); a cancel that arrives    |
|                      | while ``POST /prompt`` is in flight waits for it, then does this   |
| auth                 | none by default; bearer or basic for a reverse proxy in front      |

If the websocket closes early, the provider falls back to polling
``/history/{prompt_id}`` so a job that finishes is never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from pluma.server.images.a1111 import sniff_mime
from pluma.server.images.base import (
    BackendOptions,
    GeneratedImage,
    ImageBackendError,
    ImageRequest,
    ImageResult,
    InputImage,
    Progress,
    ProgressCallback,
    register_image_provider,
    report,
)
from pluma.server.images.http import BackendHTTP
from pluma.server.images.profiles import ImageConnectionProfile
from pluma.server.images.workflows import (
    WorkflowError,
    add_loras_and_vae,
    check_workflow,
    default_workflow,
    substitute,
    workflow_for,
)

log = logging.getLogger(__name__)

KIND = "comfyui"
LABEL = "ComfyUI"

PREVIEW_IMAGE = 1
"""Binary websocket event type of a preview frame."""
PREVIEW_FORMATS = {1: "image/jpeg", 2: "image/png"}

SUBMIT_GRACE = 10.0
"""Seconds a cancelled generation waits for its in-flight ``POST /prompt`` to
be answered, so that the job it queued can be dropped."""

HISTORY_GRACE = 5.0
"""Seconds to wait for the history entry of a finished prompt."""

DEFAULT_SAMPLER = "euler"
DEFAULT_SCHEDULER = "normal"
DEFAULT_UPSCALE = "nearest-exact"


class _Finished(Exception):
    """The websocket said our prompt is done."""


class ComfyUIProvider:
    def __init__(
        self,
        profile: ImageConnectionProfile,
        client: httpx.AsyncClient,
        *,
        history_poll_interval: float = 0.5,
    ) -> None:
        self.profile = profile
        self.http = BackendHTTP(
            client, profile.base_url, profile.auth_headers(), LABEL, profile.secrets()
        )
        self.history_poll_interval = history_poll_interval

    @property
    def kind(self) -> str:
        return KIND

    @property
    def upstream(self) -> str:
        return self.http.base_url

    # -- contract ----------------------------------------------------------------

    async def ping(self) -> None:
        await self.http.get_json("/system_stats")

    async def _choices(self, node_class: str, name: str) -> list[str] | None:
        """The choices of a node's combo input from ``/object_info``; None
        when this ComfyUI has no such node."""
        info = await self.http.get_json(f"/object_info/{node_class}")
        try:
            spec = info[node_class]["input"]["required"][name]
        except (KeyError, TypeError):
            return None
        # Older servers: [[names...], {options}]; newer: ["COMBO", {"options": [...]}].
        choices: Any = spec[0] if spec else []
        if not isinstance(choices, list) and len(spec) > 1 and isinstance(spec[1], dict):
            choices = spec[1].get("options", [])
        return [str(c) for c in choices] if isinstance(choices, list) else []

    async def list_checkpoints(self) -> list[str]:
        names = await self._choices("CheckpointLoaderSimple", "ckpt_name")
        if names is None:
            raise ImageBackendError(
                f"{LABEL} at {self.upstream} has no CheckpointLoaderSimple node, "
                "so Pluma cannot list its checkpoints"
            )
        return names

    async def list_options(self) -> BackendOptions:
        found = await asyncio.gather(
            self.list_checkpoints(),
            self._choices("KSampler", "sampler_name"),
            self._choices("KSampler", "scheduler"),
            self._choices("LoraLoader", "lora_name"),
            self._choices("VAELoader", "vae_name"),
            self._choices("LatentUpscaleBy", "upscale_method"),
        )
        checkpoints, samplers, schedulers, loras, vaes, upscalers = (f or [] for f in found)
        return BackendOptions(
            checkpoints=checkpoints,
            samplers=samplers,
            schedulers=schedulers,
            loras=loras,
            vaes=vaes,
            upscalers=upscalers,
            modes=["txt2img", "img2img", "inpaint", "hires"],
        )

    def workflow(self) -> dict[str, Any]:
        return self.profile.workflow if self.profile.workflow else default_workflow()

    async def _checkpoint(self, request: ImageRequest) -> str:
        """The checkpoint to load, by the name in ComfyUI's list: the
        request's (matched ignoring case and extension), the profile's, or
        the first listed."""
        wanted = request.checkpoint or self.profile.default_checkpoint
        available = await self.list_checkpoints()
        if not wanted:
            if not available:
                raise ImageBackendError(
                    f"{LABEL} at {self.upstream} has no checkpoints: put a model in its "
                    "models/checkpoints folder",
                    code="invalid",
                    status=400,
                )
            return available[0]
        if wanted in available:
            return wanted
        key = _stem(wanted)
        for name in available:
            if _stem(name) == key:
                return name
        return wanted  # ComfyUI's own validation names it and lists the choices

    async def build_prompt(
        self,
        request: ImageRequest,
        seed: int,
        uploads: dict[str, str] | None = None,
        checkpoint: str | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        """The substituted workflow, the values used, and what the user
        should know (placeholders the workflow lacks, a workflow passed over)."""
        mode = "hires" if request.hires is not None else request.mode
        workflow, notes = workflow_for(mode, self.profile.workflow)
        check = check_workflow(workflow)
        if not check.ok:
            raise ImageBackendError(
                "the ComfyUI workflow of this connection is not usable: "
                + "; ".join(check.problems),
                code="workflow",
                status=400,
            )
        if checkpoint is None and "checkpoint" in check.used:
            checkpoint = await self._checkpoint(request)
        hires = request.hires
        values: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "seed": seed,
            "steps": request.steps,
            "cfg": request.cfg_scale,
            "width": request.width,
            "height": request.height,
            "checkpoint": checkpoint or "",
            "sampler": request.sampler or DEFAULT_SAMPLER,
            "scheduler": request.scheduler or DEFAULT_SCHEDULER,
            "batch_size": request.batch_size,
            "denoise": request.denoise,
            "hr_scale": hires.scale if hires else 2.0,
            "hr_upscaler": (hires.upscaler if hires else "") or DEFAULT_UPSCALE,
            "hr_steps": (hires.steps if hires else 0) or request.steps,
            "hr_denoise": hires.denoise if hires else 0.5,
            **(uploads or {}),
        }
        try:
            prompt = substitute(workflow, values)
        except WorkflowError as exc:
            raise ImageBackendError(str(exc), code="workflow", status=400) from None
        notes += add_loras_and_vae(
            prompt, [(lora.name, lora.weight) for lora in request.loras], request.vae
        )
        used = {name: values[name] for name in check.used}
        return prompt, used, [*notes, *check.warnings]

    async def _upload(self, image: InputImage, role: str) -> str:
        """Upload a picture to ComfyUI's input folder; the name ``LoadImage``
        takes. A fresh name each time, so nobody's file is overwritten."""
        ext = {"image/jpeg": "jpg", "image/webp": "webp"}.get(image.mime_type, "png")
        filename = f"pluma-{role}-{uuid.uuid4().hex[:12]}.{ext}"
        path = "/upload/image"
        response = await self.http.send(
            "POST",
            path,
            files={"image": (filename, image.data, image.mime_type)},
            data={"type": "input", "overwrite": "false"},
            read_timeout=60.0,
        )
        self.http.check(response, path)
        answer = BackendHTTP.json_of(response, LABEL, path)
        if not isinstance(answer, dict) or not answer.get("name"):
            raise ImageBackendError(f"{LABEL} accepted the upload but named no file")
        subfolder = str(answer.get("subfolder") or "")
        return f"{subfolder}/{answer['name']}" if subfolder else str(answer["name"])

    async def _uploads(self, request: ImageRequest) -> dict[str, str]:
        uploads: dict[str, str] = {}
        if request.init_image is not None:
            uploads["init_image"] = await self._upload(request.init_image, "init")
        if request.mask is not None:
            uploads["mask"] = await self._upload(request.mask, "mask")
        return uploads

    async def generate(
        self, request: ImageRequest, on_progress: ProgressCallback | None = None
    ) -> ImageResult:
        seed = request.resolved_seed()
        uploads = await self._uploads(request)
        images: list[GeneratedImage] = []
        prompt_ids: list[str] = []
        nodes: list[str] = []
        seeds: list[int] = []
        warnings: list[str] = []
        checkpoint = ""
        used: dict[str, Any] = {}
        resolved: str | None = None
        for index in range(request.batch_count):
            run_seed = seed + index * request.batch_size
            prompt, used, warnings = await self.build_prompt(request, run_seed, uploads, resolved)
            resolved = str(used.get("checkpoint") or "") or None
            checkpoint = _loaded_checkpoint(prompt) or checkpoint
            scaled = _scaled(on_progress, index, request.batch_count)
            got, got_nodes, prompt_id = await self._run(prompt, scaled)
            images += got
            nodes += [n for n in got_nodes if n not in nodes]
            prompt_ids.append(prompt_id)
            seeds += [run_seed + i for i in range(request.batch_size)]
        parameters = request.to_dict()
        parameters["seed"] = seed
        parameters["checkpoint"] = checkpoint or str(used.get("checkpoint", ""))
        parameters["sampler"] = used.get("sampler", "")
        parameters["scheduler"] = used.get("scheduler", "")
        if request.batch_count > 1 or request.batch_size > 1:
            parameters["all_seeds"] = seeds
        wanted = request.checkpoint or self.profile.default_checkpoint
        if wanted and checkpoint and _stem(wanted) != _stem(checkpoint):
            warnings.append(
                f"{LABEL} loaded {checkpoint!r}, not the checkpoint {wanted!r} asked for "
                "(the workflow fixes its own)"
            )
        info = {
            "comfyui": {
                "prompt_id": prompt_ids[-1],
                "prompt_ids": prompt_ids,
                "output_nodes": nodes,
                "placeholders": sorted(used),
                "warnings": warnings,
            }
        }
        return ImageResult(images=images, parameters=parameters, info=info, warnings=warnings)

    async def _run(
        self, prompt: dict[str, Any], on_progress: ProgressCallback | None
    ) -> tuple[list[GeneratedImage], list[str], str]:
        """Queue one prompt, follow it to its end, and fetch its pictures."""
        client_id = uuid.uuid4().hex
        async with self._socket(client_id) as ws:
            prompt_id = await self._submit(prompt, client_id)
            try:
                async with asyncio.timeout(self.profile.timeout):
                    await self._follow(ws, prompt_id, on_progress)
            except asyncio.CancelledError:
                await asyncio.shield(self._cancel(prompt_id))
                raise
            except TimeoutError:
                await asyncio.shield(self._cancel(prompt_id))
                raise ImageBackendError(
                    f"{LABEL} did not finish the job in {self.profile.timeout:g} s; it was "
                    "interrupted (raise the connection's timeout for slow workflows)",
                    code="execution",
                ) from None
        images, nodes = await self._outputs(prompt_id)
        return images, nodes, prompt_id

    # -- the job -----------------------------------------------------------------

    def _ws_url(self, client_id: str) -> str:
        base = self.upstream
        if base.startswith("https://"):
            base = "wss://" + base[len("https://") :]
        elif base.startswith("http://"):
            base = "ws://" + base[len("http://") :]
        return f"{base}/ws?clientId={client_id}"

    @contextlib.asynccontextmanager
    async def _socket(self, client_id: str) -> AsyncIterator[ClientConnection]:
        try:
            ws = await connect(
                self._ws_url(client_id),
                additional_headers=self.http.headers,
                open_timeout=10,
                # Closing waits for ComfyUI's close frame; a server that never
                # sends one must not hold the job (and its stream) for the
                # library's default 10 s.
                close_timeout=2,
                max_size=32 * 2**20,
                ping_interval=None,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise ImageBackendError(
                    f"{LABEL} at {self.upstream} refused the credentials (HTTP {status} on "
                    "/ws); check the connection's authentication settings",
                    code="auth",
                ) from None
            raise ImageBackendError(
                f"{LABEL} at {self.upstream} refused the progress websocket (HTTP {status} on "
                "/ws); is the URL pointing at ComfyUI?",
            ) from None
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise ImageBackendError(
                f"cannot reach {LABEL} at {self.upstream} ({type(exc).__name__}: {exc}); "
                "check that it is running and that the connection's URL is right",
                code="unreachable",
            ) from None
        try:
            yield ws
        finally:
            await ws.close()

    async def _submit(self, prompt: dict[str, Any], client_id: str) -> str:
        """Queue the prompt and return its id, dropping the job again when
        cancelled while ``POST /prompt`` is in flight.

        Cutting that request short would leave it unknown whether ComfyUI
        queued the job (and a queued job runs to the end with nobody
        watching), so the request is shielded: a cancel waits for its answer
        (at most :data:`SUBMIT_GRACE` s) and then deletes and interrupts the
        job. The id is chosen here and sent as ``prompt_id`` (ComfyUI keeps a
        client's id), so even an unanswered request leaves an id to cancel.
        """
        wanted = str(uuid.uuid4())
        post = asyncio.ensure_future(self._queue(prompt, client_id, wanted))
        try:
            return await asyncio.shield(post)
        except asyncio.CancelledError:
            await asyncio.shield(self._drop_submitted(post, wanted))
            raise

    async def _drop_submitted(self, post: asyncio.Future[str], wanted: str) -> None:
        try:
            async with asyncio.timeout(SUBMIT_GRACE):
                prompt_id = await post
        except ImageBackendError as exc:
            if exc.code == "node_error":
                return  # rejected: nothing was queued
            prompt_id = wanted
        except TimeoutError:
            prompt_id = wanted  # the request was cut short after all; cancel by our id
        except Exception:
            log.exception("%s: POST /prompt failed while its job was being cancelled", LABEL)
            prompt_id = wanted
        await self._cancel(prompt_id)

    async def _queue(self, prompt: dict[str, Any], client_id: str, prompt_id: str) -> str:
        path = "/prompt"
        response = await self.http.send(
            "POST", path, json={"prompt": prompt, "client_id": client_id, "prompt_id": prompt_id}
        )
        if response.status_code == 400:
            raise ImageBackendError(
                node_error_message(BackendHTTP.json_of(response, LABEL, path)), code="node_error"
            )
        self.http.check(response, path)
        answer = BackendHTTP.json_of(response, LABEL, path)
        if not isinstance(answer, dict) or not answer.get("prompt_id"):
            raise ImageBackendError(f"{LABEL} accepted the prompt but sent no prompt_id")
        return str(answer["prompt_id"])

    async def _follow(
        self, ws: ClientConnection, prompt_id: str, on_progress: ProgressCallback | None
    ) -> None:
        running = False
        fraction = 0.0
        node: str | None = None
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    preview = parse_preview(message)
                    if running and preview is not None:
                        await report(on_progress, Progress(fraction, preview=preview, node=node))
                    continue
                try:
                    event = json.loads(message)
                except ValueError:
                    continue
                kind = event.get("type") if isinstance(event, dict) else None
                data = event.get("data") if isinstance(event, dict) else None
                if not isinstance(data, dict):
                    continue
                if data.get("prompt_id") not in (None, prompt_id):
                    continue  # another client's job on a shared server
                if kind == "status" and not running:
                    # The queue changed (anyone's prompt): say where ours waits.
                    place = await self._place(prompt_id)
                    if place is not None:
                        await report(on_progress, Progress(0.0, queued=True, text=place))
                elif kind == "execution_start" and data.get("prompt_id") == prompt_id:
                    running = True
                elif kind == "executing" and data.get("prompt_id") == prompt_id:
                    if data.get("node") is None:
                        return
                    running = True
                    node = str(data["node"])
                    await report(on_progress, Progress(fraction, node=node))
                elif kind == "progress" and running:
                    value, top = data.get("value"), data.get("max")
                    if isinstance(value, int) and isinstance(top, int) and top > 0:
                        fraction = max(0.0, min(1.0, value / top))
                        node = str(data.get("node") or node or "") or None
                        await report(on_progress, Progress(fraction, value, top, node=node))
                elif kind == "executed" and data.get("prompt_id") == prompt_id:
                    # A PreviewImage node's picture: progress to show, not a result.
                    preview = await self._temp_preview(data.get("output"))
                    if preview is not None:
                        await report(on_progress, Progress(fraction, preview=preview, node=node))
                elif kind == "execution_success" and data.get("prompt_id") == prompt_id:
                    return
                elif kind == "execution_error" and data.get("prompt_id") == prompt_id:
                    raise ImageBackendError(execution_error_message(data), code="execution")
                elif kind == "execution_interrupted" and data.get("prompt_id") == prompt_id:
                    where = _node_label(data.get("node_id"), data.get("node_type"))
                    raise ImageBackendError(
                        f"the job was interrupted on {LABEL}{' at ' + where if where else ''} "
                        "(someone pressed Cancel there, or another client interrupted it)",
                        code="interrupted",
                    )
        except ConnectionClosed:
            pass
        log.info("%s websocket closed before prompt %s finished; polling history", LABEL, prompt_id)
        # Polling is the only way left to learn the outcome: no event exists.
        while not await self._history(prompt_id):  # noqa: ASYNC110
            await asyncio.sleep(self.history_poll_interval)

    async def _history(self, prompt_id: str) -> dict[str, Any] | None:
        history = await self.http.get_json(f"/history/{prompt_id}")
        entry = history.get(prompt_id) if isinstance(history, dict) else None
        return entry if isinstance(entry, dict) else None

    async def _outputs(self, prompt_id: str) -> tuple[list[GeneratedImage], list[str]]:
        # ComfyUI sends execution_success a moment before it writes the
        # history entry, so a missing entry is retried briefly.
        entry = await self._history(prompt_id)
        deadline = asyncio.get_running_loop().time() + HISTORY_GRACE
        while entry is None and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(self.history_poll_interval)
            entry = await self._history(prompt_id)
        if entry is None:
            raise ImageBackendError(f"{LABEL} has no history for prompt {prompt_id}")
        status = entry.get("status")
        if isinstance(status, dict) and status.get("status_str") == "error":
            for name, data in status.get("messages") or []:
                if name == "execution_error" and isinstance(data, dict):
                    raise ImageBackendError(execution_error_message(data), code="execution")
            raise ImageBackendError(f"{LABEL} reports that prompt {prompt_id} failed")
        outputs = entry.get("outputs")
        if not isinstance(outputs, dict):
            outputs = {}
        found: list[tuple[str, dict[str, Any]]] = []
        for node_id in sorted(outputs, key=_node_order):
            refs = outputs[node_id].get("images") if isinstance(outputs[node_id], dict) else None
            for ref in refs if isinstance(refs, list) else []:
                if isinstance(ref, dict) and ref.get("filename"):
                    found.append((str(node_id), ref))
        # SaveImage writes type "output"; PreviewImage's "temp" copies of the
        # same pictures were progress. They count only when nothing was saved.
        saved = [(n, ref) for n, ref in found if (ref.get("type") or "output") == "output"]
        chosen = saved or found
        nodes: list[str] = []
        images: list[GeneratedImage] = []
        for node_id, ref in chosen:
            if node_id not in nodes:
                nodes.append(node_id)
            images.append(await self._view(ref))
        if not images:
            raise ImageBackendError(
                f"{LABEL} finished prompt {prompt_id} without images: the workflow needs a "
                "SaveImage or PreviewImage node"
            )
        return images, nodes

    async def _view(self, ref: dict[str, Any]) -> GeneratedImage:
        params = {
            "filename": str(ref["filename"]),
            "subfolder": str(ref.get("subfolder") or ""),
            "type": str(ref.get("type") or "output"),
        }
        response = await self.http.send("GET", "/view", params=params, read_timeout=60.0)
        self.http.check(response, "/view")
        data = response.content
        mime = response.headers.get("content-type", "").split(";")[0].strip()
        if not mime.startswith("image/"):
            mime = sniff_mime(data)
        return GeneratedImage(data=data, mime_type=mime)

    async def _temp_preview(self, output: Any) -> GeneratedImage | None:
        """The first ``temp`` picture of an ``executed`` message, fetched."""
        refs = output.get("images") if isinstance(output, dict) else None
        for ref in refs if isinstance(refs, list) else []:
            if isinstance(ref, dict) and ref.get("filename") and ref.get("type") == "temp":
                try:
                    return await self._view(ref)
                except ImageBackendError:
                    return None  # a preview is a nicety
        return None

    async def _cancel(self, prompt_id: str) -> None:
        """Drop the prompt from the queue, then interrupt it if it is the one
        running (best effort: we are leaving either way).

        ``/interrupt`` is sent only when ``GET /queue`` lists our prompt as
        running (or cannot be read): ComfyUI before targeted interrupts
        ignores the ``prompt_id`` and stops whatever runs, which on a shared
        server may be someone else's job. Deleting first means a prompt not
        running at that moment can no longer start.
        """
        await self._post_quietly("/queue", {"delete": [prompt_id]})
        if await self._running(prompt_id) is not False:
            await self._post_quietly("/interrupt", {"prompt_id": prompt_id})

    async def _place(self, prompt_id: str) -> str | None:
        """``In queue: 2/3`` while our prompt waits behind others (running or
        queued before it), from ``GET /queue``; None when it does not wait."""
        try:
            response = await self.http.send("GET", "/queue", read_timeout=5.0)
            queue: Any = response.json() if response.is_success else None
        except (ImageBackendError, ValueError):
            return None
        if not isinstance(queue, dict):
            return None
        running = [i for i in queue.get("queue_running") or [] if isinstance(i, list) and i]
        pending = [i for i in queue.get("queue_pending") or [] if isinstance(i, list) and i]
        if any(prompt_id in item[1:2] for item in running):
            return None
        ours = next((item for item in pending if prompt_id in item[1:2]), None)
        if ours is None:
            return None
        ahead = len(running) + sum(1 for item in pending if item[0] < ours[0])
        if ahead == 0:
            return None
        return f"In queue: {ahead + 1}/{len(running) + len(pending)}"

    async def _running(self, prompt_id: str) -> bool | None:
        """Whether ``GET /queue`` lists the prompt as running; None if unknown."""
        try:
            response = await self.http.send("GET", "/queue", read_timeout=5.0)
            queue: Any = response.json() if response.is_success else None
        except (ImageBackendError, ValueError):
            return None
        running = queue.get("queue_running") if isinstance(queue, dict) else None
        if not isinstance(running, list):
            return None
        # Each entry: [number, prompt_id, prompt, extra_data, outputs_to_execute]
        return any(isinstance(item, list) and prompt_id in item[1:2] for item in running)

    async def _post_quietly(self, path: str, body: dict[str, Any]) -> None:
        try:
            await self.http.send("POST", path, json=body, read_timeout=5.0)
        except ImageBackendError as exc:
            log.warning("could not cancel on %s (%s): %s", LABEL, path, exc.message)


def _stem(name: str) -> str:
    """A checkpoint name without folder, extension or case, for matching."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].lower()
    for ext in (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf"):
        if base.endswith(ext):
            return base[: -len(ext)]
    return base


def _loaded_checkpoint(prompt: dict[str, Any]) -> str:
    """The ``ckpt_name`` the workflow's first checkpoint loader loads."""
    for node_id in sorted(prompt, key=_node_order):
        node = prompt[node_id]
        if node.get("class_type") == "CheckpointLoaderSimple":
            name = node.get("inputs", {}).get("ckpt_name")
            if isinstance(name, str):
                return name
    return ""


def _scaled(on_progress: ProgressCallback | None, index: int, count: int) -> ProgressCallback:
    """Reports of run ``index`` of ``count`` as a fraction of the whole batch."""

    async def scaled(progress: Progress) -> None:
        progress.fraction = (index + progress.fraction) / count
        await report(on_progress, progress)

    return scaled


def _node_order(node_id: str) -> tuple[int, str]:
    return (int(node_id), "") if node_id.isdigit() else (1 << 62, node_id)


def _node_label(node_id: Any, class_type: Any) -> str:
    if node_id is None and not class_type:
        return ""
    if class_type:
        return f"node {node_id} ({class_type})"
    return f"node {node_id}"


def parse_preview(frame: bytes) -> GeneratedImage | None:
    """A preview image from a binary websocket frame, or None for other events."""
    if len(frame) < 8:
        return None
    event, image_format = struct.unpack(">II", frame[:8])
    if event != PREVIEW_IMAGE:
        return None
    data = frame[8:]
    return GeneratedImage(
        data=data, mime_type=PREVIEW_FORMATS.get(image_format) or sniff_mime(data)
    )


def node_error_message(answer: Any) -> str:
    """The message for a ``400`` from ``POST /prompt``: the overall error and,
    per failing node, its id, class and each problem with its details."""
    parts: list[str] = []
    if isinstance(answer, dict):
        error = answer.get("error")
        if isinstance(error, dict):
            head = str(error.get("message") or error.get("type") or "")
            if error.get("details"):
                head += f": {error['details']}"
            if head:
                parts.append(head)
        elif isinstance(error, str):
            parts.append(error)
        node_errors = answer.get("node_errors")
        if isinstance(node_errors, dict):
            for node_id in sorted(node_errors, key=_node_order):
                entry = node_errors[node_id]
                if not isinstance(entry, dict):
                    continue
                problems = []
                for err in entry.get("errors") or []:
                    if isinstance(err, dict):
                        text = str(err.get("message") or err.get("type") or "error")
                        if err.get("details"):
                            text += f": {err['details']}"
                        problems.append(text)
                label = _node_label(node_id, entry.get("class_type"))
                parts.append(f"{label}: {'; '.join(problems) or 'invalid'}")
    if not parts:
        parts.append("the workflow was rejected")
    return f"{LABEL} rejected the workflow: " + " — ".join(parts)


def execution_error_message(data: dict[str, Any]) -> str:
    where = _node_label(data.get("node_id"), data.get("node_type")) or "a node"
    what = str(data.get("exception_message") or "").strip() or "no message"
    kind = data.get("exception_type")
    return f"{LABEL} failed at {where}: {what}" + (f" ({kind})" if kind else "")


register_image_provider(KIND, ComfyUIProvider)
