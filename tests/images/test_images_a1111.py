"""The A1111 provider against the fake web UI API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json

import httpx
import pytest

from pluma.server.images import ImageBackendError, ImageRequest, Progress, generate_events
from pluma.server.images.a1111 import A1111Provider
from pluma.server.images.base import ImageResult, create_image_provider, image_provider_kinds
from pluma.server.images.profiles import ImageConnectionProfile
from tests.support.fake_a1111 import MODELS, FakeA1111, png_size


def provider_for(fake: FakeA1111, client: httpx.AsyncClient, **profile: object) -> A1111Provider:
    prof = ImageConnectionProfile(
        id="p1",
        name="sd",
        kind="a1111",
        base_url=fake.url,
        **profile,  # type: ignore[arg-type]
    )
    return A1111Provider(prof, client, poll_interval=0.02)


@pytest.fixture
async def client():
    async with httpx.AsyncClient() as c:
        yield c


async def test_registered() -> None:
    assert {"a1111", "comfyui"} <= set(image_provider_kinds())


async def test_full_generation_with_progress(client: httpx.AsyncClient) -> None:
    with FakeA1111(step_delay=0.03) as fake:
        provider = provider_for(fake, client)
        reports: list[Progress] = []
        request = ImageRequest(
            prompt="a red fox",
            negative_prompt="blurry",
            width=96,
            height=64,
            steps=12,
            cfg_scale=5.5,
            sampler="Euler a",
            batch_size=2,
            checkpoint="dreamshaper_8",
        )
        result = await provider.generate(request, reports.append)

    assert len(result.images) == 2
    for image in result.images:
        assert image.mime_type == "image/png"
        assert png_size(image.data) == (96, 64)
    # The seed was drawn by Pluma, sent, and reported back from A1111's info.
    body = next(r.body for r in fake.requests if r.path == "/sdapi/v1/txt2img")
    assert isinstance(body["seed"], int) and body["seed"] >= 0
    assert result.seed == body["seed"]
    assert result.parameters["all_seeds"] == [body["seed"], body["seed"] + 1]
    assert body["override_settings"] == {"sd_model_checkpoint": "dreamshaper_8"}
    assert body["sampler_name"] == "Euler a"
    assert (body["prompt"], body["negative_prompt"], body["steps"], body["cfg_scale"]) == (
        "a red fox",
        "blurry",
        12,
        5.5,
    )
    # Reported by the name the checkpoint list uses (the title), not info's model_name.
    assert result.parameters["checkpoint"] == "dreamshaper_8.safetensors [879db523c3]"
    assert result.parameters["checkpoint"] in [m["title"] for m in MODELS]
    assert result.warnings == []
    assert result.info["a1111"]["sd_model_hash"] == "879db523c3"
    # Progress came from A1111's per-task endpoint for the id Pluma forced.
    task_id = body["force_task_id"]
    assert task_id.startswith("task(pluma-") and fake.tasks[task_id].steps_run == 12
    asked = [r.body for r in fake.requests if r.path == "/internal/progress"]
    assert asked and all(b["id_task"] == task_id for b in asked)
    assert "/sdapi/v1/progress" not in fake.paths()  # never the global one
    assert reports, "no progress was reported"
    fractions = [p.fraction for p in reports]
    assert fractions == sorted(fractions)
    assert all(0 <= f <= 1 for f in fractions) and fractions[-1] > 0
    assert any(p.preview is not None and p.preview.mime_type == "image/png" for p in reports)


async def test_negative_seed_means_random_and_the_one_used_is_reported(
    client: httpx.AsyncClient,
) -> None:
    with FakeA1111() as fake:
        result = await provider_for(fake, client).generate(
            ImageRequest(prompt="x", steps=1, seed=-1)
        )
    body = next(r.body for r in fake.requests if r.path == "/sdapi/v1/txt2img")
    assert 0 <= body["seed"] <= 2**32 - 1  # drawn by Pluma, never -1 on the wire
    assert result.seed == body["seed"]


async def test_given_seed_is_kept(client: httpx.AsyncClient) -> None:
    with FakeA1111() as fake:
        result = await provider_for(fake, client).generate(
            ImageRequest(prompt="x", steps=2, seed=42)
        )
    assert result.seed == 42
    body = next(r.body for r in fake.requests if r.path == "/sdapi/v1/txt2img")
    assert body["seed"] == 42


async def test_profile_default_checkpoint_used(client: httpx.AsyncClient) -> None:
    with FakeA1111() as fake:
        provider = provider_for(fake, client, default_checkpoint=MODELS[1]["title"])
        await provider.generate(ImageRequest(prompt="x", steps=1))
    body = next(r.body for r in fake.requests if r.path == "/sdapi/v1/txt2img")
    assert body["override_settings"]["sd_model_checkpoint"] == MODELS[1]["title"]


async def test_checkpoints_and_ping(client: httpx.AsyncClient) -> None:
    with FakeA1111() as fake:
        provider = provider_for(fake, client)
        await provider.ping()
        checkpoints = await provider.list_checkpoints()
    assert checkpoints == [m["title"] for m in MODELS]
    assert fake.paths() == ["/sdapi/v1/options", "/sdapi/v1/sd-models"]


async def test_without_api_flag(client: httpx.AsyncClient) -> None:
    with FakeA1111(api=False) as fake:
        provider = provider_for(fake, client)
        for call in (provider.ping(), provider.generate(ImageRequest(prompt="x", steps=1))):
            with pytest.raises(ImageBackendError) as err:
                await call
            assert err.value.code == "api_disabled"
            assert "--api" in err.value.message


async def test_unknown_sampler_keeps_a1111_message(client: httpx.AsyncClient) -> None:
    with FakeA1111() as fake, pytest.raises(ImageBackendError) as err:
        await provider_for(fake, client).generate(ImageRequest(prompt="x", steps=1, sampler="Nope"))
    assert err.value.code == "upstream"
    assert "Sampler not found" in err.value.message


async def test_a1111_exception_answer_keeps_its_explanation(client: httpx.AsyncClient) -> None:
    with FakeA1111(fail_with="CUDA out of memory") as fake, pytest.raises(ImageBackendError) as err:
        await provider_for(fake, client).generate(ImageRequest(prompt="x", steps=1))
    assert err.value.code == "upstream" and "HTTP 500" in err.value.message
    assert "RuntimeError: CUDA out of memory" in err.value.message


async def test_unknown_checkpoint_replaced_silently_is_a_warning(
    client: httpx.AsyncClient,
) -> None:
    # A1111's process_images drops an override it has no alias for and keeps
    # the loaded model; Pluma says so instead of reporting the name asked for.
    with FakeA1111() as fake:
        result = await provider_for(fake, client).generate(
            ImageRequest(prompt="x", steps=1, checkpoint="missing_model")
        )
    loaded = MODELS[0]["title"]
    assert result.parameters["checkpoint"] == loaded
    assert len(result.warnings) == 1
    assert "missing_model" in result.warnings[0] and str(loaded) in result.warnings[0]


async def test_basic_auth(client: httpx.AsyncClient) -> None:
    with FakeA1111(auth="alice:s3cret-pass") as fake:
        good = provider_for(fake, client, auth="basic", username="alice", secret="s3cret-pass")
        await good.ping()
        sent = fake.requests[-1].headers["authorization"]
        assert sent == "Basic " + base64.b64encode(b"alice:s3cret-pass").decode()

        bad = provider_for(fake, client, auth="basic", username="alice", secret="wrong-pass")
        with pytest.raises(ImageBackendError) as err:
            await bad.generate(ImageRequest(prompt="x", steps=1))
    assert err.value.code == "auth"
    assert "credentials" in err.value.message
    assert "wrong-pass" not in err.value.message


async def test_backend_down(client: httpx.AsyncClient) -> None:
    with FakeA1111() as fake:
        url = fake.url
    provider = A1111Provider(
        ImageConnectionProfile(id="p", name="sd", kind="a1111", base_url=url), client
    )
    with pytest.raises(ImageBackendError) as err:
        await provider.generate(ImageRequest(prompt="x"))
    assert err.value.code == "unreachable"
    assert url in err.value.message and "running" in err.value.message


async def test_cancel_interrupts_the_backend(client: httpx.AsyncClient) -> None:
    with FakeA1111(step_delay=0.05) as fake:
        provider = provider_for(fake, client)
        first = asyncio.Event()

        def on_progress(p: Progress) -> None:
            first.set()

        task = asyncio.ensure_future(
            provider.generate(ImageRequest(prompt="x", steps=400), on_progress)
        )
        await asyncio.wait_for(first.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.to_thread(fake.interrupt_received.wait, 5)
        assert await asyncio.to_thread(fake.job_finished.wait, 5)
    assert fake.jobs_interrupted == 1
    assert fake.steps_run < 400
    # It interrupted while its own task was the one running.
    assert fake.interrupts == list(fake.tasks)


async def test_timeout_interrupts_and_says_so(client: httpx.AsyncClient) -> None:
    with FakeA1111(step_delay=0.05) as fake:
        provider = provider_for(fake, client, timeout=0.3)
        with pytest.raises(ImageBackendError) as err:
            await provider.generate(ImageRequest(prompt="x", steps=400))
        assert fake.interrupt_received.is_set()  # told before the error was raised
        assert await asyncio.to_thread(fake.job_finished.wait, 5)
    assert err.value.code == "execution"
    assert "did not finish the job in 0.3 s" in err.value.message and "timeout" in err.value.message
    assert fake.jobs_interrupted == 1 and fake.steps_run < 400


async def test_generate_events_yields_progress_then_result(client: httpx.AsyncClient) -> None:
    with FakeA1111(step_delay=0.03) as fake:
        provider = create_image_provider(
            ImageConnectionProfile(id="p", name="sd", kind="a1111", base_url=fake.url), client
        )
        assert isinstance(provider, A1111Provider)
        provider.poll_interval = 0.02
        items = [
            item async for item in generate_events(provider, ImageRequest(prompt="x", steps=8))
        ]
    assert isinstance(items[-1], ImageResult)
    assert all(isinstance(i, Progress) for i in items[:-1])
    assert len(items) > 1


async def test_leaving_generate_events_early_interrupts(client: httpx.AsyncClient) -> None:
    with FakeA1111(step_delay=0.05) as fake:
        provider = provider_for(fake, client)
        events = generate_events(provider, ImageRequest(prompt="x", steps=400))
        async with contextlib.aclosing(events):
            async for item in events:
                assert isinstance(item, Progress)
                break
        # Closing the iterator waited until the backend was told to stop.
        assert fake.interrupt_received.is_set()
        assert await asyncio.to_thread(fake.job_finished.wait, 5)
    assert fake.jobs_interrupted == 1 and fake.steps_run < 400


async def test_cancelling_a_generate_events_consumer_interrupts(
    client: httpx.AsyncClient,
) -> None:
    with FakeA1111(step_delay=0.05) as fake:
        provider = provider_for(fake, client)
        first = asyncio.Event()

        async def consume() -> None:
            async for _ in generate_events(provider, ImageRequest(prompt="x", steps=400)):
                first.set()

        consumer = asyncio.ensure_future(consume())
        await asyncio.wait_for(first.wait(), 10)
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        # The consumer ended only after the backend was told (shielded cleanup).
        assert fake.interrupt_received.is_set()
        assert await asyncio.to_thread(fake.job_finished.wait, 5)
    assert fake.jobs_interrupted == 1


async def test_info_string_is_parsed(client: httpx.AsyncClient) -> None:
    with FakeA1111() as fake:
        result = await provider_for(fake, client).generate(
            ImageRequest(prompt="x", steps=1, seed=7)
        )
    assert json.dumps(result.info["a1111"])  # a dict, not the raw string
    assert result.info["a1111"]["all_seeds"] == [7]
