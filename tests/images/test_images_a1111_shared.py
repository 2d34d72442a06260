"""A shared AUTOMATIC1111: another client's job runs while Pluma's waits.

Pluma names its job with ``force_task_id`` and reads only that task's
``/internal/progress``, so it never shows the other job's progress or
previews, and a cancel never interrupts the other job; Pluma's own cancelled
job, which A1111 cannot drop from its queue, is interrupted the moment its
turn comes instead of running to the end.
"""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from pluma.server.images import ImageRequest, Progress
from pluma.server.images.a1111 import A1111Provider
from pluma.server.images.profiles import ImageConnectionProfile
from tests.support.fake_a1111 import FakeA1111, Task


def provider_for(fake: FakeA1111, client: httpx.AsyncClient) -> A1111Provider:
    profile = ImageConnectionProfile(id="p", name="sd", kind="a1111", base_url=fake.url)
    return A1111Provider(profile, client, poll_interval=0.02)


@pytest.fixture
async def client():
    async with httpx.AsyncClient() as c:
        yield c


def other_client_job(fake: FakeA1111, steps: int) -> tuple[threading.Thread, Task]:
    """Another front end's txt2img (its own task id), started and running."""
    body = {"prompt": "someone else's", "steps": steps, "force_task_id": "task(other-1)"}

    def run() -> None:
        httpx.post(fake.url + "/sdapi/v1/txt2img", json=body, timeout=60)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert fake.job_started.wait(10)  # the only job so far: theirs
    task = fake.tasks["task(other-1)"]
    assert task.started.is_set()
    return thread, task


async def test_queued_job_shows_its_place_not_the_other_jobs_progress(
    client: httpx.AsyncClient,
) -> None:
    with FakeA1111(step_delay=0.02) as fake:
        thread, other = other_client_job(fake, steps=40)
        reports: list[Progress] = []
        result = await provider_for(fake, client).generate(
            ImageRequest(prompt="mine", steps=6), reports.append
        )
        await asyncio.to_thread(thread.join, 10)
    assert other.finished.is_set() and not other.interrupted and other.steps_run == 40
    assert len(result.images) == 1
    # While the other job ran, Pluma's report said "queued", in A1111's words.
    waiting = [p for p in reports if p.queued]
    assert waiting and waiting[0].text == "In queue: 1/1" and waiting[0].fraction == 0
    assert all(p.preview is None for p in waiting)
    # Once it ran, the steps are its own six, never the other job's forty.
    running = [p for p in reports if not p.queued]
    assert running and all(p.steps == 6 for p in running)
    last_wait = max(i for i, p in enumerate(reports) if p.queued)
    assert all(p.queued for p in reports[: last_wait + 1])  # waiting, then running
    assert all(not p.queued for p in reports[last_wait + 1 :])
    assert "/sdapi/v1/progress" not in fake.paths()


async def test_cancelling_a_queued_job_spares_the_running_one_and_never_runs_ours(
    client: httpx.AsyncClient,
) -> None:
    with FakeA1111(step_delay=0.02) as fake:
        thread, other = other_client_job(fake, steps=40)
        queued = asyncio.Event()

        def on_progress(progress: Progress) -> None:
            if progress.queued:
                queued.set()

        job = asyncio.ensure_future(
            provider_for(fake, client).generate(ImageRequest(prompt="mine", steps=400), on_progress)
        )
        await asyncio.wait_for(queued.wait(), 10)
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job  # returns once Pluma's job was dealt with
        await asyncio.to_thread(thread.join, 10)
        mine = next(t for t in fake.tasks.values() if t.id.startswith("task(pluma-"))
        assert await asyncio.to_thread(mine.finished.wait, 10)
    # The other client's job ran to its end: no interrupt reached it.
    assert other.steps_run == 40 and not other.interrupted
    # A1111 cannot drop a queued task; Pluma interrupted it the moment it began.
    assert mine.interrupted and mine.steps_run < 400 // 4  # stopped at once, not run through
    assert fake.interrupts == [mine.id]


async def test_nowebui_falls_back_to_the_global_progress(client: httpx.AsyncClient) -> None:
    # Started with --nowebui: no /internal/progress. Pluma shows the global
    # progress and a cancel interrupts while a job runs (documented caveat).
    with FakeA1111(step_delay=0.03, nowebui=True) as fake:
        first = asyncio.Event()

        def on_progress(progress: Progress) -> None:
            if progress.fraction > 0:
                first.set()

        job = asyncio.ensure_future(
            provider_for(fake, client).generate(ImageRequest(prompt="x", steps=400), on_progress)
        )
        await asyncio.wait_for(first.wait(), 10)
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job
        assert await asyncio.to_thread(fake.job_finished.wait, 10)
    assert "/sdapi/v1/progress" in fake.paths("GET")
    assert fake.jobs_interrupted == 1 and fake.steps_run < 400
