"""A fake AUTOMATIC1111 web UI API on 127.0.0.1, faithful to ``/sdapi/v1``.

What it implements, as the real ``modules/api/api.py`` does:

| route                          | behaviour                                                     |
|--------------------------------|---------------------------------------------------------------|
| ``GET /sdapi/v1/options``      | the settings object (``sd_model_checkpoint``, ...)            |
| ``GET /sdapi/v1/sd-models``    | ``[{title, model_name, hash, sha256, filename, config}]``     |
| ``GET /sdapi/v1/samplers``     | ``[{name, aliases, options}]``                                |
| ``POST /sdapi/v1/txt2img``     | runs ``steps`` steps (``step_delay`` s each), honours         |
|                                | ``override_settings.sd_model_checkpoint``, ``seed: -1`` =     |
|                                | random; answers ``{images: [b64 PNG], parameters, info}``     |
|                                | where ``info`` is a JSON *string*; unknown sampler → 404      |
|                                | ``{"error": "HTTPException", "detail": "Sampler not found",   |
|                                | "body": "", "errors": "404: Sampler not found"}``             |
| errors (with ``--api``)        | ``api_middleware``'s ``{error: type, detail, body, errors:    |
|                                | str(exc)}``, e.g. an unknown checkpoint → 500 ``RuntimeError``|
| ``GET /sdapi/v1/progress``     | ``{progress, eta_relative, state{job_count, sampling_step,    |
|                                | sampling_steps, interrupted, ...}, current_image, textinfo}`` |
| ``POST /sdapi/v1/interrupt``   | stops the running job after its current step (the job still  |
|                                | answers 200 with what it has, like the real one)              |
| ``--api-auth``                 | HTTP Basic on every route: 401 ``{"detail": "Incorrect        |
|                                | username or password"}`` with ``WWW-Authenticate: Basic``     |
| no ``--api``                   | every ``/sdapi`` route answers 404 ``{"detail": "Not Found"}``|

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


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeA1111(FakeServer):
    """Knobs: ``api`` (False = started without ``--api``), ``auth``
    (``"user:pass"`` = ``--api-auth``), ``step_delay`` seconds per step,
    ``hold_interrupts`` (answer ``/sdapi/v1/interrupt`` late)."""

    api: bool = True
    auth: str | None = None
    step_delay: float = 0.01
    requests: list[Recorded] = field(default_factory=list)
    checkpoint: str = str(MODELS[0]["title"])
    hold_interrupts: threading.Event | None = None
    """When given, ``POST /sdapi/v1/interrupt`` stops the job at once but
    answers only once this event is set: a backend slow to confirm."""

    def __post_init__(self) -> None:
        self.interrupt_received = threading.Event()
        self.job_started = threading.Event()
        self.job_finished = threading.Event()
        self.jobs_interrupted = 0
        self.steps_run = 0
        self._state: dict[str, Any] = self._idle()
        self._current_image: str | None = None
        self._interrupt = False
        self._server: ThreadedApp | None = None
        self.app = Starlette(
            routes=[
                Route("/sdapi/v1/options", self.options, methods=["GET"]),
                Route("/sdapi/v1/sd-models", self.sd_models, methods=["GET"]),
                Route("/sdapi/v1/samplers", self.samplers, methods=["GET"]),
                Route("/sdapi/v1/txt2img", self.txt2img, methods=["POST"]),
                Route("/sdapi/v1/progress", self.progress, methods=["GET"]),
                Route("/sdapi/v1/interrupt", self.interrupt, methods=["POST"]),
                Route("/", self.root, methods=["GET"]),
            ]
        )
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

    async def progress(self, request: Request) -> Response:
        state = dict(self._state)
        steps = state["sampling_steps"] or 0
        fraction = state["sampling_step"] / steps if steps else 0.0
        skip = request.query_params.get("skip_current_image", "false") == "true"
        return JSONResponse(
            {
                "progress": fraction,
                "eta_relative": max(0.0, (steps - state["sampling_step"]) * self.step_delay),
                "state": state,
                "current_image": None if skip else self._current_image,
                "textinfo": None,
            }
        )

    async def interrupt(self, request: Request) -> Response:
        self._interrupt = True
        self._state["interrupted"] = True
        self.interrupt_received.set()
        if self.hold_interrupts is not None:
            await asyncio.to_thread(self.hold_interrupts.wait, 30)
        return JSONResponse(None)

    async def txt2img(self, request: Request) -> Response:
        body = json.loads(await request.body())
        sampler = body.get("sampler_name") or body.get("sampler_index") or "Euler"
        if sampler not in SAMPLERS:
            # raise HTTPException(404, "Sampler not found"), as api_middleware answers it
            return JSONResponse(
                {
                    "error": "HTTPException",
                    "detail": "Sampler not found",
                    "body": "",
                    "errors": "404: Sampler not found",
                },
                status_code=404,
            )
        checkpoint = self.checkpoint
        override = body.get("override_settings") or {}
        if "sd_model_checkpoint" in override:
            wanted = override["sd_model_checkpoint"]
            match = [m for m in MODELS if wanted in (m["title"], m["model_name"])]
            if not match:
                return JSONResponse(
                    {
                        "error": "RuntimeError",
                        "detail": "",
                        "body": "",
                        "errors": f"checkpoint {wanted} not found",
                    },
                    status_code=500,
                )
            checkpoint = match[0]["title"]
        seed = int(body.get("seed", -1))
        if seed == -1:
            seed = random.randint(0, 2**32 - 1)
        steps = int(body.get("steps", 20))
        batch = int(body.get("batch_size", 1))
        width, height = int(body.get("width", 512)), int(body.get("height", 512))
        self._interrupt = False
        self._state = self._idle() | {
            "job": "txt2img",
            "job_count": 1,
            "job_timestamp": time.strftime("%Y%m%d%H%M%S"),
            "sampling_steps": steps,
        }
        self.job_started.set()
        try:
            for step in range(1, steps + 1):
                await asyncio.sleep(self.step_delay)
                if self._interrupt:
                    self.jobs_interrupted += 1
                    break
                self._state["sampling_step"] = step
                self.steps_run += 1
                self._current_image = base64.b64encode(png(8, 8, colour_for(step))).decode()
        finally:
            self._state = self._idle()
            self._current_image = None
            self.job_finished.set()
        seeds = [seed + i for i in range(batch)]
        images = [base64.b64encode(png(width, height, colour_for(s))).decode() for s in seeds]
        model_name = next(m["model_name"] for m in MODELS if m["title"] == checkpoint)
        info = {
            "prompt": body.get("prompt", ""),
            "all_prompts": [body.get("prompt", "")] * batch,
            "negative_prompt": body.get("negative_prompt", ""),
            "all_negative_prompts": [body.get("negative_prompt", "")] * batch,
            "seed": seed,
            "all_seeds": seeds,
            "subseed": 1234,
            "all_subseeds": [1234 + i for i in range(batch)],
            "subseed_strength": 0,
            "width": width,
            "height": height,
            "sampler_name": sampler,
            "cfg_scale": body.get("cfg_scale", 7.0),
            "steps": steps,
            "batch_size": batch,
            "restore_faces": False,
            "sd_model_name": model_name,
            "sd_model_hash": checkpoint.split("[")[-1].rstrip("]"),
            "job_timestamp": time.strftime("%Y%m%d%H%M%S"),
            "infotexts": [f"{body.get('prompt', '')}\nSteps: {steps}, Seed: {s}" for s in seeds],
        }
        parameters = dict(body)
        return JSONResponse({"images": images, "parameters": parameters, "info": json.dumps(info)})


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
