"""A fake AUTOMATIC1111 web UI API on 127.0.0.1, faithful to ``/sdapi/v1``.

What it implements, as the real ``modules/api/api.py`` does:

| route                          | behaviour                                                     |
|--------------------------------|---------------------------------------------------------------|
| ``GET /sdapi/v1/options``      | the settings object (``sd_model_checkpoint``, ...)            |
| ``GET /sdapi/v1/sd-models``    | ``[{title, model_name, hash, sha256, filename, config}]``     |
| ``GET /sdapi/v1/samplers``     | ``[{name, aliases, options}]``                                |
| ``GET /sdapi/v1/schedulers``   | ``[{name, label, aliases, default_rho, need_inner_model}]``   |
| ``GET /sdapi/v1/loras``        | the built-in Lora extension: ``[{name, alias, path,           |
|                                | metadata}]``                                                  |
| ``GET /sdapi/v1/sd-vae``       | ``[{model_name, filename}]``                                  |
| ``GET /sdapi/v1/upscalers``,   | ``[{name, model_name, model_path, model_url, scale}]``,       |
| ``/latent-upscale-modes``      | ``[{name}]``                                                  |
| ``POST /sdapi/v1/txt2img``,    | ``force_task_id`` names the task (else ``task(txt2img-N)``);  |
| ``/img2img``                   | ``add_task_to_queue`` then one job at a time under the        |
|                                | ``queue_lock``: ``state.begin()`` (clears ``interrupted``),   |
|                                | ``start_task``, ``n_iter`` × ``steps`` (+ the hires pass)     |
|                                | steps of ``step_delay`` s, ``finish_task``; ``seed: -1`` =    |
|                                | random; answers ``{images: [b64 PNG], parameters, info}``     |
|                                | where ``info`` is a JSON *string*; unknown sampler → 404      |
|                                | ``{"error": "HTTPException", "detail": "Sampler not found",   |
|                                | "body": "", "errors": "404: Sampler not found"}``; an         |
|                                | unknown ``override_settings.sd_model_checkpoint`` is dropped  |
|                                | and the loaded model used (``process_images``); img2img       |
|                                | without ``init_images`` → 404 ``Init image not found``, bad   |
|                                | base64 → 500 ``Invalid encoded image``                        |
| errors (with ``--api``)        | ``api_middleware``'s ``{error: type, detail, body, errors:    |
|                                | str(exc)}`` (``fail_with`` makes a job raise ``RuntimeError``)|
| ``POST /internal/progress``    | ``{id_task, id_live_preview}`` → ``{active, queued,           |
|                                | completed, progress, eta, live_preview, id_live_preview,      |
|                                | textinfo}`` (``In queue: 1/2``); absent with ``nowebui``      |
| ``GET /sdapi/v1/progress``     | the global ``{progress, eta_relative, state{job_count,        |
|                                | sampling_step, sampling_steps, interrupted, ...},             |
|                                | current_image, textinfo}``: whatever job runs, anyone's       |
| ``POST /sdapi/v1/interrupt``   | ``state.interrupt()``: stops the running job after its        |
|                                | current step (the job still answers 200 with what it has);    |
|                                | a queued job is untouched (its ``begin()`` clears the flag)   |
| ``--api-auth``                 | HTTP Basic on every route: 401 ``{"detail": "Incorrect        |
|                                | username or password"}`` with ``WWW-Authenticate: Basic``     |
| no ``--api``                   | every ``/sdapi`` route answers 404 ``{"detail": "Not Found"}``|

Each job is recorded in :attr:`FakeA1111.tasks` (its id, endpoint, body,
steps run, whether it was interrupted), so a test can tell Pluma's job from a
second client's.

It also holds :class:`ThreadedApp`, which runs any ASGI app under uvicorn in
its own thread (the ComfyUI fake uses it too), and :func:`png`, a tiny PNG
encoder so no imaging library is needed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import socket
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# -- helpers shared by the fakes ----------------------------------------------


def png(width: int, height: int, rgb: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    """A solid-colour RGB PNG (zlib + struct; valid per the PNG spec)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    row = b"\x00" + bytes(rgb) * width
    raw = row * height
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 1))
        + chunk(b"IEND", b"")
    )


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n"), "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def colour_for(seed: int) -> tuple[int, int, int]:
    return ((seed * 97) % 256, (seed * 57) % 256, (seed * 13) % 256)


class ThreadedApp:
    """Run an ASGI app with uvicorn on 127.0.0.1 (a free port) in a thread.

    Use as a context manager; :attr:`url` is ``http://127.0.0.1:PORT``.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadedApp:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", ws="websockets-sansio"
        )
        server = uvicorn.Server(config)
        self._server = server
        ready = threading.Event()

        async def serve() -> None:
            self.loop = asyncio.get_running_loop()
            ready.set()
            await server.serve(sockets=[sock])

        self._thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
        self._thread.start()
        ready.wait(10)
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:  # startup flag, no event
            time.sleep(0.01)
        if not server.started:
            raise RuntimeError("the fake server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(10)


class FakeServer:
    """What both fakes share: ``app`` served by :class:`ThreadedApp` while the
    ``with`` block runs, its :attr:`url`, and the :attr:`requests` it recorded."""

    app: Any
    requests: list[Recorded]
    _server: ThreadedApp | None

    def __enter__(self) -> Self:
        self._server = ThreadedApp(self.app).__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.__exit__(*exc)

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url

    def paths(self, method: str | None = None) -> list[str]:
        """The paths requested, in order (only ``method``'s when given)."""
        return [r.path for r in self.requests if method is None or r.method == method]


# -- the fake A1111 ------------------------------------------------------------

MODELS = [
    {
        "title": "v1-5-pruned-emaonly.safetensors [6ce0161689]",
        "model_name": "v1-5-pruned-emaonly",
        "hash": "6ce0161689",
        "sha256": "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa",
        "filename": "/sd/models/Stable-diffusion/v1-5-pruned-emaonly.safetensors",
        "config": None,
    },
    {
        "title": "dreamshaper_8.safetensors [879db523c3]",
        "model_name": "dreamshaper_8",
        "hash": "879db523c3",
        "sha256": "879db523c30d3b9017143d56705015e15a2cb5628762c11d086fed9538abd7fd",
        "filename": "/sd/models/Stable-diffusion/dreamshaper_8.safetensors",
        "config": None,
    },
]
SAMPLERS = ["DPM++ 2M", "Euler a", "Euler", "DDIM"]
SCHEDULERS = [("automatic", "Automatic"), ("karras", "Karras"), ("exponential", "Exponential")]
LORAS = ["add_detail", "pixel-art-xl"]
VAES = ["vae-ft-mse-840000-ema-pruned.safetensors"]
UPSCALERS = ["None", "Lanczos", "R-ESRGAN 4x+"]
LATENT_MODES = ["Latent", "Latent (antialiased)", "Latent (nearest)"]


def png_colour(data: bytes) -> tuple[int, int, int]:
    """The first pixel of a PNG made by :func:`png` (8-bit RGB, filter 0)."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n"), "not a PNG"
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    return raw[1], raw[2], raw[3]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Task:
    """One txt2img/img2img call as the fake ran it."""

    id: str
    path: str
    body: dict[str, Any]
    steps_run: int = 0
    interrupted: bool = False
    started: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)


@dataclass
class FakeA1111(FakeServer):
    """Knobs: ``api`` (False = started without ``--api``), ``auth``
    (``"user:pass"`` = ``--api-auth``), ``step_delay`` seconds per step,
    ``hold_interrupts`` (answer ``/sdapi/v1/interrupt`` late), ``nowebui``
    (started with ``--nowebui``: no ``/internal/progress``), ``fail_with``
    (every job raises ``RuntimeError(fail_with)``)."""

    api: bool = True
    auth: str | None = None
    step_delay: float = 0.01
    requests: list[Recorded] = field(default_factory=list)
    checkpoint: str = str(MODELS[0]["title"])
    hold_interrupts: threading.Event | None = None
    """When given, ``POST /sdapi/v1/interrupt`` stops the job at once but
    answers only once this event is set: a backend slow to confirm."""
    nowebui: bool = False
    fail_with: str | None = None

    def __post_init__(self) -> None:
        self.interrupt_received = threading.Event()
        self.job_started = threading.Event()
        self.job_finished = threading.Event()
        self.jobs_interrupted = 0
        self.steps_run = 0
        self.tasks: dict[str, Task] = {}
        self.interrupts: list[str | None] = []
        """The task running when each interrupt arrived (None: none ran)."""
        self._state: dict[str, Any] = self._idle()
        self._time_start = time.time()
        self._current_image: str | None = None
        self._id_live_preview = 0
        self._interrupted = False
        self._lock: asyncio.Lock | None = None
        self._counter = 0
        # modules/progress.py
        self.current_task: str | None = None
        self.pending_tasks: dict[str, float] = {}
        self.finished_tasks: list[str] = []
        self._server: ThreadedApp | None = None
        routes = [
            Route("/sdapi/v1/options", self.options, methods=["GET"]),
            Route("/sdapi/v1/sd-models", self.sd_models, methods=["GET"]),
            Route("/sdapi/v1/samplers", self.samplers, methods=["GET"]),
            Route("/sdapi/v1/schedulers", self.schedulers, methods=["GET"]),
            Route("/sdapi/v1/loras", self.loras, methods=["GET"]),
            Route("/sdapi/v1/sd-vae", self.sd_vae, methods=["GET"]),
            Route("/sdapi/v1/upscalers", self.upscalers, methods=["GET"]),
            Route("/sdapi/v1/latent-upscale-modes", self.latent_modes, methods=["GET"]),
            Route("/sdapi/v1/txt2img", self.txt2img, methods=["POST"]),
            Route("/sdapi/v1/img2img", self.img2img, methods=["POST"]),
            Route("/sdapi/v1/progress", self.progress, methods=["GET"]),
            Route("/sdapi/v1/interrupt", self.interrupt, methods=["POST"]),
            Route("/", self.root, methods=["GET"]),
        ]
        if not self.nowebui:
            routes.append(Route("/internal/progress", self.task_progress, methods=["POST"]))
        self.app = Starlette(routes=routes)
        self.app.add_middleware(_Gate, fake=self)

    # -- routes ----------------------------------------------------------------

    @staticmethod
    def _idle() -> dict[str, Any]:
        return {
            "skipped": False,
            "interrupted": False,
            "job": "",
            "job_count": 0,
            "job_timestamp": "0",
            "job_no": 0,
            "sampling_step": 0,
            "sampling_steps": 0,
        }

    async def root(self, request: Request) -> Response:
        return Response("<html>Stable Diffusion</html>", media_type="text/html")

    async def options(self, request: Request) -> Response:
        return JSONResponse(
            {
                "sd_model_checkpoint": self.checkpoint,
                "samples_format": "png",
                "CLIP_stop_at_last_layers": 1,
            }
        )

    async def sd_models(self, request: Request) -> Response:
        return JSONResponse(MODELS)

    async def samplers(self, request: Request) -> Response:
        return JSONResponse([{"name": s, "aliases": [], "options": {}} for s in SAMPLERS])

    async def schedulers(self, request: Request) -> Response:
        return JSONResponse(
            [
                {
                    "name": name,
                    "label": label,
                    "aliases": None,
                    "default_rho": -1,
                    "need_inner_model": False,
                }
                for name, label in SCHEDULERS
            ]
        )

    async def loras(self, request: Request) -> Response:
        return JSONResponse(
            [
                {"name": n, "alias": n, "path": f"/sd/models/Lora/{n}.safetensors", "metadata": {}}
                for n in LORAS
            ]
        )

    async def sd_vae(self, request: Request) -> Response:
        return JSONResponse([{"model_name": v, "filename": f"/sd/models/VAE/{v}"} for v in VAES])

    async def upscalers(self, request: Request) -> Response:
        return JSONResponse(
            [
                {"name": u, "model_name": None, "model_path": None, "model_url": None, "scale": 4}
                for u in UPSCALERS
            ]
        )

    async def latent_modes(self, request: Request) -> Response:
        return JSONResponse([{"name": m} for m in LATENT_MODES])

    def _fraction(self) -> float:
        state = self._state
        job_count, job_no = state["job_count"], state["job_no"]
        steps, step = state["sampling_steps"], state["sampling_step"]
        progress = 0.0
        if job_count > 0:
            progress += job_no / job_count
        if steps > 0 and job_count > 0:
            progress += 1 / job_count * step / steps
        return min(progress, 1.0)

    async def progress(self, request: Request) -> Response:
        """``Api.progressapi``: the global state, whoever's job it is."""
        state = dict(self._state)
        skip = request.query_params.get("skip_current_image", "false") == "true"
        if state["job_count"] == 0:
            return JSONResponse(
                {
                    "progress": 0,
                    "eta_relative": 0,
                    "state": state,
                    "current_image": None,
                    "textinfo": None,
                }
            )
        return JSONResponse(
            {
                "progress": min(0.01 + self._fraction(), 1.0),
                "eta_relative": 1.0,
                "state": state,
                "current_image": None if skip else self._current_image,
                "textinfo": None,
            }
        )

    async def task_progress(self, request: Request) -> Response:
        """``modules/progress.py: progressapi``, for one task id."""
        body = json.loads(await request.body() or b"{}")
        id_task = body.get("id_task")
        active = id_task is not None and id_task == self.current_task
        queued = id_task in self.pending_tasks
        completed = id_task in self.finished_tasks
        if not active:
            textinfo = "Waiting..."
            if queued:
                order = sorted(self.pending_tasks, key=lambda t: self.pending_tasks[t])
                textinfo = f"In queue: {order.index(id_task) + 1}/{len(order)}"
            return JSONResponse(
                {
                    "active": False,
                    "queued": queued,
                    "completed": completed,
                    "progress": None,
                    "eta": None,
                    "live_preview": None,
                    "id_live_preview": -1,
                    "textinfo": textinfo,
                }
            )
        progress = self._fraction()
        elapsed = time.time() - self._time_start
        eta = elapsed / progress - elapsed if progress > 0 else None
        live_preview = None
        id_live_preview = body.get("id_live_preview", -1)
        if (
            body.get("live_preview", True)
            and self._current_image
            and self._id_live_preview != id_live_preview
        ):
            live_preview = f"data:image/png;base64,{self._current_image}"
            id_live_preview = self._id_live_preview
        return JSONResponse(
            {
                "active": True,
                "queued": queued,
                "completed": completed,
                "progress": progress,
                "eta": eta,
                "live_preview": live_preview,
                "id_live_preview": id_live_preview,
                "textinfo": None,
            }
        )

    async def interrupt(self, request: Request) -> Response:
        # shared.state.interrupt(): a flag the running job reads between steps.
        self._interrupted = True
        self._state["interrupted"] = True
        self.interrupts.append(self.current_task)
        self.interrupt_received.set()
        if self.hold_interrupts is not None:
            await asyncio.to_thread(self.hold_interrupts.wait, 30)
        return JSONResponse({})

    async def txt2img(self, request: Request) -> Response:
        return await self._process(request, "txt2img")

    async def img2img(self, request: Request) -> Response:
        return await self._process(request, "img2img")

    @staticmethod
    def _error(kind: str, detail: str, errors: str, status: int) -> Response:
        return JSONResponse(
            {"error": kind, "detail": detail, "body": "", "errors": errors}, status_code=status
        )

    async def _process(self, request: Request, mode: str) -> Response:
        body = json.loads(await request.body())
        self._counter += 1
        task_id = body.get("force_task_id") or f"task({mode}-{self._counter})"
        sampler = body.get("sampler_name") or body.get("sampler_index") or "Euler"
        if sampler not in SAMPLERS:
            # raise HTTPException(404, "Sampler not found"), as api_middleware answers it
            return self._error("HTTPException", "Sampler not found", "404: Sampler not found", 404)
        init: bytes | None = None
        mask: bytes | None = None
        if mode == "img2img":
            if body.get("init_images") is None:
                return self._error(
                    "HTTPException", "Init image not found", "404: Init image not found", 404
                )
            try:
                init = base64.b64decode(str(body["init_images"][0]).split(",")[-1], validate=True)
                if body.get("mask"):
                    mask = base64.b64decode(str(body["mask"]).split(",")[-1], validate=True)
                png_size(init)
                if mask is not None:
                    png_size(mask)
            except (ValueError, AssertionError, IndexError):
                return self._error(
                    "HTTPException", "Invalid encoded image", "500: Invalid encoded image", 500
                )
        task = Task(task_id, f"/sdapi/v1/{mode}", body)
        self.tasks[task_id] = task
        self.pending_tasks[task_id] = time.time()  # add_task_to_queue
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # queue_lock
            return await self._run(task, body, mode, sampler, init, mask)

    async def _run(
        self,
        task: Task,
        body: dict[str, Any],
        mode: str,
        sampler: str,
        init: bytes | None,
        mask: bytes | None,
    ) -> Response:
        steps = int(body.get("steps", 20))
        n_iter = int(body.get("n_iter", 1))
        batch = int(body.get("batch_size", 1))
        hires = mode == "txt2img" and bool(body.get("enable_hr"))
        hr_steps = int(body.get("hr_second_pass_steps") or steps) if hires else 0
        # state.begin(): clears an interrupt sent while this job was queued
        self._interrupted = False
        self._time_start = time.time()
        self._id_live_preview = 0
        self._current_image = None
        self._state = self._idle() | {
            "job": f"scripts_{mode}",
            "job_count": n_iter,
            "job_timestamp": time.strftime("%Y%m%d%H%M%S"),
            "sampling_steps": steps + hr_steps,
        }
        self.current_task = task.id  # start_task
        self.pending_tasks.pop(task.id, None)
        task.started.set()
        self.job_started.set()
        try:
            if self.fail_with is not None:
                return self._error("RuntimeError", "", self.fail_with, 500)
            # process_images: an unknown checkpoint override is dropped silently.
            checkpoint = self.checkpoint
            wanted = (body.get("override_settings") or {}).get("sd_model_checkpoint")
            match = [m for m in MODELS if wanted and wanted in _aliases(m)]
            if match:
                checkpoint = str(match[0]["title"])
            iterations = 0
            for job_no in range(n_iter):
                if self._interrupted:
                    break
                iterations += 1
                self._state["job_no"] = job_no
                self._state["sampling_step"] = 0
                for step in range(1, steps + hr_steps + 1):
                    await asyncio.sleep(self.step_delay)
                    if self._interrupted:
                        break
                    self._state["sampling_step"] = step
                    self.steps_run += 1
                    task.steps_run += 1
                    self._current_image = base64.b64encode(png(8, 8, colour_for(step))).decode()
                    self._id_live_preview += 1
            if self._interrupted:
                task.interrupted = True
                self.jobs_interrupted += 1
            self.finished_tasks.append(task.id)  # finish_task
            del self.finished_tasks[:-16]
        finally:
            if self.current_task == task.id:
                self.current_task = None
            self._state = self._idle()  # state.end()
            self._current_image = None
            task.finished.set()
            self.job_finished.set()
        seed = int(body.get("seed", -1))
        if seed == -1:
            seed = random.randint(0, 2**32 - 1)
        width, height = int(body.get("width", 512)), int(body.get("height", 512))
        if hires:
            scale = float(body.get("hr_scale", 2.0))
            width, height = int(width * scale), int(height * scale)
        seeds = [seed + i for i in range(batch * iterations)]
        denoise = float(body.get("denoising_strength", 0.75))

        def colour(s: int) -> tuple[int, int, int]:
            # img2img keeps the init picture's colour at low denoising strength.
            if init is not None and denoise < 0.5:
                return png_colour(init)
            return colour_for(s)

        images = [base64.b64encode(png(width, height, colour(s))).decode() for s in seeds]
        model = next(m for m in MODELS if m["title"] == checkpoint)
        info = {
            "prompt": body.get("prompt", ""),
            "all_prompts": [body.get("prompt", "")] * len(seeds),
            "negative_prompt": body.get("negative_prompt", ""),
            "all_negative_prompts": [body.get("negative_prompt", "")] * len(seeds),
            "seed": seed,
            "all_seeds": seeds,
            "subseed": 1234,
            "all_subseeds": [1234 + i for i in range(len(seeds))],
            "subseed_strength": 0,
            "width": width,
            "height": height,
            "sampler_name": sampler,
            "cfg_scale": body.get("cfg_scale", 7.0),
            "steps": steps,
            "batch_size": batch,
            "restore_faces": False,
            "sd_model_name": model["model_name"],
            "sd_model_hash": model["hash"],
            "denoising_strength": body.get("denoising_strength"),
            "job_timestamp": time.strftime("%Y%m%d%H%M%S"),
            "infotexts": [f"{body.get('prompt', '')}\nSteps: {steps}, Seed: {s}" for s in seeds],
        }
        parameters = dict(body)
        if mode == "img2img" and not body.get("include_init_images"):
            parameters["init_images"] = None
            parameters["mask"] = None
        return JSONResponse({"images": images, "parameters": parameters, "info": json.dumps(info)})


def _aliases(model: dict[str, Any]) -> set[str]:
    """``sd_models.checkpoint_aliases`` for one model."""
    filename = str(model["filename"])
    name = filename.rsplit("/", 1)[-1]
    return {
        str(model["title"]),
        str(model["model_name"]),
        name,
        str(model["hash"]),
        str(model["sha256"]),
        f"{name} [{model['hash']}]",
    }


class _Gate:
    """Records every request; answers as a UI without ``--api`` would, and
    checks ``--api-auth`` credentials, before the routes see anything."""

    def __init__(self, app: Any, fake: FakeA1111) -> None:
        self.app = app
        self.fake = fake

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.fake.requests.append(Recorded(request.method, request.url.path, headers, body))

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": raw, "more_body": False}

        response: Response | None = None
        if request.url.path.startswith("/sdapi") and not self.fake.api:
            response = JSONResponse({"detail": "Not Found"}, status_code=404)
        elif self.fake.auth is not None:
            expected = "Basic " + base64.b64encode(self.fake.auth.encode()).decode()
            if headers.get("authorization") != expected:
                response = JSONResponse(
                    {"detail": "Incorrect username or password"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Basic"},
                )
        if response is not None:
            await response(scope, receive, send)
            return
        await self.app(scope, replay, send)
