"""A running generation: its progress in order, cancel, and the cleanup that
tells the backend to stop.

Why a class of its own: the HTTP stream, the ``generate_events`` iterator and
``POST /api/images/cancel`` all follow one generation, and they must agree on
one rule — **a cancel ends the caller's view of the job at once**, while the
provider's own cleanup (A1111 ``/sdapi/v1/interrupt``, ComfyUI ``/queue`` +
``/interrupt``, closing the websocket) finishes on its own time. A stream
that waited for that cleanup would stay open as long as a slow backend takes
to answer its interrupt.

| who                               | does                                                  |
|-----------------------------------|-------------------------------------------------------|
| the provider                      | reports progress (appended; wakes the reader)         |
| :meth:`GenerationJob.progress`    | yields reports in order; ends when the job ends or    |
|                                   | :meth:`GenerationJob.cancel` is called, whichever is  |
|                                   | first (reports still pending are delivered first,     |
|                                   | unless cancelled)                                     |
| :meth:`GenerationJob.cancel`      | marks the job cancelled and cancels the provider's    |
|                                   | task, which interrupts the backend job                |
| :meth:`GenerationJob.stop`        | cancel and wait (shielded, bounded) for that cleanup  |
| :meth:`GenerationJob.stop_later`  | the same without waiting: the cleanup task is kept    |
|                                   | (so it is not garbage-collected) and can be awaited   |
|                                   | by :func:`wait_for_cleanups` at shutdown              |

Per report the work is constant: one append and one event set, no task or
future created.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import uuid
from collections.abc import AsyncIterator

import anyio

from pluma.server.images.base import ImageProvider, ImageRequest, ImageResult, Progress

log = logging.getLogger("pluma.images")

CLEANUP_GRACE = 10.0
"""Seconds a cancelled generation gets to tell its backend to stop."""

_cleanups: set[asyncio.Task[None]] = set()


class GenerationJob:
    """One ``provider.generate(request)`` running in its own task."""

    def __init__(
        self, provider: ImageProvider, request: ImageRequest, job_id: str | None = None
    ) -> None:
        self.id = job_id or uuid.uuid4().hex
        self._pending: collections.deque[Progress] = collections.deque()
        self._wake = asyncio.Event()
        self._cancel_requested = False
        self.task: asyncio.Task[ImageResult] = asyncio.ensure_future(
            provider.generate(request, self._report)
        )
        self.task.add_done_callback(lambda _: self._wake.set())

    def _report(self, progress: Progress) -> None:
        self._pending.append(progress)
        self._wake.set()

    @property
    def cancelled(self) -> bool:
        """Whether the job was cancelled (by :meth:`cancel` or its task)."""
        return self._cancel_requested or self.task.cancelled()

    @property
    def running(self) -> bool:
        return not self._cancel_requested and not self.task.done()

    def cancel(self) -> bool:
        """Stop following the job and interrupt it; False if it already ended."""
        if not self.running:
            return False
        self._cancel_requested = True
        self.task.cancel()
        self._wake.set()
        return True

    async def progress(self) -> AsyncIterator[Progress]:
        """Progress reports until the job finishes or is cancelled."""
        while True:
            while self._pending and not self._cancel_requested:
                yield self._pending.popleft()
            if self._cancel_requested or self.task.done():
                return
            self._wake.clear()
            await self._wake.wait()

    async def stop(self, grace: float = CLEANUP_GRACE) -> None:
        """Cancel if still running and wait, shielded from our own
        cancellation, at most ``grace`` s for the backend to be told."""
        if not self.task.done():
            self._cancel_requested = True
            self.task.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.wait({self.task}, timeout=grace)
        self._retrieve()

    def stop_later(self, grace: float = CLEANUP_GRACE) -> None:
        """:meth:`stop` in a background task (the caller returns at once)."""
        if self.task.done():
            self._retrieve()
            return
        cleanup = asyncio.ensure_future(self.stop(grace))
        _cleanups.add(cleanup)
        cleanup.add_done_callback(_cleanups.discard)

    def _retrieve(self) -> None:
        """Mark a failure as seen (no "exception was never retrieved" noise)."""
        if self.task.done() and not self.task.cancelled():
            error = self.task.exception()
            if error is not None and self._cancel_requested:
                log.info("image job %s ended with %r after it was cancelled", self.id, error)
        elif not self.task.done():
            log.warning(
                "image job %s did not stop within its grace period; its backend may "
                "still be working on it",
                self.id,
            )


async def wait_for_cleanups(grace: float = CLEANUP_GRACE) -> None:
    """Wait (bounded) for cancelled jobs still telling their backends to stop."""
    if _cleanups:
        await asyncio.wait(set(_cleanups), timeout=grace)


async def generate_events(
    provider: ImageProvider, request: ImageRequest
) -> AsyncIterator[Progress | ImageResult]:
    """The generation as an async iterator: progress reports, then the result.

    A failure is raised (an :class:`~pluma.server.images.base.ImageBackendError`
    for what a user can fix). Leaving the loop early (``break``, an
    exception, the consumer being cancelled) cancels the generation, which
    interrupts the backend job, and waits (bounded) until the backend was told.
    """
    job = GenerationJob(provider, request)
    try:
        async for progress in job.progress():
            yield progress
        yield await job.task
    finally:
        await job.stop()
