"""The image backend contract (the seed's ``ImageProvider`` interface, in Python).

| member             | what it does                                                        |
|--------------------|---------------------------------------------------------------------|
| ``kind``           | short stable string; matches the image profile's ``kind``           |
| ``upstream``       | the base URL the provider was built with (diagnostics, health)      |
| ``ping()``         | returns when the backend answers; raises :class:`ImageBackendError` |
| ``generate()``     | runs one request to completion and returns an :class:`ImageResult`; |
|                    | reports :class:`Progress` through ``on_progress`` as it goes;       |
|                    | cancelling the awaiting task interrupts the job on the backend      |
| ``list_checkpoints``| the checkpoints the backend can load                               |

Go's ``context.Context`` becomes asyncio cancellation: a provider catches
``CancelledError`` around its wait, tells the backend to stop (A1111
``/sdapi/v1/interrupt``, ComfyUI ``/interrupt``) and re-raises.

Factories are registered by ``kind`` at import time with
:func:`register_image_provider`; the kinds the page offers come from
:func:`image_provider_kinds`. Third-party packages register through the
``pluma.image_providers`` entry-point group (see :func:`load_entry_points`).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, TypeAlias, runtime_checkable

import httpx

from pluma.server.errors import PlumaError, kind_for
from pluma.server.images.profiles import ImageConnectionProfile

MAX_SEED = 2**32 - 1
"""Seeds Pluma draws itself stay in the range every backend accepts."""


@dataclass(slots=True)
class InputImage:
    """A picture sent to the backend: the init image of image-to-image, or
    the inpainting mask (white = repaint, black = keep, as both backends
    read it). ``source`` says where it came from for the record
    (``upload`` or ``gallery:<id>``); the bytes are never stored twice."""

    data: bytes = field(repr=False)
    mime_type: str = "image/png"
    source: str = "upload"

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "mime_type": self.mime_type, "bytes": len(self.data)}


@dataclass(slots=True)
class HiresFix:
    """A second, upscaled pass over a text-to-image result (A1111's "Hires.
    fix"; ComfyUI's shipped upscale workflow). ``upscaler`` empty means the
    backend's default latent upscale; ``steps`` 0 means as many as the first
    pass; ``denoise`` is how much the second pass may change."""

    scale: float = 2.0
    upscaler: str = ""
    steps: int = 0
    denoise: float = 0.5


@dataclass(slots=True)
class LoraRef:
    """A LoRA by the name the backend lists, with its strength."""

    name: str
    weight: float = 1.0


@dataclass(slots=True)
class ImageRequest:
    """One generation request: text-to-image, or image-to-image when
    ``init_image`` is given, or inpainting when ``mask`` is given too.

    ``None`` (or an empty string) means "the backend's or the profile's
    default"; providers fill in what they actually used in
    :attr:`ImageResult.parameters`. ``seed`` ``None`` or negative means
    random: :meth:`resolved_seed` picks one so the seed used can be reported.
    ``denoise`` is the denoising strength of image-to-image (1.0 ignores the
    init image entirely); ``batch_size`` pictures are made at once,
    ``batch_count`` times in a row (seeds follow on from ``seed``).
    """

    prompt: str
    negative_prompt: str = ""
    width: int = 512
    height: int = 512
    steps: int = 20
    cfg_scale: float = 7.0
    sampler: str = ""
    scheduler: str = ""
    seed: int | None = None
    batch_size: int = 1
    checkpoint: str = ""
    denoise: float = 1.0
    batch_count: int = 1
    init_image: InputImage | None = None
    mask: InputImage | None = None
    hires: HiresFix | None = None
    loras: list[LoraRef] = field(default_factory=list)
    vae: str = ""

    @property
    def mode(self) -> str:
        """``txt2img``, ``img2img`` or ``inpaint``."""
        if self.init_image is None:
            return "txt2img"
        return "inpaint" if self.mask is not None else "img2img"

    def validate(self) -> None:
        """Raise ``ValueError`` with a readable message for out-of-range input."""
        if not self.prompt.strip():
            raise ValueError("prompt must not be empty")
        for name, value, low, high in (
            ("width", self.width, 64, 8192),
            ("height", self.height, 64, 8192),
            ("steps", self.steps, 1, 1000),
            ("batch_size", self.batch_size, 1, 64),
            ("batch_count", self.batch_count, 1, 100),
        ):
            if not low <= value <= high:
                raise ValueError(f"{name} must be between {low} and {high} (got {value})")
        if not 0 <= self.cfg_scale <= 100:
            raise ValueError(f"cfg_scale must be between 0 and 100 (got {self.cfg_scale})")
        if not 0 <= self.denoise <= 1:
            raise ValueError(f"denoise must be between 0 and 1 (got {self.denoise})")
        if self.seed is not None and self.seed > 2**64 - 1:
            raise ValueError("seed must fit in 64 bits")
        if self.mask is not None and self.init_image is None:
            raise ValueError("a mask needs an init image: inpainting repaints part of a picture")
        if self.hires is not None:
            if self.init_image is not None:
                raise ValueError(
                    "hires fix applies to text-to-image only; for image-to-image, ask for "
                    "the larger size directly"
                )
            if not 1 <= self.hires.scale <= 4:
                raise ValueError(f"hires scale must be between 1 and 4 (got {self.hires.scale})")
            if not 0 <= self.hires.denoise <= 1:
                raise ValueError(
                    f"hires denoise must be between 0 and 1 (got {self.hires.denoise})"
                )
            if not 0 <= self.hires.steps <= 1000:
                raise ValueError(f"hires steps must be between 0 and 1000 (got {self.hires.steps})")
        for lora in self.loras:
            if not lora.name.strip():
                raise ValueError("a LoRA needs a name (one the backend lists)")
            if not -10 <= lora.weight <= 10:
                raise ValueError(f"LoRA {lora.name!r}: weight must be between -10 and 10")

    def resolved_seed(self) -> int:
        """The seed to send: the one asked for, or a fresh random one."""
        if self.seed is None or self.seed < 0:
            return random.randint(0, MAX_SEED)
        return self.seed

    def to_dict(self) -> dict[str, Any]:
        """The request as JSON-ready data: pictures are described (source,
        type, size), never copied into the record."""
        out = asdict(self)
        for name in ("init_image", "mask"):
            image = getattr(self, name)
            out[name] = image.describe() if image is not None else None
        return out


@dataclass(slots=True)
class GeneratedImage:
    data: bytes = field(repr=False)
    mime_type: str = "image/png"


@dataclass(slots=True)
class ImageResult:
    """What a generation produced.

    ``parameters`` are the ones actually used (the seed drawn, the checkpoint
    loaded, the sampler the backend picked) in :class:`ImageRequest` field
    names; ``info`` is backend-specific detail worth keeping (A1111's
    ``info`` JSON, ComfyUI's prompt id and output nodes).
    """

    images: list[GeneratedImage]
    parameters: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    """What the user should know though it worked (a checkpoint the backend
    did not know and replaced, a request field the workflow ignores)."""

    @property
    def seed(self) -> int | None:
        value = self.parameters.get("seed")
        return value if isinstance(value, int) else None


@dataclass(slots=True)
class Progress:
    """A progress report. ``fraction`` is 0..1 (best effort: ComfyUI only
    knows the running node's steps); ``preview`` is a low-resolution
    in-progress image when the backend sends one."""

    fraction: float
    step: int | None = None
    steps: int | None = None
    preview: GeneratedImage | None = None
    node: str | None = None
    """ComfyUI: the node executing now (id), for display."""
    queued: bool = False
    """The job waits in the backend's queue behind other clients' jobs."""
    text: str | None = None
    """The backend's own words for where the job is (A1111 ``In queue: 2/3``)."""


ProgressCallback: TypeAlias = Callable[[Progress], Awaitable[None] | None]
"""Called for every progress report; may be a plain function or a coroutine
function. It runs inside the generation, so it should be quick."""


class ImageBackendError(PlumaError):
    """A failure the user can act on; ``str(error)`` is the message to show.

    | code             | meaning                                              | status |
    |------------------|------------------------------------------------------|--------|
    | ``unreachable``  | nothing answers at the base URL                      | 502    |
    | ``auth``         | the backend refused the credentials                  | 502    |
    | ``api_disabled`` | A1111 started without ``--api`` (404 on ``/sdapi``)  | 502    |
    | ``node_error``   | ComfyUI rejected the workflow (400 ``node_errors``)  | 502    |
    | ``execution``    | the backend failed while generating                  | 502    |
    | ``interrupted``  | the job was interrupted on the backend               | 502    |
    | ``workflow``     | the ComfyUI workflow is invalid (our validation)     | 400    |
    | ``invalid``      | the request is invalid                               | 400    |
    | ``upstream``     | any other upstream answer we cannot use              | 502    |

    Messages never contain credentials.
    """

    def __init__(self, message: str, *, code: str = "upstream", status: int = 502) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.kind = kind_for(status)


@runtime_checkable
class ImageProvider(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def upstream(self) -> str: ...

    async def ping(self) -> None: ...

    async def generate(
        self, request: ImageRequest, on_progress: ProgressCallback | None = None
    ) -> ImageResult: ...

    async def list_checkpoints(self) -> list[str]: ...


@dataclass(slots=True)
class BackendOptions:
    """What a backend offers, listed from the backend itself, for the form's
    choices. An empty list means the backend does not list that kind (the
    form then hides the field or offers a free text box)."""

    checkpoints: list[str] = field(default_factory=list)
    samplers: list[str] = field(default_factory=list)
    schedulers: list[str] = field(default_factory=list)
    loras: list[str] = field(default_factory=list)
    vaes: list[str] = field(default_factory=list)
    upscalers: list[str] = field(default_factory=list)
    modes: list[str] = field(default_factory=lambda: ["txt2img"])
    """The request modes this backend can run (``txt2img``, ``img2img``,
    ``inpaint``, ``hires``)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class ListsOptions(Protocol):
    """An :class:`ImageProvider` that can list its samplers, schedulers,
    LoRAs, VAEs and upscalers (the built-in ones do; a plugin may not)."""

    async def list_options(self) -> BackendOptions: ...


ImageProviderFactory: TypeAlias = Callable[
    [ImageConnectionProfile, httpx.AsyncClient], ImageProvider
]

_factories: dict[str, ImageProviderFactory] = {}


def register_image_provider(kind: str, factory: ImageProviderFactory) -> None:
    """Make ``kind`` available to image profiles (re-registering replaces)."""
    if not kind:
        raise ValueError("kind must be a non-empty string")
    _factories[kind] = factory


def image_provider_kinds() -> list[str]:
    """The kinds the page offers, from the registry."""
    return sorted(_factories)


def create_image_provider(
    profile: ImageConnectionProfile, client: httpx.AsyncClient
) -> ImageProvider:
    try:
        factory = _factories[profile.kind]
    except KeyError:
        raise ValueError(
            f"image connection {profile.name!r} uses kind {profile.kind!r}, which no image "
            f"provider handles (registered: {', '.join(image_provider_kinds()) or 'none'})"
        ) from None
    return factory(profile, client)


def load_entry_points() -> list[str]:
    """Register third-party image providers from the ``pluma.image_providers``
    entry-point group (each names a factory; see :mod:`pluma.extensions`). Returns a
    message per plugin that failed to load (its name, module and error), so
    start-up can report it; a broken plugin is never fatal."""
    from pluma.extensions import IMAGE_PROVIDERS, load

    return load(IMAGE_PROVIDERS, register_image_provider)


async def report(on_progress: ProgressCallback | None, progress: Progress) -> None:
    """Deliver one report to a sync or async callback."""
    if on_progress is None:
        return
    outcome = on_progress(progress)
    if outcome is not None:
        await outcome
