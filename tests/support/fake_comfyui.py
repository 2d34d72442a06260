"""A fake ComfyUI server on 127.0.0.1, faithful to its HTTP and websocket API.

Modelled on ComfyUI's ``server.py`` / ``execution.py`` / ``main.py``:

| route                                | behaviour                                                |
|--------------------------------------|----------------------------------------------------------|
| ``GET /system_stats``                | ``{system: {...}, devices: [...]}``                      |
| ``GET /object_info/{class}``         | ``{class: {input: {required: {...}}, ...}}``; ``{}`` for |
|                                      | unknown classes; the combo inputs list the checkpoints,  |
|                                      | samplers, schedulers, LoRAs, VAEs, upscale methods       |
| ``POST /upload/image`` (multipart    | stores the file in the input folder; a taken name gets   |
| ``image``, ``type``, ``subfolder``,  | `` (1)`` unless ``overwrite``; ``{name, subfolder,       |
| ``overwrite``)                       | type}``; no ``image`` part → 400                         |
| ``POST /prompt {prompt, client_id,`` | keeps a client's ``prompt_id``; validates: unknown       |
| ``prompt_id}``                       | ``class_type`` → 400                                     |
|                                      | ``invalid_prompt``; ckpt not in list → 400               |
|                                      | ``prompt_outputs_failed_validation`` with ``node_errors``|
|                                      | (also a ``LoadImage`` file not uploaded, a LoRA or VAE   |
|                                      | not in the list)                                         |
|                                      | ``{id: {errors: [{type, message, details, extra_info}],  |
|                                      | dependent_outputs, class_type}}``; no output node → 400  |
|                                      | ``prompt_no_outputs``; else ``{prompt_id, number,        |
|                                      | node_errors: {}}`` and the job is queued                 |
| ``GET /history/{id}``                | ``{id: {prompt, outputs, status, meta}}`` or ``{}``      |
| ``GET /view?filename&subfolder&type``| the image bytes                                          |
| ``POST /interrupt``                  | interrupts the running job (a ``prompt_id`` in the body  |
|                                      | limits it to that job, as newer ComfyUI does)            |
| ``POST /queue {delete: [ids]}``      | drops queued jobs                                        |
| ``GET /queue``                       | ``{queue_running, queue_pending}``, entries              |
|                                      | ``[number, prompt_id, prompt, extra_data, outputs]``     |
| ``GET /ws?clientId=``                | JSON ``{type, data}`` messages to that client:           |
|                                      | ``status``, ``execution_start``, ``execution_cached``,   |
|                                      | ``executing {node}``, ``progress {value, max, node}``,   |
|                                      | ``executed {node, output}``, ``execution_success``,      |
|                                      | ``execution_error``, ``execution_interrupted``, then     |
|                                      | ``executing {node: null}`` after the history is written; |
|                                      | binary previews ``>I 1, >I 2 (PNG), bytes``              |

Knobs: ``step_delay`` per sampler step, ``fail_node`` (node id that raises
``exception_message``), ``token`` / ``basic`` (bearer or Basic auth on
everything, HTTP and websocket, as a reverse proxy would add), ``checkpoints``, ``hold_prompts`` (keep ``POST /prompt``
in flight until an event is set).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.support.fake_a1111 import (
    FakeServer,
    Recorded,
    ThreadedApp,
    colour_for,
    png,
    png_colour,
    png_size,
)

KNOWN_CLASSES = {
    "KSampler",
    "CheckpointLoaderSimple",
    "EmptyLatentImage",
    "CLIPTextEncode",
    "VAEDecode",
    "SaveImage",
    "PreviewImage",
    "LoadImage",
    "LoadImageMask",
    "ImageScale",
    "MaskToImage",
    "ImageToMask",
    "VAEEncode",
    "VAEEncodeForInpaint",
    "RepeatLatentBatch",
    "LatentUpscaleBy",
    "LoraLoader",
    "VAELoader",
}
SAMPLERS = ["euler", "euler_ancestral", "dpmpp_2m", "ddim"]
SCHEDULERS = ["normal", "karras", "exponential", "simple"]
UPSCALE_METHODS = ["nearest-exact", "bilinear", "area", "bicubic", "bislerp"]
COMBOS: dict[str, dict[str, str]] = {
    "CheckpointLoaderSimple": {"ckpt_name": "checkpoints"},
    "KSampler": {"sampler_name": "samplers", "scheduler": "schedulers"},
    "LoraLoader": {"lora_name": "loras"},
    "VAELoader": {"vae_name": "vaes"},
    "LatentUpscaleBy": {"upscale_method": "upscale_methods"},
    "LoadImage": {"image": "input_files"},
}
"""Each node's combo inputs and the attribute holding their choices."""
OUTPUT_CLASSES = {"SaveImage", "PreviewImage"}


@dataclass
class Job:
    prompt_id: str
    number: int
    prompt: dict[str, Any]
    client_id: str | None
    messages: list[list[Any]] = field(default_factory=list)


@dataclass
class FakeComfyUI(FakeServer):
    step_delay: float = 0.01
    fail_node: str | None = None
    exception_message: str = "Allocation on device 0 would exceed allowed memory. (out of memory)"
    token: str | None = None
    basic: str | None = None
    """``"user:pass"``: HTTP Basic on everything (a reverse proxy with a password)."""
    checkpoints: list[str] = field(
        default_factory=lambda: ["sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.ckpt"]
    )
    loras: list[str] = field(default_factory=lambda: ["add_detail.safetensors"])
    vaes: list[str] = field(default_factory=lambda: ["sdxl_vae.safetensors"])
    preview_every: int = 1
    drop_socket_at_step: int | None = None
    """Close the client's websocket at this sampler step (the job goes on)."""
    combo_format: bool = False
    """Describe ``ckpt_name`` the newer way: ``["COMBO", {"options": [...]}]``."""
    hold_prompts: threading.Event | None = None
    """When given, ``POST /prompt`` waits for this event before it validates
    and queues (``prompt_received`` is set first): a request in flight."""

    def __post_init__(self) -> None:
        self.requests: list[Recorded] = []
        self.prompts: list[dict[str, Any]] = []
        """The bodies of every POST /prompt, as received."""
        self.interrupt_received = threading.Event()
        self.prompt_received = threading.Event()
        self.job_started = threading.Event()
        self.job_finished = threading.Event()
        """Set when a job's history entry is written."""
        self.interrupts: list[Any] = []
        self.deleted: list[str] = []
        self.steps_run = 0
        self.history: dict[str, dict[str, Any]] = {}
        self.files: dict[tuple[str, str, str], bytes] = {}
        """(filename, subfolder, type) → bytes: outputs, temp previews and uploads."""
        self.samplers = list(SAMPLERS)
        self.schedulers = list(SCHEDULERS)
        self.upscale_methods = list(UPSCALE_METHODS)
        self.sockets: dict[str, WebSocket] = {}
        self._queue: asyncio.Queue[Job] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._running: Job | None = None
        self._interrupt = False
        self._number = 0
        self._counter = 0
        self._server: ThreadedApp | None = None
        self.app = Starlette(
            routes=[
                Route("/system_stats", self.system_stats, methods=["GET"]),
                Route("/object_info/{node_class}", self.object_info, methods=["GET"]),
                Route("/prompt", self.post_prompt, methods=["POST"]),
                Route("/upload/image", self.upload_image, methods=["POST"]),
                Route("/history/{prompt_id}", self.get_history, methods=["GET"]),
                Route("/view", self.view, methods=["GET"]),
                Route("/interrupt", self.interrupt, methods=["POST"]),
                Route("/queue", self.post_queue, methods=["POST"]),
                Route("/queue", self.get_queue, methods=["GET"]),
                WebSocketRoute("/ws", self.ws),
            ]
        )
        self.app.add_middleware(_Gate, fake=self)

    # -- messaging -------------------------------------------------------------

    async def send(self, kind: str, data: dict[str, Any], sid: str | None) -> None:
        targets = (
            [self.sockets[sid]]
            if sid in self.sockets
            else (list(self.sockets.values()) if sid is None else [])
        )
        for ws in targets:
            with contextlib.suppress(Exception):
                await ws.send_text(json.dumps({"type": kind, "data": data}))

    async def send_preview(self, image: bytes, sid: str | None) -> None:
        ws = self.sockets.get(sid or "")
        if ws is None:
            return
        with contextlib.suppress(Exception):
            await ws.send_bytes(struct.pack(">II", 1, 2) + image)

    def _queue_remaining(self) -> int:
        pending = self._queue.qsize() if self._queue is not None else 0
        return pending + (1 if self._running else 0)

    # -- routes ----------------------------------------------------------------

    async def system_stats(self, request: Request) -> Response:
        return JSONResponse(
            {
                "system": {
                    "os": "posix",
                    "ram_total": 32 * 2**30,
                    "ram_free": 16 * 2**30,
                    "comfyui_version": "0.3.10",
                    "python_version": "3.11.9",
                    "pytorch_version": "2.5.1+cu124",
                    "embedded_python": False,
                    "argv": ["main.py", "--listen"],
                },
                "devices": [
                    {
                        "name": "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync",
                        "type": "cuda",
                        "index": 0,
                        "vram_total": 24 * 2**30,
                        "vram_free": 20 * 2**30,
                        "torch_vram_total": 0,
                        "torch_vram_free": 0,
                    }
                ],
            }
        )

    @property
    def input_files(self) -> list[str]:
        return sorted(
            f"{sub}/{name}" if sub else name for (name, sub, kind) in self.files if kind == "input"
        )

    def _combo(self, choices: list[str], tooltip: str) -> list[Any]:
        if self.combo_format:
            return ["COMBO", {"options": list(choices), "tooltip": tooltip}]
        return [list(choices), {"tooltip": tooltip}]

    async def object_info(self, request: Request) -> Response:
        node_class = request.path_params["node_class"]
        combos = COMBOS.get(node_class)
        if combos is None:
            return JSONResponse({})
        required = {
            name: self._combo(getattr(self, attr), f"The {name} to use.")
            for name, attr in combos.items()
        }
        return JSONResponse(
            {
                node_class: {
                    "input": {"required": required},
                    "input_order": {"required": list(required)},
                    "output": ["MODEL", "CLIP", "VAE"],
                    "output_is_list": [False, False, False],
                    "output_name": ["MODEL", "CLIP", "VAE"],
                    "name": node_class,
                    "display_name": node_class,
                    "description": "",
                    "python_module": "nodes",
                    "category": "loaders",
                    "output_node": False,
                }
            }
        )

    async def upload_image(self, request: Request) -> Response:
        """``server.py: upload_image`` → ``image_upload``."""
        form = await request.form()
        image = form.get("image")
        if image is None or isinstance(image, str):
            return Response(status_code=400)
        kind = str(form.get("type") or "input")
        subfolder = str(form.get("subfolder") or "")
        overwrite = str(form.get("overwrite") or "").lower() in ("true", "1")
        name = str(image.filename or "image.png")
        data = await image.read()
        if not overwrite:
            stem, dot, ext = name.rpartition(".")
            base, counter = (stem, 1) if dot else (name, 1)
            while (name, subfolder, kind) in self.files:
                name = f"{base} ({counter}).{ext}" if dot else f"{base} ({counter})"
                counter += 1
        self.files[(name, subfolder, kind)] = data
        return JSONResponse({"name": name, "subfolder": subfolder, "type": kind})

    def _validate(self, prompt: Any) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """(error, node_errors) as ``execution.validate_prompt`` reports them."""
        if not isinstance(prompt, dict):
            return {
                "type": "invalid_prompt",
                "message": "Invalid prompt",
                "details": "",
                "extra_info": {},
            }, {}
        for node_id, node in prompt.items():
            class_type = node.get("class_type") if isinstance(node, dict) else None
            if class_type is None:
                return (
                    {
                        "type": "invalid_prompt",
                        "message": "Cannot execute because a node is missing the class_type property.",
                        "details": f"Node ID '#{node_id}'",
                        "extra_info": {},
                    },
                    {},
                )
            if class_type not in KNOWN_CLASSES:
                return (
                    {
                        "type": "invalid_prompt",
                        "message": f"Cannot execute because node {class_type} does not exist.",
                        "details": f"Node ID '#{node_id}'",
                        "extra_info": {},
                    },
                    {},
                )
        outputs = [nid for nid, n in prompt.items() if n["class_type"] in OUTPUT_CLASSES]
        if not outputs:
            return (
                {
                    "type": "prompt_no_outputs",
                    "message": "Prompt has no outputs",
                    "details": "",
                    "extra_info": {},
                },
                {},
            )
        node_errors: dict[str, Any] = {}
        for node_id, node in prompt.items():
            for input_name, attr in COMBOS.get(node["class_type"], {}).items():
                choices = getattr(self, attr)
                value = node.get("inputs", {}).get(input_name)
                if isinstance(value, list):
                    continue  # a link to another node's output
                if node["class_type"] == "LoadImage":
                    if value in choices:
                        continue
                    # LoadImage.VALIDATE_INPUTS: folder_paths.exists_annotated_filepath
                    error = {
                        "type": "custom_validation_failed",
                        "message": "Custom validation failed for node",
                        "details": f"image - Invalid image file: {value}",
                        "extra_info": {},
                    }
                elif value not in choices:
                    error = {
                        "type": "value_not_in_list",
                        "message": "Value not in list",
                        "details": f"{input_name}: '{value}' not in {choices}",
                        "extra_info": {
                            "input_name": input_name,
                            "input_config": None,
                            "received_value": value,
                        },
                    }
                else:
                    continue
                entry = node_errors.setdefault(
                    node_id,
                    {"errors": [], "dependent_outputs": outputs, "class_type": node["class_type"]},
                )
                entry["errors"].append(error)
        if node_errors:
            return (
                {
                    "type": "prompt_outputs_failed_validation",
                    "message": "Prompt outputs failed validation",
                    "details": "",
                    "extra_info": {},
                },
                node_errors,
            )
        return None, {}

    async def post_prompt(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.prompts.append(body)
        self.prompt_received.set()
        if self.hold_prompts is not None:
            await asyncio.to_thread(self.hold_prompts.wait, 30)
        if "prompt" not in body:
            return JSONResponse({"error": "no prompt", "node_errors": []}, status_code=400)
        error, node_errors = self._validate(body["prompt"])
        if error is not None:
            return JSONResponse({"error": error, "node_errors": node_errors}, status_code=400)
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.ensure_future(self._work())
        # server.py: ``prompt_id = str(json_data.get("prompt_id", uuid.uuid4()))``
        prompt_id = str(body.get("prompt_id", uuid.uuid4()))
        job = Job(prompt_id, self._number, body["prompt"], body.get("client_id"))
        self._number += 1
        await self._queue.put(job)
        await self.send(
            "status", {"status": {"exec_info": {"queue_remaining": self._queue_remaining()}}}, None
        )
        return JSONResponse({"prompt_id": job.prompt_id, "number": job.number, "node_errors": {}})

    async def get_history(self, request: Request) -> Response:
        prompt_id = request.path_params["prompt_id"]
        entry = self.history.get(prompt_id)
        return JSONResponse({prompt_id: entry} if entry else {})

    async def view(self, request: Request) -> Response:
        q = request.query_params
        key = (q.get("filename", ""), q.get("subfolder", ""), q.get("type", "output"))
        if key[0].startswith("/") or ".." in key[0]:
            return Response(status_code=400)
        data = self.files.get(key)
        if data is None:
            return Response(status_code=404)
        return Response(
            data, media_type="image/png", headers={"Content-Disposition": f'filename="{key[0]}"'}
        )

    async def interrupt(self, request: Request) -> Response:
        raw = await request.body()
        body = json.loads(raw) if raw else {}
        self.interrupts.append(body)
        wanted = body.get("prompt_id") if isinstance(body, dict) else None
        if self._running is not None and wanted in (None, self._running.prompt_id):
            self._interrupt = True
        self.interrupt_received.set()
        return Response(status_code=200)

    async def post_queue(self, request: Request) -> Response:
        body = json.loads(await request.body())
        for prompt_id in body.get("delete", []):
            self.deleted.append(prompt_id)
        return Response(status_code=200)

    async def get_queue(self, request: Request) -> Response:
        def row(job: Job) -> list[Any]:
            return [job.number, job.prompt_id, job.prompt, {"client_id": job.client_id}, []]

        waiting = list(self._queue._queue) if self._queue is not None else []  # type: ignore[attr-defined]
        return JSONResponse(
            {
                "queue_running": [row(self._running)] if self._running else [],
                "queue_pending": [row(j) for j in waiting if j.prompt_id not in self.deleted],
            }
        )

    async def ws(self, websocket: WebSocket) -> None:
        await websocket.accept()
        sid = websocket.query_params.get("clientId") or uuid.uuid4().hex
        self.sockets[sid] = websocket
        try:
            await websocket.send_text(
                json.dumps(
                    {
                        "type": "status",
                        "data": {
                            "status": {"exec_info": {"queue_remaining": self._queue_remaining()}},
                            "sid": sid,
                        },
                    }
                )
            )
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            if self.sockets.get(sid) is websocket:
                del self.sockets[sid]

    # -- the executor ----------------------------------------------------------

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            job = await self._queue.get()
            if job.prompt_id in self.deleted:
                continue
            self._running = job
            self._interrupt = False
            try:
                await self._execute(job)
            finally:
                self._running = None

    def _picture(self, prompt: dict[str, Any]) -> dict[str, Any]:
        """Size, batch and colour of what the workflow makes: the empty
        latent's size, or the loaded image's (scaled by ``ImageScale``), times
        ``LatentUpscaleBy``; an image-to-image pass with denoise < 0.5 keeps
        the init picture's colour (so a test can see it was used)."""
        nodes = list(prompt.values())

        def first(class_type: str) -> dict[str, Any] | None:
            found = [n["inputs"] for n in nodes if n["class_type"] == class_type]
            return found[0] if found else None

        width, height, batch, colour = 512, 512, 1, None
        empty, loaded = first("EmptyLatentImage"), first("LoadImage")
        if empty is not None:
            width, height = int(empty.get("width", 512)), int(empty.get("height", 512))
            batch = int(empty.get("batch_size", 1))
        elif loaded is not None:
            name = str(loaded.get("image"))
            sub, _, base = name.rpartition("/")
            data = self.files[(base, sub, "input")]
            width, height = png_size(data)
            scale = first("ImageScale")
            if scale is not None:
                width, height = int(scale["width"]), int(scale["height"])
            repeat = first("RepeatLatentBatch")
            batch = int(repeat["amount"]) if repeat is not None else 1
            sampler = first("KSampler") or {}
            if float(sampler.get("denoise", 1.0)) < 0.5:
                colour = png_colour(data)
        upscale = first("LatentUpscaleBy")
        if upscale is not None:
            factor = float(upscale.get("scale_by", 1.0))
            width, height = int(width * factor), int(height * factor)
        return {"width": width, "height": height, "batch_size": batch, "colour": colour}

    def _message(self, job: Job, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        if kind in (
            "execution_start",
            "execution_cached",
            "execution_success",
            "execution_error",
            "execution_interrupted",
        ):
            job.messages.append([kind, data])
        return data

    async def _execute(self, job: Job) -> None:
        sid = job.client_id
        stamp = int(time.time() * 1000)
        self.job_started.set()
        await self.send(
            "execution_start",
            self._message(job, "execution_start", {"prompt_id": job.prompt_id, "timestamp": stamp}),
            sid,
        )
        await self.send(
            "execution_cached",
            self._message(
                job,
                "execution_cached",
                {"nodes": [], "prompt_id": job.prompt_id, "timestamp": stamp},
            ),
            sid,
        )
        order = _order(job.prompt)
        outputs: dict[str, Any] = {}
        executed: list[str] = []
        latent = self._picture(job.prompt)
        sampler = next(
            (job.prompt[n]["inputs"] for n in order if job.prompt[n]["class_type"] == "KSampler"),
            {},
        )
        status = "success"
        for node_id in order:
            node = job.prompt[node_id]
            class_type = node["class_type"]
            await self.send(
                "executing",
                {"node": node_id, "display_node": node_id, "prompt_id": job.prompt_id},
                sid,
            )
            if node_id == self.fail_node:
                status = "error"
                data = {
                    "prompt_id": job.prompt_id,
                    "node_id": node_id,
                    "node_type": class_type,
                    "executed": executed,
                    "exception_message": self.exception_message,
                    "exception_type": "torch.OutOfMemoryError",
                    "traceback": ['  File "execution.py", line 327, in execute\n'],
                    "current_inputs": {},
                    "current_outputs": {},
                    "timestamp": stamp,
                }
                await self.send("execution_error", self._message(job, "execution_error", data), sid)
                break
            if class_type == "KSampler":
                steps = int(node["inputs"].get("steps", 20))
                for step in range(1, steps + 1):
                    await asyncio.sleep(self.step_delay)
                    if self._interrupt:
                        break
                    self.steps_run += 1
                    await self.send(
                        "progress",
                        {"value": step, "max": steps, "prompt_id": job.prompt_id, "node": node_id},
                        sid,
                    )
                    if self.preview_every and step % self.preview_every == 0:
                        await self.send_preview(png(8, 8, colour_for(step)), sid)
                    if step == self.drop_socket_at_step and sid in self.sockets:
                        dropped = self.sockets.pop(sid)
                        with contextlib.suppress(Exception):
                            await dropped.close()
                if self._interrupt:
                    status = "error"
                    data = {
                        "prompt_id": job.prompt_id,
                        "node_id": node_id,
                        "node_type": class_type,
                        "executed": executed,
                        "timestamp": stamp,
                    }
                    await self.send(
                        "execution_interrupted",
                        self._message(job, "execution_interrupted", data),
                        sid,
                    )
                    break
            if class_type in OUTPUT_CLASSES:
                images = []
                seed = int(sampler.get("seed", 0))
                for index in range(int(latent["batch_size"])):
                    self._counter += 1
                    if class_type == "SaveImage":
                        name = f"{node['inputs'].get('filename_prefix', 'ComfyUI')}_{self._counter:05}_.png"
                        kind = "output"
                    else:
                        name = f"ComfyUI_temp_abcde_{self._counter:05}_.png"
                        kind = "temp"
                    data_png = png(
                        int(latent["width"]),
                        int(latent["height"]),
                        latent["colour"] or colour_for(seed + index),
                    )
                    self.files[(name, "", kind)] = data_png
                    images.append({"filename": name, "subfolder": "", "type": kind})
                outputs[node_id] = {"images": images}
                await self.send(
                    "executed",
                    {
                        "node": node_id,
                        "display_node": node_id,
                        "output": {"images": images},
                        "prompt_id": job.prompt_id,
                    },
                    sid,
                )
            executed.append(node_id)
        if status == "success":
            await self.send(
                "execution_success",
                self._message(
                    job, "execution_success", {"prompt_id": job.prompt_id, "timestamp": stamp}
                ),
                sid,
            )
        self.history[job.prompt_id] = {
            "prompt": [job.number, job.prompt_id, job.prompt, {"client_id": sid}, list(outputs)],
            "outputs": outputs,
            "status": {
                "status_str": status,
                "completed": status == "success",
                "messages": job.messages,
            },
            "meta": {
                nid: {"node_id": nid, "display_node": nid, "parent_node": None, "real_node_id": nid}
                for nid in outputs
            },
        }
        self.job_finished.set()
        await self.send("executing", {"node": None, "prompt_id": job.prompt_id}, sid)
        await self.send(
            "status",
            {"status": {"exec_info": {"queue_remaining": self._queue_remaining() - 1}}},
            None,
        )


def _order(prompt: dict[str, Any]) -> list[str]:
    """Nodes in an order where every node runs after the nodes it links to
    (what ``execution.py`` ensures by executing each output's inputs first)."""
    done: list[str] = []

    def visit(node_id: str, path: tuple[str, ...]) -> None:
        if node_id in done or node_id in path:
            return
        for value in prompt[node_id].get("inputs", {}).values():
            if isinstance(value, list) and len(value) == 2 and str(value[0]) in prompt:
                visit(str(value[0]), (*path, node_id))
        done.append(node_id)

    for node_id in sorted(prompt, key=lambda n: (not n.isdigit(), int(n) if n.isdigit() else 0)):
        visit(node_id, ())
    return done


class _Gate:
    """Records requests and checks the bearer token (what a reverse proxy in
    front of ComfyUI would do) on HTTP and on the websocket handshake."""

    def __init__(self, app: Any, fake: FakeComfyUI) -> None:
        self.app = app
        self.fake = fake

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        if self.fake.token is not None:
            expected: str | None = f"Bearer {self.fake.token}"
        elif self.fake.basic is not None:
            expected = "Basic " + base64.b64encode(self.fake.basic.encode()).decode()
        else:
            expected = None
        authorized = expected is None or headers.get("authorization") == expected
        if scope["type"] == "websocket":
            self.fake.requests.append(Recorded("WS", scope["path"], headers, None))
            if not authorized:
                await receive()  # websocket.connect
                await send(
                    {
                        "type": "websocket.http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send(
                    {"type": "websocket.http.response.body", "body": b'{"error": "unauthorized"}'}
                )
                return
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        self.fake.requests.append(Recorded(request.method, request.url.path, headers, body))
        if not authorized:
            await JSONResponse({"error": "unauthorized"}, status_code=401)(scope, receive, send)
            return

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": raw, "more_body": False}

        await self.app(scope, replay, send)
