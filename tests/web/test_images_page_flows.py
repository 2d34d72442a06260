"""The Images view's newer flows in Debian's Chromium against a real
``pluma serve`` and the fake backends: every parameter reaches the backend,
the queue with a second client sharing A1111 (and a reload in the middle),
image-to-image and inpainting from the gallery (a reload in the middle), and
a picture sent into a chat message."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.fake_a1111 import FakeA1111, png
from tests.support.fake_comfyui import FakeComfyUI
from tests.support.server_process import PlumaServer
from tests.web.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("web-images")]

MASK = png(64, 64, (255, 255, 255))


def connect(server: PlumaServer, url: str, kind: str = "a1111") -> None:
    with server.client() as client:
        r = client.post(
            "/api/image-connections",
            json={"name": "Backend", "kind": kind, "base_url": url, "activate": True},
        )
        assert r.status_code == 201, r.text


def open_images(new_page: Any, server: PlumaServer) -> tuple[Any, Any]:
    page = new_page(server.url + "/#images")
    view = page.locator("#view-images")
    view.get_by_text("Using Backend").wait_for()
    view.locator("select option", has_text="DDIM").first.wait_for(state="attached")
    return page, view


@pytest.fixture
def a1111(tmp_path: Path) -> Iterator[tuple[FakeA1111, PlumaServer]]:
    with FakeA1111(step_delay=0.05) as fake, PlumaServer(tmp_path) as server:
        connect(server, fake.url)
        yield fake, server


def test_every_parameter_reaches_the_backend(
    a1111: tuple[FakeA1111, PlumaServer], new_page: Any
) -> None:
    fake, server = a1111
    page, view = open_images(new_page, server)
    view.get_by_label("Prompt", exact=True).fill("a castle")
    view.get_by_label("Steps", exact=True).fill("2")
    view.get_by_label("CFG scale").fill("5.5")
    view.get_by_label("Sampler").select_option("DDIM")
    view.get_by_label("Scheduler").select_option("karras")
    view.get_by_label("VAE").select_option("vae-ft-mse-840000-ema-pruned.safetensors")
    view.get_by_label("Batch size").fill("2")
    view.get_by_label("Batch count").fill("2")
    view.get_by_label("Upscale in a second pass").check()
    view.get_by_label("Upscale by").fill("1.5")
    view.get_by_label("Upscaler", exact=True).select_option("Lanczos")
    view.get_by_label("Hires denoise").fill("0.35")
    view.get_by_label("LoRA", exact=True).select_option("add_detail")
    view.get_by_label("Weight").fill("0.6")
    view.get_by_role("button", name="Add LoRA").click()
    view.get_by_text("add_detail × 0.6").wait_for()
    screenshot(page, "images-form")
    view.get_by_role("button", name="Generate").click()
    view.get_by_text("Done: 4 images").wait_for()
    body = next(r.body for r in fake.requests if r.path == "/sdapi/v1/txt2img")
    assert body["prompt"] == "a castle <lora:add_detail:0.6>"
    assert (body["cfg_scale"], body["sampler_name"], body["scheduler"]) == (5.5, "DDIM", "karras")
    assert (body["batch_size"], body["n_iter"]) == (2, 2)
    assert body["override_settings"]["sd_vae"] == "vae-ft-mse-840000-ema-pruned.safetensors"
    assert (body["enable_hr"], body["hr_scale"], body["hr_upscaler"]) == (True, 1.5, "Lanczos")
    assert body["denoising_strength"] == 0.35
    assert view.locator(".gallery figure").count() == 4
    assert not page.js_errors


def test_queue_with_a_second_client_survives_a_reload_and_cancel_spares_the_other_job(
    a1111: tuple[FakeA1111, PlumaServer], new_page: Any
) -> None:
    fake, server = a1111
    other = {"prompt": "someone else's", "steps": 300, "force_task_id": "task(other)"}
    thread = threading.Thread(
        target=lambda: httpx.post(fake.url + "/sdapi/v1/txt2img", json=other, timeout=60),
        daemon=True,
    )
    thread.start()
    assert fake.job_started.wait(10)

    page, view = open_images(new_page, server)
    view.get_by_label("Prompt", exact=True).fill("mine")
    view.get_by_label("Steps", exact=True).fill("140")
    view.get_by_role("button", name="Generate").click()
    row = view.locator(".job-queue li", has_text="mine")
    row.get_by_text("Waiting: In queue: 1/1").wait_for()
    expect(view.locator(".preview")).to_be_hidden()  # the other job's previews are not ours
    screenshot(page, "images-queue")

    # A reload in the middle: the job is still listed, followed, cancellable,
    # and the form kept what was typed.
    page.reload()
    page.wait_for_selector("body.ready")
    row = view.locator(".job-queue li", has_text="mine")
    row.get_by_text("Waiting").wait_for()
    assert view.get_by_label("Prompt", exact=True).input_value() == "mine"
    row.get_by_role("button", name="Cancel: mine").click()
    view.get_by_text("Cancelled.").wait_for()
    row.wait_for(state="detached")

    thread.join(30)
    mine = next(t for t in fake.tasks.values() if t.id.startswith("task(pluma-"))
    assert mine.finished.wait(30)
    theirs = fake.tasks["task(other)"]
    assert theirs.steps_run == 300 and not theirs.interrupted
    assert mine.interrupted and mine.steps_run < 140 // 2  # stopped early, not run through
    assert fake.interrupts == [mine.id]
    assert not page.js_errors


def test_inpainting_from_the_gallery_across_a_reload_then_send_to_chat(
    a1111: tuple[FakeA1111, PlumaServer], new_page: Any, tmp_path: Path
) -> None:
    fake, server = a1111
    page, view = open_images(new_page, server)
    view.get_by_label("Prompt", exact=True).fill("a field")
    view.get_by_label("Steps", exact=True).fill("1")
    view.get_by_label("Size", exact=True).select_option("512x512")
    view.get_by_role("button", name="Generate").click()
    view.get_by_text("Done: 1 image").wait_for()
    first = view.locator(".gallery figure").first
    src = first.locator("img").get_attribute("src")
    assert src
    with server.client() as client:
        picture = client.get(src).content

    first.get_by_role("button", name="Use as init image: a field").click()
    view.get_by_text("Init image: a field").wait_for()
    view.get_by_label("Denoising strength").fill("0.4")
    mask_file = tmp_path / "mask.png"
    mask_file.write_bytes(MASK)
    view.get_by_label("Mask (inpainting)").set_input_files(str(mask_file))
    view.get_by_text("Mask: mask.png").wait_for()
    expect(view.get_by_label("Upscale in a second pass")).to_be_hidden()  # txt2img only

    page.reload()  # in the middle: the init image, mask and denoise are kept
    page.wait_for_selector("body.ready")
    view.get_by_text("Init image: a field").wait_for()
    view.get_by_text("Mask: mask.png").wait_for()
    assert view.get_by_label("Denoising strength").input_value() == "0.4"
    view.get_by_label("Prompt", exact=True).fill("a field with a hat")
    view.get_by_role("button", name="Generate").click()
    view.get_by_text("Done: 1 image").wait_for()
    body = next(r.body for r in fake.requests if r.path == "/sdapi/v1/img2img")
    assert base64.b64decode(body["init_images"][0]) == picture
    assert base64.b64decode(body["mask"]) == MASK
    assert body["denoising_strength"] == 0.4
    caption = view.locator(".gallery figure").first.inner_text()
    assert "inpainting" in caption

    view.locator(".gallery figure").first.get_by_role(
        "button", name="Send to chat: a field with a hat"
    ).click()
    page.locator("#view-chat").wait_for()
    thumb = page.locator("#attachments img")
    thumb.wait_for()
    assert thumb.evaluate("img => img.src.startsWith('data:image/png;base64,')")
    assert page.locator("#composer-input").evaluate("el => el === document.activeElement")
    assert not page.js_errors


def test_comfyui_img2img_upload_through_the_page(tmp_path: Path, new_page: Any) -> None:
    with FakeComfyUI(step_delay=0.01) as fake, PlumaServer(tmp_path) as server:
        connect(server, fake.url, "comfyui")
        page = new_page(server.url + "/#images")
        view = page.locator("#view-images")
        view.get_by_text("Using Backend").wait_for()
        view.locator("select option", has_text="dpmpp_2m").wait_for(state="attached")
        init = tmp_path / "init.png"
        init.write_bytes(png(64, 64, (1, 2, 3)))
        view.get_by_label("Init image").set_input_files(str(init))
        view.get_by_text("Init image: init.png").wait_for()
        view.get_by_label("Prompt", exact=True).fill("repaint")
        view.get_by_label("Steps", exact=True).fill("1")
        view.get_by_label("Sampler").select_option("dpmpp_2m")
        view.get_by_role("button", name="Generate").click()
        view.get_by_text("Done: 1 image").wait_for()
    uploaded = [data for (_, _, kind), data in fake.files.items() if kind == "input"]
    assert uploaded == [init.read_bytes()]
    prompt = fake.prompts[-1]["prompt"]
    assert any(n["class_type"] == "LoadImage" for n in prompt.values())
    assert prompt["3"]["inputs"]["sampler_name"] == "dpmpp_2m"
    assert not page.js_errors


def test_paint_a_mask_on_the_init_image(
    a1111: tuple[FakeA1111, PlumaServer], new_page: Any, tmp_path: Path
) -> None:
    fake, server = a1111
    page, view = open_images(new_page, server)
    init = tmp_path / "init.png"
    init.write_bytes(png(256, 256, (40, 90, 160)))
    view.get_by_label("Init image").set_input_files(str(init))
    view.get_by_text("Init image: init.png").wait_for()
    view.get_by_role("button", name="Paint mask").click()
    canvas = view.get_by_label("Init image: paint the area to repaint")
    canvas.wait_for()
    box = canvas.bounding_box()
    assert box is not None
    # A stroke across the left half, in the middle.
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 5, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.45, y, steps=8)
    page.mouse.up()
    screenshot(page, "images-mask-painter")
    view.get_by_role("button", name="Use mask").click()
    view.get_by_text("Mask: painted on the init image").wait_for()
    view.get_by_label("Prompt", exact=True).fill("a red stripe")
    view.get_by_label("Steps", exact=True).fill("1")
    view.get_by_role("button", name="Generate").click()
    view.get_by_text("Done: 1 image").wait_for()
    body = next(r.body for r in fake.requests if r.path == "/sdapi/v1/img2img")
    # The mask has the picture's size, white where painted, black elsewhere.
    pixels = page.evaluate(
        """async (b64) => {
            const img = new Image();
            img.src = "data:image/png;base64," + b64;
            await img.decode();
            const c = document.createElement("canvas");
            c.width = img.naturalWidth; c.height = img.naturalHeight;
            const g = c.getContext("2d");
            g.drawImage(img, 0, 0);
            const at = (x, y) => Array.from(g.getImageData(x, y, 1, 1).data.slice(0, 3));
            return {size: [c.width, c.height], painted: at(60, 128), kept: at(220, 20)};
        }""",
        body["mask"],
    )
    assert pixels == {"size": [256, 256], "painted": [255, 255, 255], "kept": [0, 0, 0]}
    assert not page.js_errors
