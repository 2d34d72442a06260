"""Image backends over HTTP: connections, generation with live progress, gallery.

| route                                         | does                                         |
|-----------------------------------------------|----------------------------------------------|
| ``GET /api/image-providers``                  | the registered kinds, plugin display names   |
| ``GET /api/image-connections``                | profiles (``has_secret``, never the secret)  |
| ``POST /api/image-connections``               | create (201); ``secret`` is write-only       |
| ``GET/PUT/DELETE /api/image-connections/{id}``| one profile (id or name); change; remove     |
| ``POST /api/image-connections/{id}/activate`` | make it the active image profile             |
| ``POST /api/image-connections/{id}/test``     | reachable? credentials? checkpoints?         |
| ``GET /api/images/workflow``                  | the default ComfyUI workflow + placeholders  |
| ``GET /api/images/checkpoints[?connection=]`` | the backend's checkpoints                    |
| ``GET /api/images/options[?connection=]``     | checkpoints, samplers, schedulers, LoRAs,    |
|                                               | VAEs, upscalers and modes, from the backend  |
| ``POST /api/images/generate``                 | SSE: ``start``, ``progress``…, then          |
|                                               | ``result`` (stored images) or ``error``      |
| ``GET /api/images/jobs``                      | the jobs running or waiting now              |
| ``GET /api/images/jobs/{job_id}/events``      | SSE: follow a job again (after a reload)     |
| ``POST /api/images/cancel {job_id}``          | cancel a running or waiting generation       |
| ``GET /api/images``                           | the gallery, newest first                    |
| ``GET /api/images/{id}``                      | the image bytes (stable URL)                 |
| ``GET /api/images/{id}/parameters``           | its record: parameters used, seed, backend   |
| ``DELETE /api/images/{id}``                   | remove it from the gallery                   |

The generation stream (``text/event-stream``)::

    event: start
    data: {"job_id": "…", "connection": {"id", "name", "kind"}}

    event: progress
    data: {"fraction": 0.4, "step": 8, "steps": 20, "node": "3", "queued": false,
           "text": null, "preview": "data:image/png;base64,…"}

    event: result
    data: {"job_id": "…", "images": [{record}, …], "parameters": {…}, "info": {…},
           "warnings": ["…"]}

    event: error
    data: {"error": {"message": "…", "type": "upstream_error", "code": "node_error"}}

``queued: true`` means the job waits on the backend behind other clients'
jobs (``text`` has the backend's words, e.g. ``In queue: 1/2``).

A client that disconnects cancels the generation, unless the body said
``detach: true`` (the page does: its jobs outlive a reload, are listed by
``GET /api/images/jobs`` and followed again by their events route). A cancel
interrupts the job on the backend (A1111: only Pluma's own task, see
:mod:`pluma.server.images.a1111`; ComfyUI ``/queue`` delete + ``/interrupt``); so does
``POST /api/images/cancel``, after which the stream sends its ``cancelled``
error and ends at once (the backend is told in the background; see
:mod:`pluma.server.images.jobs`). Caller mistakes (bad body, unknown connection)
are answered before the stream with a 4xx JSON error.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

import pluma.server.images  # noqa: F401  (registers the built-in providers)
from pluma.server.errors import HTTPError, InternalError, PlumaError
from pluma.server.http.errors import error_body
from pluma.server.http.relay import RelayResponse
from pluma.server.images import queue
from pluma.server.images.a1111 import sniff_mime
from pluma.server.images.base import (
    BackendOptions,
    HiresFix,
    ImageBackendError,
    ImageProvider,
    ImageRequest,
    InputImage,
    ListsOptions,
    LoraRef,
    Progress,
    image_provider_kinds,
)
from pluma.server.images.jobs import GenerationJob, wait_for_cleanups
from pluma.server.images.manager import (
    ImageConnectionManager,
    NoImageConnection,
)
from pluma.server.images.profiles import ImageConnectionProfile
from pluma.server.images.workflows import PLACEHOLDERS, default_workflow
from pluma.server.profiles.connections import ProfileInvalid
from pluma.server.services import Services, get_services

log = logging.getLogger("pluma.images")

router = APIRouter(tags=["images"])

TEST_TIMEOUT = 10.0
LIST_TIMEOUT = 30.0


def _manager(state: Services) -> ImageConnectionManager:
    return state.image_connections


# -- connections -----------------------------------------------------------------


class ImageConnectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="unique (case-insensitive)")
    base_url: str = Field(description="e.g. http://127.0.0.1:7860 (A1111) or :8188 (ComfyUI)")
    kind: str = Field(default="a1111", description="from GET /api/image-providers")
    auth: str = Field(default="none", description="none, basic (A1111 --api-auth) or bearer")
    username: str = Field(default="", description="for basic auth")
    secret: str | None = Field(
        default=None,
        description="password (basic) or token (bearer); write-only, kept in the secret store",
    )
    default_checkpoint: str = ""
    workflow: dict[str, Any] | str | None = Field(
        default=None,
        description="ComfyUI: a workflow in API format with %placeholder% values "
        "(object or JSON text); null uses Pluma's default text-to-image workflow",
    )
    timeout: float | None = Field(default=None, description="seconds one generation may take")
    activate: bool = False


class ImageConnectionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    base_url: str | None = None
    kind: str | None = None
    auth: str | None = None
    username: str | None = None
    secret: str | None = Field(default=None, description="write-only; null or '' clears it")
    default_checkpoint: str | None = None
    workflow: dict[str, Any] | str | None = Field(
        default=None, description="null returns to the default workflow"
    )
    timeout: float | None = None


class ImageConnectionOut(BaseModel):
    id: str
    name: str
    kind: str
    base_url: str
    auth: str
    username: str
    has_secret: bool
    default_checkpoint: str
    workflow: dict[str, Any] | None
    timeout: float
    active: bool
    fallback: bool


def _out(
    manager: ImageConnectionManager, profile: ImageConnectionProfile, active_id: str | None
) -> ImageConnectionOut:
    return ImageConnectionOut(
        id=profile.id,
        name=profile.name,
        kind=profile.kind,
        base_url=profile.base_url,
        auth=profile.auth,
        username=profile.username,
        has_secret=manager.has_secret(profile),
        default_checkpoint=profile.default_checkpoint,
        workflow=profile.workflow,
        timeout=profile.timeout,
        active=profile.id == active_id,
        fallback=manager.is_fallback(profile),
    )


def _connection_ref(profile: ImageConnectionProfile) -> dict[str, str]:
    return {"id": profile.id, "name": profile.name, "kind": profile.kind}


@router.get("/api/image-providers", summary="Registered image provider kinds")
def list_image_providers(state: Services = Depends(get_services)) -> dict[str, Any]:
    """The registered kinds, and for plugin ones the display name their
    plugin gave (the page shows it; the value stays the kind)."""
    labels = state.plugins.labels("image") if state.plugins is not None else {}
    return {"providers": image_provider_kinds(), "labels": labels}


@router.get("/api/image-connections", summary="Image connection profiles")
def list_image_connections(state: Services = Depends(get_services)) -> dict[str, Any]:
    manager = _manager(state)
    active_id, profiles = manager.listing()
    return {
        "active": active_id,
        "connections": [_out(manager, p, active_id).model_dump() for p in profiles],
    }


@router.post("/api/image-connections", status_code=201, summary="Add an image connection")
def create_image_connection(
    body: ImageConnectionCreate, state: Services = Depends(get_services)
) -> ImageConnectionOut:
    manager = _manager(state)
    profile = manager.create(
        name=body.name,
        base_url=body.base_url,
        kind=body.kind,
        auth=body.auth,
        username=body.username,
        secret=body.secret,
        default_checkpoint=body.default_checkpoint,
        workflow=body.workflow,
        timeout=body.timeout,
        activate=body.activate,
    )
    return _out(manager, profile, manager.active_id)


@router.get("/api/image-connections/{ref}", summary="One image connection (id or name)")
def get_image_connection(ref: str, state: Services = Depends(get_services)) -> ImageConnectionOut:
    manager = _manager(state)
    return _out(manager, manager.lookup(ref), manager.active_id)


@router.put("/api/image-connections/{ref}", summary="Change an image connection")
def update_image_connection(
    ref: str, body: ImageConnectionUpdate, state: Services = Depends(get_services)
) -> ImageConnectionOut:
    manager = _manager(state)
    profile = manager.lookup(ref)
    changes: dict[str, Any] = {}
    for name in body.model_fields_set:
        value = getattr(body, name)
        if value is None and name not in ("secret", "workflow", "default_checkpoint", "username"):
            raise ProfileInvalid(name, "cannot be null")
        changes[name] = value
    if not changes:
        raise HTTPException(
            422, detail="the body changes nothing: give at least one field to change"
        )
    updated = manager.update(profile.id, **changes)
    return _out(manager, updated, manager.active_id)


@router.delete(
    "/api/image-connections/{ref}", status_code=204, summary="Remove an image connection"
)
def delete_image_connection(ref: str, state: Services = Depends(get_services)) -> Response:
    manager = _manager(state)
    manager.delete(manager.lookup(ref).id)
    return Response(status_code=204)


@router.post("/api/image-connections/{ref}/activate", summary="Make an image connection active")
def activate_image_connection(
    ref: str, state: Services = Depends(get_services)
) -> ImageConnectionOut:
    manager = _manager(state)
    chosen = manager.activate(manager.lookup(ref).id)
    return _out(manager, chosen, chosen.id)


@router.post("/api/image-connections/{ref}/test", summary="Check an image connection")
async def test_image_connection(
    ref: str, state: Services = Depends(get_services)
) -> dict[str, Any]:
    """Ping the backend and list its checkpoints. Always 200: ``ok`` says
    whether it worked and ``message`` what to fix."""
    manager = _manager(state)
    provider, profile = manager.provider(ref)
    verdict: dict[str, Any] = {"connection": _connection_ref(profile), "ok": False}
    try:
        async with asyncio.timeout(TEST_TIMEOUT):
            await provider.ping()
            checkpoints = await provider.list_checkpoints()
    except ImageBackendError as exc:
        return verdict | {"message": exc.message, "code": exc.code, "checkpoints": []}
    except TimeoutError:
        return verdict | {
            "message": f"{profile.base_url} did not answer within {TEST_TIMEOUT:g} s",
            "code": "unreachable",
            "checkpoints": [],
        }
    warnings: list[str] = []
    if profile.kind == "comfyui":
        from pluma.server.images.workflows import check_workflow

        warnings = check_workflow(profile.workflow or default_workflow()).warnings
    return verdict | {
        "ok": True,
        "message": f"{profile.kind} at {profile.base_url} answered; {len(checkpoints)} checkpoints",
        "checkpoints": checkpoints,
        "warnings": warnings,
    }


# -- generation ------------------------------------------------------------------


class HiresBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scale: float = Field(default=2.0, ge=1, le=4)
    upscaler: str = Field(default="", description="from GET /api/images/options; empty: latent")
    steps: int = Field(default=0, ge=0, le=1000, description="0: as many as the first pass")
    denoise: float = Field(default=0.5, ge=0, le=1)


class LoraBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, description="as GET /api/images/options lists it")
    weight: float = Field(default=1.0, ge=-10, le=10)


class GenerateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(min_length=1, description="what to draw")
    negative_prompt: str = ""
    width: int = Field(default=512, ge=64, le=8192)
    height: int = Field(default=512, ge=64, le=8192)
    steps: int = Field(default=20, ge=1, le=1000)
    cfg_scale: float = Field(default=7.0, ge=0, le=100)
    sampler: str = Field(default="", description="empty: the backend's default")
    scheduler: str = Field(default="", description="empty: the backend's default")
    seed: int | None = Field(default=None, description="null or negative: random (reported)")
    batch_size: int = Field(default=1, ge=1, le=64, description="pictures made at once")
    batch_count: int = Field(default=1, ge=1, le=100, description="batches made in a row")
    checkpoint: str = Field(default="", description="empty: the connection's default")
    denoise: float = Field(
        default=1.0, ge=0, le=1, description="image-to-image: how much may change"
    )
    init_image: str | None = Field(
        default=None, description="image-to-image: a data: URL or base64 PNG/JPEG/WebP"
    )
    init_image_id: str | None = Field(
        default=None, description="image-to-image: a gallery image's id instead"
    )
    mask: str | None = Field(
        default=None,
        description="inpainting: a data: URL or base64 picture, white = repaint, black = keep",
    )
    hires: HiresBody | None = Field(default=None, description="text-to-image upscale pass")
    loras: list[LoraBody] = Field(default_factory=list)
    vae: str = Field(default="", description="empty: the checkpoint's own")
    connection: str | None = Field(default=None, description="id or name; default: active")
    previews: bool = Field(default=True, description="include preview images in progress events")
    detach: bool = Field(
        default=False,
        description="keep the job running when this stream's client leaves (list it with "
        "GET /api/images/jobs, follow it again with its events route)",
    )


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {orjson.dumps(data).decode()}\n\n"


def _error_data(error: PlumaError) -> dict[str, Any]:
    """An error event's data: the server's one error body (OpenAI's shape)."""
    return error_body(error, "openai")


def _progress_json(progress: Progress, previews: bool) -> dict[str, Any]:
    preview = None
    if previews and progress.preview is not None:
        data = base64.b64encode(progress.preview.data).decode("ascii")
        preview = f"data:{progress.preview.mime_type};base64,{data}"
    return {
        "fraction": round(progress.fraction, 4),
        "step": progress.step,
        "steps": progress.steps,
        "node": progress.node,
        "queued": progress.queued,
        "text": progress.text,
        "preview": preview,
    }


def _finisher(
    state: Services, profile: ImageConnectionProfile
) -> Callable[[GenerationJob], Awaitable[tuple[str, Any]]]:
    """What ends a job's stream: its result saved to the gallery, or why not."""

    async def finish(job: GenerationJob) -> tuple[str, Any]:
        if job.cancelled:
            return "error", _error_data(
                HTTPError(400, "the generation was cancelled", code="cancelled")
            )
        error = job.task.exception()
        if isinstance(error, ImageBackendError):
            log.warning("image generation on %r failed: %s", profile.name, error.message)
            return "error", _error_data(error)
        if error is not None:
            log.error("image generation on %r failed", profile.name, exc_info=error)
            failed = InternalError(f"the generation failed: {type(error).__name__}: {error}")
            failed.code = "internal"
            return "error", _error_data(failed)
        result = job.task.result()
        try:
            records = await state.gallery.save(result, _connection_ref(profile))
        except PlumaError as exc:  # the gallery (files or database) could not save
            return "error", _error_data(exc)
        return "result", {
            "job_id": job.id,
            "images": records,
            "parameters": result.parameters,
            "info": result.info,
            "warnings": result.warnings,
        }

    return finish


async def _follow(
    tracked: queue.TrackedJob, previews: bool, rejoin: bool = False
) -> AsyncIterator[str]:
    """The job's stream from now on. ``rejoin`` (following a job again)
    first repeats its latest progress, so the page has something to show."""
    last = tracked.last if rejoin else None
    listener = tracked.listen()
    try:
        yield _sse("start", {"job_id": tracked.id, "connection": tracked.connection})
        if last is not None:
            yield _sse("progress", _progress_json(last, previews))
        async for kind, data in tracked.events(listener):
            if kind == "progress":
                yield _sse("progress", _progress_json(data, previews))
            else:
                yield _sse(*data)
    finally:
        tracked.leave(listener)


async def _generation(
    state: Services,
    provider: ImageProvider,
    profile: ImageConnectionProfile,
    request: ImageRequest,
    previews: bool,
    detach: bool = False,
) -> AsyncIterator[str]:
    # Started here, not in the handler: a response that never starts
    # iterating must not leave a job running that nobody follows.
    job = GenerationJob(provider, request)
    tracked = queue.start(job, _connection_ref(profile), request, detach, _finisher(state, profile))
    async for frame in _follow(tracked, previews):
        yield frame


def _picture(value: str, field_name: str) -> InputImage:
    """A data: URL or bare base64 picture from a request body."""
    text = value.strip()
    if text.startswith("data:"):
        text = text.split(",", 1)[-1]
    try:
        data = base64.b64decode(text, validate=True)
    except ValueError:
        raise HTTPException(
            422, detail=f"{field_name} is not base64 or a data: URL of a picture"
        ) from None
    mime = sniff_mime(data)
    if not mime.startswith("image/"):
        raise HTTPException(
            422, detail=f"{field_name} is not a PNG, JPEG or WebP picture; send one of those"
        )
    return InputImage(data=data, mime_type=mime)


async def _gallery_picture(state: Services, image_id: str) -> InputImage:
    stored = await state.gallery.image(image_id)
    if stored is None:
        raise HTTPException(
            422,
            detail=f"init_image_id {image_id!r} is no gallery image; list them with GET /api/images",
        )
    data = await asyncio.to_thread(stored.read) if stored.data is None else stored.data
    return InputImage(data=data, mime_type=stored.mime_type, source=f"gallery:{image_id}")


async def _request_from(body: GenerateBody, state: Services) -> ImageRequest:
    if body.init_image is not None and body.init_image_id is not None:
        raise HTTPException(422, detail="give init_image or init_image_id, not both")
    init: InputImage | None = None
    if body.init_image is not None:
        init = _picture(body.init_image, "init_image")
    elif body.init_image_id is not None:
        init = await _gallery_picture(state, body.init_image_id)
    mask = _picture(body.mask, "mask") if body.mask is not None else None
    fields = body.model_dump(
        exclude={
            "connection",
            "previews",
            "detach",
            "init_image",
            "init_image_id",
            "mask",
            "hires",
            "loras",
        }
    )
    return ImageRequest(
        **fields,
        init_image=init,
        mask=mask,
        hires=HiresFix(**body.hires.model_dump()) if body.hires is not None else None,
        loras=[LoraRef(lora.name, lora.weight) for lora in body.loras],
    )


@router.post(
    "/api/images/generate",
    summary="Generate images; streams progress over SSE and ends with the stored result",
    response_class=Response,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def generate(body: GenerateBody, state: Services = Depends(get_services)) -> Response:
    manager = _manager(state)
    provider, profile = manager.provider(body.connection)
    request = await _request_from(body, state)
    try:
        request.validate()
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    return RelayResponse(
        _generation(state, provider, profile, request, body.previews, body.detach),
        "openai",
    )


@router.get("/api/images/jobs", summary="Image jobs running or waiting now, oldest first")
def list_jobs() -> dict[str, Any]:
    return {"jobs": queue.listing()}


@router.get(
    "/api/images/jobs/{job_id}/events",
    summary="Follow a running job again (SSE, as from generate)",
    response_class=Response,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def job_events(job_id: str, previews: bool = Query(default=True)) -> Response:
    tracked = queue.JOBS.get(job_id)
    if tracked is None:
        raise HTTPException(
            404,
            detail=f"no running image job {job_id!r}; it may have finished (see GET /api/images)",
        )
    return RelayResponse(_follow(tracked, previews, rejoin=True), "openai")


class CancelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_id: str


@router.post("/api/images/cancel", summary="Cancel a running or waiting generation")
async def cancel(body: CancelBody) -> dict[str, Any]:
    tracked = queue.JOBS.get(body.job_id)
    if tracked is None or not tracked.job.cancel():
        raise HTTPException(404, detail=f"no running generation with job_id {body.job_id!r}")
    return {"job_id": body.job_id, "cancelled": True}


@router.get(
    "/api/images/options",
    summary="What the active or given image backend offers (listed from the backend)",
)
async def options(
    request: Request,
    connection: str | None = Query(default=None, description="id or name; default: active"),
    state: Services = Depends(get_services),
) -> Response:
    manager = _manager(state)
    provider, profile = manager.provider(connection)
    try:
        async with asyncio.timeout(LIST_TIMEOUT):
            if isinstance(provider, ListsOptions):
                found = await provider.list_options()
            else:
                found = BackendOptions(checkpoints=await provider.list_checkpoints())
    except TimeoutError:
        message = f"{profile.base_url} did not list its options within {LIST_TIMEOUT:g} s"
        raise ImageBackendError(message, code="unreachable") from None
    return JSONResponse({"connection": _connection_ref(profile), **found.to_dict()})


@router.get("/api/images/workflow", summary="The default ComfyUI workflow and the placeholders")
def workflow_info() -> dict[str, Any]:
    return {"workflow": default_workflow(), "placeholders": list(PLACEHOLDERS)}


@router.get(
    "/api/images/checkpoints", summary="Checkpoints of the active or given image connection"
)
async def checkpoints(
    request: Request,
    connection: str | None = Query(default=None, description="id or name; default: active"),
    state: Services = Depends(get_services),
) -> Response:
    manager = _manager(state)
    provider, profile = manager.provider(connection)
    try:
        async with asyncio.timeout(LIST_TIMEOUT):
            names = await provider.list_checkpoints()
    except TimeoutError:
        message = f"{profile.base_url} did not list its checkpoints within {LIST_TIMEOUT:g} s"
        raise ImageBackendError(message, code="unreachable") from None
    return JSONResponse({"connection": _connection_ref(profile), "checkpoints": names})


# -- gallery -----------------------------------------------------------------------


@router.get("/api/images", summary="The gallery, newest first")
async def list_images(
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
    state: Services = Depends(get_services),
) -> dict[str, Any]:
    records, total = await state.gallery.list(limit, offset)
    return {"images": records, "total": total, "limit": limit, "offset": offset}


def _not_found(image_id: str) -> HTTPException:
    return HTTPException(
        404, detail=f"no image with id {image_id!r}; list them with GET /api/images"
    )


@router.get(
    "/api/images/{image_id}",
    summary="The image file (a stable URL)",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}},
)
async def get_image(image_id: str, state: Services = Depends(get_services)) -> Response:
    stored = await state.gallery.image(image_id)
    if stored is None:
        raise _not_found(image_id)
    headers = {"Cache-Control": "public, max-age=31536000, immutable"}
    if stored.path is not None:  # the file gallery: sent from the file
        return FileResponse(stored.path, media_type=stored.mime_type, headers=headers)
    return Response(stored.read(), media_type=stored.mime_type, headers=headers)


@router.get("/api/images/{image_id}/parameters", summary="How an image was made")
async def get_image_parameters(
    image_id: str, state: Services = Depends(get_services)
) -> dict[str, Any]:
    stored = await state.gallery.image(image_id)
    if stored is None:
        raise _not_found(image_id)
    return stored.record


@router.delete("/api/images/{image_id}", status_code=204, summary="Remove an image")
async def delete_image(image_id: str, state: Services = Depends(get_services)) -> Response:
    if not await state.gallery.delete(image_id):
        raise _not_found(image_id)
    return Response(status_code=204)


__all__ = ["NoImageConnection", "router", "shutdown"]


async def shutdown(state: Services) -> None:
    """Cancel generations still running and give their backends' interrupts
    (bounded) time to go out."""
    for tracked in list(queue.JOBS.values()):
        tracked.job.cancel()
        tracked.job.stop_later()
    await wait_for_cleanups()
