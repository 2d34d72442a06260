"""An image provider whose failures never carry its connection's credentials.

A backend (or the reverse proxy in front of it) may quote the
``Authorization`` header in its error text, and that text becomes the
message of an :class:`~pluma.server.images.base.ImageBackendError`, which
the routes return (connection test, checkpoints, the generation's SSE error)
and log. The image connection manager wraps every provider it builds in
:class:`MaskedImageProvider`, so each of those paths gets messages masked by
the same rule as the chat paths (:func:`pluma.llm.redact.mask`), whatever
provider (built-in or plugin) produced them.
"""

from __future__ import annotations

from pluma.llm.redact import mask
from pluma.server.images.base import (
    BackendOptions,
    ImageBackendError,
    ImageProvider,
    ImageRequest,
    ImageResult,
    ListsOptions,
    ProgressCallback,
)


def masked(inner: ImageProvider, secrets: tuple[str, ...]) -> MaskedImageProvider:
    """``inner`` wrapped, keeping its optional capabilities (``ListsOptions``)
    visible to ``isinstance`` checks."""
    if isinstance(inner, ListsOptions):
        return MaskedOptionsProvider(inner, secrets)
    return MaskedImageProvider(inner, secrets)


class MaskedImageProvider:
    """``inner`` with ``secrets`` masked out of every ImageBackendError."""

    def __init__(self, inner: ImageProvider, secrets: tuple[str, ...]) -> None:
        self.inner = inner
        self.secrets = secrets

    @property
    def kind(self) -> str:
        return self.inner.kind

    @property
    def upstream(self) -> str:
        return self.inner.upstream

    def _masked(self, exc: ImageBackendError) -> ImageBackendError:
        return ImageBackendError(mask(exc.message, self.secrets), code=exc.code, status=exc.status)

    async def ping(self) -> None:
        try:
            await self.inner.ping()
        except ImageBackendError as exc:
            raise self._masked(exc) from None

    async def generate(
        self, request: ImageRequest, on_progress: ProgressCallback | None = None
    ) -> ImageResult:
        try:
            return await self.inner.generate(request, on_progress)
        except ImageBackendError as exc:
            raise self._masked(exc) from None

    async def list_checkpoints(self) -> list[str]:
        try:
            return await self.inner.list_checkpoints()
        except ImageBackendError as exc:
            raise self._masked(exc) from None


class MaskedOptionsProvider(MaskedImageProvider):
    """A masked provider that also lists its backend's options."""

    async def list_options(self) -> BackendOptions:
        assert isinstance(self.inner, ListsOptions)
        try:
            return await self.inner.list_options()
        except ImageBackendError as exc:
            raise self._masked(exc) from None
