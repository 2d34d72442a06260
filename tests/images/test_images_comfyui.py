"""The ComfyUI provider against the fake ComfyUI (HTTP + websocket) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from pluma.server.images import ImageBackendError, ImageRequest, Progress
from pluma.server.images.comfyui import ComfyUIProvider
from pluma.server.images.profiles import ImageConnectionProfile
from pluma.server.images.workflows import default_workflow
from tests.support.fake_a1111 import png_size
from tests.support.fake_comfyui import FakeComfyUI


def provider_for(
    fake: FakeComfyUI, client: httpx.AsyncClient, **profile: object
) -> ComfyUIProvider:
    prof = ImageConnectionProfile(
        id="c1",
        name="comfy",
        kind="comfyui",
        base_url=fake.url,
        **profile,  # type: ignore[arg-type]
    )
    return ComfyUIProvider(prof, client, history_poll_interval=0.02)


@pytest.fixture
async def client():
    async with httpx.AsyncClient() as c:
        yield c


async def test_full_generation_with_progress(client: httpx.AsyncClient) -> None:
    with FakeComfyUI(step_delay=0.005) as fake:
        reports: list[Progress] = []
        request = ImageRequest(
            prompt='a "lighthouse"\nat dusk',
            negative_prompt="text",
            width=80,
            height=48,
            steps=6,
            cfg_scale=4.5,
            sampler="dpmpp_2m",
            scheduler="karras",
            batch_size=2,
            checkpoint="v1-5-pruned-emaonly.ckpt",
        )
        result = await provider_for(fake, client).generate(request, reports.append)

    assert len(result.images) == 2
    assert all(png_size(i.data) == (80, 48) and i.mime_type == "image/png" for i in result.images)
    body = fake.prompts[-1]
    graph = body["prompt"]
    assert body["client_id"]
    ws = next(r for r in fake.requests if r.method == "WS")
    assert ws.path == "/ws"
    sampler = graph["3"]["inputs"]
    assert isinstance(sampler["seed"], int) and sampler["seed"] == result.seed
    assert (sampler["steps"], sampler["cfg"], sampler["sampler_name"], sampler["scheduler"]) == (
        6,
        4.5,
        "dpmpp_2m",
        "karras",
    )
    assert graph["6"]["inputs"]["text"] == 'a "lighthouse"\nat dusk'
    assert graph["4"]["inputs"]["ckpt_name"] == "v1-5-pruned-emaonly.ckpt"
    assert graph["5"]["inputs"] == {"width": 80, "height": 48, "batch_size": 2}
    assert result.parameters["checkpoint"] == "v1-5-pruned-emaonly.ckpt"
    assert result.info["comfyui"]["output_nodes"] == ["9"]
    # Progress: the sampler's steps from the websocket, and binary previews.
    steps = [(p.step, p.steps) for p in reports if p.step is not None]
    assert steps == [(i, 6) for i in range(1, 7)]
    assert any(p.preview is not None and p.preview.mime_type == "image/png" for p in reports)
    assert any(p.node == "3" for p in reports)
    assert "/view" in fake.paths("GET") and any(p.startswith("/history/") for p in fake.paths())


async def test_first_checkpoint_when_none_chosen(client: httpx.AsyncClient) -> None:
    with FakeComfyUI() as fake:
        result = await provider_for(fake, client).generate(
            ImageRequest(prompt="x", steps=1, seed=5)
        )
    assert fake.prompts[-1]["prompt"]["4"]["inputs"]["ckpt_name"] == "sd_xl_base_1.0.safetensors"
    assert result.seed == 5
    assert "/object_info/CheckpointLoaderSimple" in fake.paths("GET")


async def test_save_and_preview_yield_each_picture_once(client: httpx.AsyncClient) -> None:
    # A workflow that both saves and previews the decoded pictures: ComfyUI
    # lists them under both nodes (type "output" and type "temp"). The saved
    # ones are the result; the temp copies were progress.
    workflow = default_workflow()
    workflow["10"] = {"class_type": "PreviewImage", "inputs": {"images": ["8", 0]}}
    reports: list[Progress] = []
    with FakeComfyUI(preview_every=0) as fake:
        result = await provider_for(fake, client, workflow=workflow).generate(
            ImageRequest(prompt="x", steps=1, width=64, height=64, batch_size=2),
            reports.append,
        )
    assert result.info["comfyui"]["output_nodes"] == ["9"]
    assert len(result.images) == 2
    outputs = fake.history[result.info["comfyui"]["prompt_id"]]["outputs"]
    assert {ref["type"] for ref in outputs["10"]["images"]} == {"temp"}
    viewed = [r for r in fake.requests if r.path == "/view"]
    # The preview node's picture came as progress (one fetch), never as a result.
    previews = [p for p in reports if p.preview is not None]
    assert len(previews) == 1 and previews[0].preview is not None
    assert png_size(previews[0].preview.data) == (64, 64)
    assert len(viewed) == 3  # one temp preview + the two saved pictures


async def test_preview_only_workflow_still_returns_its_pictures(
    client: httpx.AsyncClient,
) -> None:
    workflow = default_workflow()
    workflow["9"] = {"class_type": "PreviewImage", "inputs": {"images": ["8", 0]}}
    with FakeComfyUI(preview_every=0) as fake:
        result = await provider_for(fake, client, workflow=workflow).generate(
            ImageRequest(prompt="x", steps=1, width=64, height=64)
        )
    assert len(result.images) == 1 and result.info["comfyui"]["output_nodes"] == ["9"]


async def test_checkpoints_and_ping(client: httpx.AsyncClient) -> None:
    with FakeComfyUI() as fake:
        provider = provider_for(fake, client)
        await provider.ping()
        assert await provider.list_checkpoints() == fake.checkpoints
    assert fake.paths("GET") == ["/system_stats", "/object_info/CheckpointLoaderSimple"]
    with FakeComfyUI(combo_format=True) as fake:
        assert await provider_for(fake, client).list_checkpoints() == fake.checkpoints


async def test_node_error_names_the_node(client: httpx.AsyncClient) -> None:
    with FakeComfyUI() as fake, pytest.raises(ImageBackendError) as err:
        await provider_for(fake, client).generate(
            ImageRequest(prompt="x", checkpoint="missing.safetensors")
        )
    assert err.value.code == "node_error"
    message = err.value.message
    assert "node 4 (CheckpointLoaderSimple)" in message
    assert "Value not in list" in message and "missing.safetensors" in message
    assert "Prompt outputs failed validation" in message


async def test_unknown_node_class(client: httpx.AsyncClient) -> None:
    workflow = default_workflow()
    workflow["11"] = {"class_type": "FancyUpscaler", "inputs": {}}
    with FakeComfyUI() as fake, pytest.raises(ImageBackendError) as err:
        await provider_for(fake, client, workflow=workflow).generate(ImageRequest(prompt="x"))
    assert "FancyUpscaler does not exist" in err.value.message
    assert "#11" in err.value.message


async def test_execution_error_names_the_node(client: httpx.AsyncClient) -> None:
    with FakeComfyUI(fail_node="3") as fake, pytest.raises(ImageBackendError) as err:
        await provider_for(fake, client).generate(ImageRequest(prompt="x", steps=2))
    assert err.value.code == "execution"
    assert "node 3 (KSampler)" in err.value.message
    assert "out of memory" in err.value.message


async def test_workflow_without_prompt_placeholder(client: httpx.AsyncClient) -> None:
    workflow = default_workflow()
    workflow["6"]["inputs"]["text"] = "a fixed prompt"
    with FakeComfyUI() as fake, pytest.raises(ImageBackendError) as err:
        await provider_for(fake, client, workflow=workflow).generate(ImageRequest(prompt="x"))
    assert err.value.code == "workflow" and err.value.status == 400
    assert "%prompt%" in err.value.message
    assert fake.prompts == []  # never sent


async def test_missing_optional_placeholder_warns(client: httpx.AsyncClient) -> None:
    workflow = default_workflow()
    workflow["3"]["inputs"]["seed"] = 99
    with FakeComfyUI() as fake:
        result = await provider_for(fake, client, workflow=workflow).generate(
            ImageRequest(prompt="x", steps=1)
        )
    assert fake.prompts[-1]["prompt"]["3"]["inputs"]["seed"] == 99
    assert any("%seed%" in w for w in result.info["comfyui"]["warnings"])


async def test_bearer_auth(client: httpx.AsyncClient) -> None:
    with FakeComfyUI(token="tok-123456") as fake:
        good = provider_for(fake, client, auth="bearer", secret="tok-123456")
        result = await good.generate(ImageRequest(prompt="x", steps=1))
        assert result.images
        assert all(r.headers.get("authorization") == "Bearer tok-123456" for r in fake.requests)

        bad = provider_for(fake, client, auth="bearer", secret="nope-nope")
        with pytest.raises(ImageBackendError) as err:
            await bad.generate(
                ImageRequest(prompt="x", steps=1, checkpoint="v1-5-pruned-emaonly.ckpt")
            )
        assert err.value.code == "auth"
        assert "nope-nope" not in err.value.message
        with pytest.raises(ImageBackendError) as err:
            await bad.ping()
        assert err.value.code == "auth"


async def test_basic_auth_on_http_and_websocket(client: httpx.AsyncClient) -> None:
    with FakeComfyUI(basic="amy:proxy-pw") as fake:
        good = provider_for(fake, client, auth="basic", username="amy", secret="proxy-pw")
        assert (await good.generate(ImageRequest(prompt="x", steps=1))).images
        assert {r.method for r in fake.requests} >= {"WS", "GET", "POST"}
        assert all(r.headers.get("authorization", "").startswith("Basic ") for r in fake.requests)

        # A workflow that fixes its checkpoint needs no list: the websocket
        # is the first thing to meet the proxy's refusal.
        fixed = default_workflow()
        fixed["4"]["inputs"]["ckpt_name"] = "v1-5-pruned-emaonly.ckpt"
        bad = provider_for(
            fake, client, auth="basic", username="amy", secret="wrong-pw", workflow=fixed
        )
        with pytest.raises(ImageBackendError) as err:
            await bad.generate(ImageRequest(prompt="x", steps=1))
    assert err.value.code == "auth" and "/ws" in err.value.message
    assert "wrong-pw" not in err.value.message


async def test_backend_down(client: httpx.AsyncClient) -> None:
    with FakeComfyUI() as fake:
        url = fake.url
    provider = ComfyUIProvider(
        ImageConnectionProfile(id="c", name="comfy", kind="comfyui", base_url=url), client
    )
    for call in (provider.ping(), provider.generate(ImageRequest(prompt="x", checkpoint="a"))):
        with pytest.raises(ImageBackendError) as err:
            await call
        assert err.value.code == "unreachable"
        assert url in err.value.message


async def test_cancel_interrupts_the_backend(client: httpx.AsyncClient) -> None:
    with FakeComfyUI(step_delay=0.05) as fake:
        provider = provider_for(fake, client)
        stepping = asyncio.Event()

        def on_progress(p: Progress) -> None:
            if p.step:
                stepping.set()

        task = asyncio.ensure_future(
            provider.generate(ImageRequest(prompt="x", steps=400), on_progress)
        )
        await asyncio.wait_for(stepping.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.to_thread(fake.interrupt_received.wait, 5)
        prompt_id = fake.deleted[-1]
        assert fake.interrupts[-1] == {"prompt_id": prompt_id}
        # The job stops on the backend and is recorded as interrupted.
        assert await asyncio.to_thread(fake.job_finished.wait, 5)
        status = fake.history[prompt_id]["status"]
    assert status["status_str"] == "error"
    assert status["messages"][-1][0] == "execution_interrupted"
    assert fake.steps_run < 400


async def test_cancel_while_the_prompt_is_being_queued(client: httpx.AsyncClient) -> None:
    """A cancel that lands while ``POST /prompt`` is in flight still drops
    the job ComfyUI queues (it would otherwise run with nobody watching)."""
    answer = threading.Event()
    with FakeComfyUI(step_delay=0.05, hold_prompts=answer) as fake:
        provider = provider_for(fake, client)
        task = asyncio.ensure_future(
            provider.generate(
                ImageRequest(prompt="x", steps=400, checkpoint="v1-5-pruned-emaonly.ckpt")
            )
        )
        assert await asyncio.to_thread(fake.prompt_received.wait, 10)
        task.cancel()
        answer.set()  # ComfyUI answers the POST only now, and queues the job
        with pytest.raises(asyncio.CancelledError):
            await task
        sent = fake.prompts[-1]["prompt_id"]
        assert fake.deleted == [sent]
        if fake.job_started.is_set():  # it began before the delete came: interrupted
            assert fake.interrupts == [{"prompt_id": sent}]
            assert await asyncio.to_thread(fake.job_finished.wait, 5)
            assert fake.history[sent]["status"]["messages"][-1][0] == "execution_interrupted"
        else:  # deleted while queued: it never starts, nothing to interrupt
            assert fake.interrupts == []
    assert fake.steps_run < 400


async def test_timeout_interrupts_and_says_so(client: httpx.AsyncClient) -> None:
    with FakeComfyUI(step_delay=0.05) as fake:
        provider = provider_for(fake, client, timeout=0.3)
        with pytest.raises(ImageBackendError) as err:
            await provider.generate(
                ImageRequest(prompt="x", steps=400, checkpoint="v1-5-pruned-emaonly.ckpt")
            )
        assert await asyncio.to_thread(fake.interrupt_received.wait, 5)
    assert err.value.code == "execution"
    assert "did not finish the job in 0.3 s" in err.value.message and "timeout" in err.value.message
    assert fake.steps_run < 400


async def test_cancel_of_a_queued_job_leaves_the_running_one_alone(
    client: httpx.AsyncClient,
) -> None:
    """On a shared ComfyUI, cancelling our job still waiting in the queue
    deletes it and sends no ``/interrupt`` (which older ComfyUI applies to
    whatever runs: here, someone else's job)."""
    request = ImageRequest(prompt="x", steps=40, checkpoint="v1-5-pruned-emaonly.ckpt")
    with FakeComfyUI(step_delay=0.02) as fake:
        other = asyncio.ensure_future(provider_for(fake, client).generate(request))
        assert await asyncio.to_thread(fake.job_started.wait, 10)
        fake.prompt_received.clear()
        mine = asyncio.ensure_future(provider_for(fake, client).generate(request))
        assert await asyncio.to_thread(fake.prompt_received.wait, 10)
        mine.cancel()
        with pytest.raises(asyncio.CancelledError):
            await mine
        mine_id = fake.prompts[-1]["prompt_id"]
        assert fake.deleted == [mine_id]
        assert fake.interrupts == []
        assert (await other).images  # the other job ran to its end
    assert fake.steps_run == 40


async def test_a_waiting_job_reports_its_place_and_none_of_the_other_jobs_progress(
    client: httpx.AsyncClient,
) -> None:
    request = ImageRequest(prompt="x", steps=30, checkpoint="v1-5-pruned-emaonly.ckpt")
    with FakeComfyUI(step_delay=0.02) as fake:
        other = asyncio.ensure_future(provider_for(fake, client).generate(request))
        assert await asyncio.to_thread(fake.job_started.wait, 10)
        reports: list[Progress] = []
        mine = await provider_for(fake, client).generate(
            ImageRequest(prompt="mine", steps=3, checkpoint="v1-5-pruned-emaonly.ckpt"),
            reports.append,
        )
        await other
    waiting = [r for r in reports if r.queued]
    assert waiting and waiting[0].text == "In queue: 2/2"
    last_wait = max(i for i, r in enumerate(reports) if r.queued)
    running = reports[last_wait + 1 :]
    assert running and all(not r.queued for r in running)
    assert all(r.queued for r in reports[:last_wait])  # waiting, then running
    # Only our three sampler steps were reported, never the other job's thirty.
    assert {r.steps for r in reports if r.steps} == {3}
    assert all(r.preview is None for r in waiting)
    assert mine.images


async def test_interrupted_elsewhere(client: httpx.AsyncClient) -> None:
    with FakeComfyUI(step_delay=0.05) as fake:
        provider = provider_for(fake, client)
        stepping = asyncio.Event()
        task = asyncio.ensure_future(
            provider.generate(
                ImageRequest(prompt="x", steps=400), lambda p: stepping.set() if p.step else None
            )
        )
        await asyncio.wait_for(stepping.wait(), 10)
        await client.post(fake.url + "/interrupt")  # someone pressed Cancel in ComfyUI
        with pytest.raises(ImageBackendError) as err:
            await task
    assert err.value.code == "interrupted"


async def test_websocket_lost_falls_back_to_history(client: httpx.AsyncClient) -> None:
    with FakeComfyUI(step_delay=0.01, drop_socket_at_step=2) as fake:
        reports: list[Progress] = []
        result = await provider_for(fake, client).generate(
            ImageRequest(prompt="x", steps=10, seed=3), reports.append
        )
    assert [p.step for p in reports if p.step] == [1, 2]
    assert len(result.images) == 1 and result.seed == 3
    assert fake.steps_run == 10
    assert sum(1 for p in fake.paths("GET") if p.startswith("/history/")) >= 2
