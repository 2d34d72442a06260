"""img2img, inpainting, hires fix, LoRAs, VAE, batch count and the option
lists, on both backends (the fakes on 127.0.0.1)."""

from __future__ import annotations

import base64

import httpx
import pytest

from pluma.server.images import ImageRequest
from pluma.server.images.a1111 import A1111Provider
from pluma.server.images.base import HiresFix, InputImage, LoraRef
from pluma.server.images.comfyui import ComfyUIProvider
from pluma.server.images.profiles import ImageConnectionProfile
from tests.support import fake_a1111
from tests.support.fake_a1111 import FakeA1111, png, png_colour, png_size
from tests.support.fake_comfyui import FakeComfyUI

INIT = png(96, 64, (10, 200, 30))
MASK = png(96, 64, (255, 255, 255))


@pytest.fixture
async def client():
    async with httpx.AsyncClient() as c:
        yield c


def a1111(fake: FakeA1111, client: httpx.AsyncClient) -> A1111Provider:
    profile = ImageConnectionProfile(id="p", name="sd", kind="a1111", base_url=fake.url)
    return A1111Provider(profile, client, poll_interval=0.02)


def comfy(fake: FakeComfyUI, client: httpx.AsyncClient, **profile: object) -> ComfyUIProvider:
    prof = ImageConnectionProfile(
        id="c",
        name="comfy",
        kind="comfyui",
        base_url=fake.url,
        **profile,  # type: ignore[arg-type]
    )
    return ComfyUIProvider(prof, client, history_poll_interval=0.02)


# -- AUTOMATIC1111 ---------------------------------------------------------------


async def test_a1111_img2img_sends_the_init_image_and_denoise(client: httpx.AsyncClient) -> None:
    with FakeA1111() as fake:
        result = await a1111(fake, client).generate(
            ImageRequest(
                prompt="repaint",
                steps=2,
                width=96,
                height=64,
                denoise=0.3,
                init_image=InputImage(INIT, source="gallery:x"),
            )
        )
    body = next(r.body for r in fake.requests if r.path == "/sdapi/v1/img2img")
    assert base64.b64decode(body["init_images"][0]) == INIT
    assert body["denoising_strength"] == 0.3 and "mask" not in body
    assert png_colour(result.images[0].data) == (10, 200, 30)  # low denoise keeps it
    # The record describes the picture; it never copies its bytes.
    assert result.parameters["init_image"] == {
        "source": "gallery:x",
        "mime_type": "image/png",
        "bytes": len(INIT),
    }


async def test_a1111_inpainting_sends_the_mask(client: httpx.AsyncClient) -> None:
    with FakeA1111() as fake:
        await a1111(fake, client).generate(
            ImageRequest(
                prompt="a hat",
                steps=1,
                denoise=0.9,
                init_image=InputImage(INIT),
                mask=InputImage(MASK),
            )
        )
    body = next(r.body for r in fake.requests if r.path == "/sdapi/v1/img2img")
    assert base64.b64decode(body["mask"]) == MASK
    assert body["inpainting_mask_invert"] == 0 and body["inpainting_fill"] == 1


async def test_a1111_hires_loras_vae_batch_count_and_scheduler(
    client: httpx.AsyncClient,
) -> None:
    with FakeA1111() as fake:
        result = await a1111(fake, client).generate(
            ImageRequest(
                prompt="castle",
                steps=2,
                width=64,
                height=64,
                seed=100,
                batch_size=2,
                batch_count=3,
                scheduler="karras",
                hires=HiresFix(scale=1.5, upscaler="R-ESRGAN 4x+", steps=3, denoise=0.4),
                loras=[LoraRef("add_detail", 0.7)],
                vae=fake_a1111.VAES[0],
            )
        )
    body = next(r.body for r in fake.requests if r.path == "/sdapi/v1/txt2img")
    assert body["prompt"] == "castle <lora:add_detail:0.7>"
    assert body["override_settings"]["sd_vae"] == fake_a1111.VAES[0]
    assert (body["enable_hr"], body["hr_scale"], body["hr_upscaler"]) == (
        True,
        1.5,
        "R-ESRGAN 4x+",
    )
    assert body["hr_second_pass_steps"] == 3 and body["denoising_strength"] == 0.4
    assert (body["n_iter"], body["batch_size"], body["scheduler"]) == (3, 2, "karras")
    assert len(result.images) == 6 and png_size(result.images[0].data) == (96, 96)
    assert result.parameters["all_seeds"] == list(range(100, 106))
    assert result.parameters["loras"] == [{"name": "add_detail", "weight": 0.7}]


async def test_a1111_lists_its_options(client: httpx.AsyncClient) -> None:
    with FakeA1111() as fake:
        options = await a1111(fake, client).list_options()
    assert options.samplers == fake_a1111.SAMPLERS
    assert options.schedulers == [name for name, _ in fake_a1111.SCHEDULERS]
    assert options.loras == fake_a1111.LORAS and options.vaes == fake_a1111.VAES
    assert options.upscalers[:1] == ["Latent"] and "R-ESRGAN 4x+" in options.upscalers
    assert "None" not in options.upscalers
    assert set(options.modes) == {"txt2img", "img2img", "inpaint", "hires"}


# -- ComfyUI --------------------------------------------------------------------


async def test_comfyui_img2img_uploads_and_fills_the_placeholder(
    client: httpx.AsyncClient,
) -> None:
    with FakeComfyUI() as fake:
        result = await comfy(fake, client).generate(
            ImageRequest(
                prompt="repaint",
                steps=2,
                width=96,
                height=64,
                denoise=0.3,
                init_image=InputImage(INIT),
            )
        )
    uploads = [r for r in fake.requests if r.path == "/upload/image"]
    assert len(uploads) == 1
    stored = [name for (name, _, kind) in fake.files if kind == "input"]
    assert len(stored) == 1 and fake.files[(stored[0], "", "input")] == INIT
    prompt = fake.prompts[-1]["prompt"]
    loads = [n for n in prompt.values() if n["class_type"] == "LoadImage"]
    assert loads[0]["inputs"]["image"] == stored[0]
    sampler = next(n for n in prompt.values() if n["class_type"] == "KSampler")
    assert sampler["inputs"]["denoise"] == 0.3
    assert png_colour(result.images[0].data) == (10, 200, 30)
    assert result.warnings == []


async def test_comfyui_inpainting_uses_the_shipped_workflow_over_an_own_txt2img(
    client: httpx.AsyncClient,
) -> None:
    from pluma.server.images.workflows import default_workflow

    with FakeComfyUI() as fake:
        result = await comfy(fake, client, workflow=default_workflow()).generate(
            ImageRequest(
                prompt="a hat",
                steps=1,
                width=96,
                height=64,
                init_image=InputImage(INIT),
                mask=InputImage(MASK),
            )
        )
    prompt = fake.prompts[-1]["prompt"]
    classes = {n["class_type"] for n in prompt.values()}
    assert {"LoadImage", "LoadImageMask", "VAEEncodeForInpaint"} <= classes
    mask_node = next(n for n in prompt.values() if n["class_type"] == "LoadImageMask")
    assert fake.files[(mask_node["inputs"]["image"], "", "input")] == MASK
    assert any("shipped inpaint workflow" in w for w in result.warnings)


async def test_comfyui_hires_loras_vae_and_batch_count(client: httpx.AsyncClient) -> None:
    with FakeComfyUI() as fake:
        result = await comfy(fake, client).generate(
            ImageRequest(
                prompt="castle",
                steps=2,
                width=64,
                height=64,
                seed=7,
                batch_size=2,
                batch_count=2,
                hires=HiresFix(scale=2.0, upscaler="bislerp", steps=3, denoise=0.45),
                loras=[LoraRef("add_detail.safetensors", 0.6)],
                vae="sdxl_vae.safetensors",
            )
        )
    assert len(fake.prompts) == 2  # batch count: the prompt twice
    seeds = []
    for sent in fake.prompts:
        prompt = sent["prompt"]
        upscale = next(n for n in prompt.values() if n["class_type"] == "LatentUpscaleBy")
        assert upscale["inputs"] == {
            "samples": ["3", 0],
            "upscale_method": "bislerp",
            "scale_by": 2.0,
        }
        second = prompt["11"]["inputs"]
        assert (second["steps"], second["denoise"]) == (3, 0.45)
        lora = next(n for n in prompt.values() if n["class_type"] == "LoraLoader")
        assert lora["inputs"]["lora_name"] == "add_detail.safetensors"
        assert any(n["class_type"] == "VAELoader" for n in prompt.values())
        seeds.append(prompt["3"]["inputs"]["seed"])
    assert seeds == [7, 9]
    assert len(result.images) == 4 and png_size(result.images[0].data) == (128, 128)
    assert result.parameters["all_seeds"] == [7, 8, 9, 10]


async def test_comfyui_checkpoint_reported_by_the_lists_name(client: httpx.AsyncClient) -> None:
    with FakeComfyUI() as fake:
        result = await comfy(fake, client).generate(
            ImageRequest(prompt="x", steps=1, checkpoint="SD_XL_BASE_1.0")
        )
    sent = fake.prompts[-1]["prompt"]["4"]["inputs"]["ckpt_name"]
    assert sent == result.parameters["checkpoint"] == "sd_xl_base_1.0.safetensors"
    assert result.warnings == []


async def test_comfyui_workflow_with_its_own_checkpoint_warns(client: httpx.AsyncClient) -> None:
    from pluma.server.images.workflows import default_workflow

    fixed = default_workflow()
    fixed["4"]["inputs"]["ckpt_name"] = "v1-5-pruned-emaonly.ckpt"
    with FakeComfyUI() as fake:
        result = await comfy(fake, client, workflow=fixed).generate(
            ImageRequest(prompt="x", steps=1, checkpoint="sd_xl_base_1.0.safetensors")
        )
    assert result.parameters["checkpoint"] == "v1-5-pruned-emaonly.ckpt"
    assert any("v1-5-pruned-emaonly.ckpt" in w and "sd_xl_base" in w for w in result.warnings)


async def test_comfyui_lists_its_options(client: httpx.AsyncClient) -> None:
    with FakeComfyUI(combo_format=True) as fake:
        options = await comfy(fake, client).list_options()
    assert options.samplers == fake.samplers and options.schedulers == fake.schedulers
    assert options.loras == fake.loras and options.vaes == fake.vaes
    assert options.upscalers == fake.upscale_methods
