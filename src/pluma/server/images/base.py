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
class ImageRequest:
    """One text-to-image request.

    ``None`` (or an empty string) means "the backend's or the profile's
    default"; providers fill in what they actually used in
    :attr:`ImageResult.parameters`. ``seed`` ``None`` or negative means
    random: :meth:`resolved_seed` picks one so the seed used can be reported.
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

    def validate(self) -> None:
        """Raise ``ValueError`` with a readable message for out-of-range input."""
        if not self.prompt.strip():
            raise ValueError("prompt must not be empty")
        for name, value, low, high in (
            ("width", self.width, 64, 8192),
            ("height", self.height, 64, 8192),
            ("steps", self.steps, 1, 1000),
            ("batch_size", self.batch_size, 1, 64),
        ):
            if not low <= value <= high:
                raise ValueError(f"{name} must be between {low} and {high} (got {value})")
        if not 0 <= self.cfg_scale <= 100:
            raise ValueError(f"cfg_scale must be between 0 and 100 (got {self.cfg_scale})")
        if not 0 <= self.denoise <= 1:
            raise ValueError(f"denoise must be between 0 and 1 (got {self.denoise})")
        if self.seed is not None and self.seed > 2**64 - 1:
            raise ValueError("seed must fit in 64 bits")

    def resolved_seed(self) -> int:
        """The seed to send: the one asked for, or a fresh random one."""
        if self.seed is None or self.seed < 0:
            return random.randint(0, MAX_SEED)
        return self.seed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    """Import third-party image providers from the ``pluma.image_providers``
    entry-point group (each module registers itself at import). Returns a
    message per plugin that failed to load (its name, module and error), so
    start-up can report it; a broken plugin is never fatal."""
    from importlib.metadata import entry_points

    problems: list[str] = []
    for ep in entry_points(group="pluma.image_providers"):
        try:
            ep.load()
        except Exception as exc:
            problems.append(
                f"image provider plugin {ep.name!r} ({ep.value}) failed to load: "
                f"{type(exc).__name__}: {exc}"
            )
    return problems


async def report(on_progress: ProgressCallback | None, progress: Progress) -> None:
    """Deliver one report to a sync or async callback."""
    if on_progress is None:
        return
    outcome = on_progress(progress)
    if outcome is not None:
        await outcome
