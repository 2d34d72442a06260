"""The server's image jobs, followed by whoever is listening.

Why a registry of its own: the page shows a queue of running and waiting
jobs, and a job the page started with ``detach`` must outlive the HTTP
stream that started it (a reload, a closed tab): it still runs, lands in the
gallery, can be listed and cancelled, and a reloaded page finds it again.

| piece                   | does                                                    |
|-------------------------|---------------------------------------------------------|
| :class:`TrackedJob`     | one :class:`GenerationJob` plus what a listing shows    |
|                         | (summary, state, last progress) and its listeners       |
| ``drive``               | the job's own task: reads its progress, fans it out,    |
|                         | then hands the job to ``finish`` for the terminal event |
| :meth:`TrackedJob.events`| one listener's view: progress events, then the end     |
| :data:`JOBS`            | the jobs running now, by id, oldest first               |

A job that is not detached is cancelled when its last listener leaves
(``pluma images generate`` and API callers keep the old rule: hanging up
cancels).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pluma.server.images.base import ImageRequest, Progress
from pluma.server.images.jobs import GenerationJob

Event = tuple[str, Any]
"""``("progress", Progress)`` or ``("end", (event name, data))``."""


@dataclass(eq=False)
class TrackedJob:
    job: GenerationJob
    connection: dict[str, str]
    request: ImageRequest
    detached: bool = False
    created: float = field(default_factory=time.time)
    state: str = "starting"
    """``starting``, ``queued`` (behind other jobs on the backend), ``running``."""
    last: Progress | None = None
    listeners: set[asyncio.Queue[Event]] = field(default_factory=set)
    end: tuple[str, Any] | None = None

    @property
    def id(self) -> str:
        return self.job.id

    def summary(self) -> dict[str, Any]:
        """What the page's queue shows for this job."""
        last = self.last
        return {
            "job_id": self.id,
            "state": self.state,
            "prompt": self.request.prompt,
            "mode": "hires" if self.request.hires else self.request.mode,
            "images": self.request.batch_size * self.request.batch_count,
            "connection": self.connection,
            "detached": self.detached,
            "created": self.created,
            "fraction": round(last.fraction, 4) if last else 0.0,
            "text": last.text if last else None,
        }

    def listen(self) -> asyncio.Queue[Event]:
        """Register a listener: everything reported from now on reaches it.
        Pair with :meth:`leave` (in a ``finally``)."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self.listeners.add(queue)
        return queue

    def leave(self, queue: asyncio.Queue[Event]) -> None:
        """Unregister; the last listener of a job not detached cancels it."""
        self.listeners.discard(queue)
        if not self.detached and not self.listeners and self.end is None:
            self.job.cancel()

    async def events(self, queue: asyncio.Queue[Event]) -> AsyncIterator[Event]:
        """A listener's progress events, then the end (at once if it ended)."""
        if self.end is not None:
            yield ("end", self.end)
            return
        while True:
            kind, data = await queue.get()
            yield kind, data
            if kind == "end":
                return


JOBS: dict[str, TrackedJob] = {}
"""Jobs not yet ended, by id (insertion order = oldest first)."""

_drivers: set[asyncio.Task[None]] = set()


def start(
    job: GenerationJob,
    connection: dict[str, str],
    request: ImageRequest,
    detached: bool,
    finish: Callable[[GenerationJob], Awaitable[tuple[str, Any]]],
) -> TrackedJob:
    """Register ``job`` and drive it in a task of its own."""
    tracked = TrackedJob(job, connection, request, detached)
    JOBS[job.id] = tracked

    async def drive() -> None:
        try:
            async for progress in job.progress():
                tracked.state = "queued" if progress.queued else "running"
                tracked.last = progress
                for queue in tracked.listeners:
                    queue.put_nowait(("progress", progress))
            tracked.end = await finish(job)
        finally:
            JOBS.pop(job.id, None)
            if tracked.end is None:
                tracked.end = ("error", {"message": "the job ended", "code": "internal"})
            for queue in tracked.listeners:
                queue.put_nowait(("end", tracked.end))
            job.stop_later()

    driver = asyncio.ensure_future(drive())
    _drivers.add(driver)
    driver.add_done_callback(_drivers.discard)
    return tracked


def listing() -> list[dict[str, Any]]:
    return [tracked.summary() for tracked in JOBS.values()]
