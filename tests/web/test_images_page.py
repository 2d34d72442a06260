"""Settings → Image backends and the Images view, against the fake
AUTOMATIC1111 API (tests/support/fake_a1111.py) behind a real ``pluma serve``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_a1111 import FakeA1111
from tests.support.server_process import PlumaServer
from tests.web.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("web-images")]


def test_image_backend_settings_generate_cancel_and_gallery(tmp_path: Path, new_page: Any) -> None:
    with FakeA1111(step_delay=0.1) as fake, PlumaServer(tmp_path) as server:
        page = new_page(server.url + "/#settings")
        section = page.locator("#image-settings")
        section.get_by_role("button", name="Add image backend").click()
        form = page.get_by_role("form", name="Add an image backend")
        kinds = (
            form.get_by_label("Kind").locator("option").evaluate_all("os => os.map(o => o.value)")
        )
        assert {"a1111", "comfyui"} <= set(kinds)  # from /api/image-providers
        form.get_by_label("Name", exact=True).fill("Fake SD")
        form.get_by_label("Base URL").fill(fake.url)
        form.get_by_role("button", name="Add image backend").click()
        row = section.locator("li", has_text="Fake SD")
        row.get_by_role("button", name="Test Fake SD").click()
        row.locator(".verdict.ok", has_text="2 checkpoints").wait_for()

        page.get_by_role("button", name="Images", exact=True).click()
        view = page.locator("#view-images")
        view.get_by_text("Using Fake SD").wait_for()
        view.locator("select option", has_text="dreamshaper_8").wait_for(state="attached")

        # A long job: progress shows, then Cancel interrupts the backend.
        view.get_by_label("Prompt", exact=True).fill("a red square")
        view.get_by_label("Steps", exact=True).fill("60")
        view.get_by_role("button", name="Generate").click()
        page.wait_for_function(
            "() => { const p = document.querySelector('#view-images progress');"
            " return p && p.value > 0 && p.value < 1; }"
        )
        assert "Step" in view.locator(".progress-box").inner_text()
        screenshot(page, "images-progress")
        view.get_by_role("button", name="Cancel").click()
        view.get_by_text("Cancelled.").wait_for()
        assert fake.interrupt_received.wait(5), "the backend job was not interrupted"

        # A short job with a fixed seed and checkpoint lands in the gallery.
        view.get_by_label("Negative prompt").fill("blurry")
        view.get_by_label("Steps", exact=True).fill("3")
        view.get_by_label("Seed", exact=True).fill("1234")
        view.get_by_label("Size", exact=True).select_option("768x512")
        view.get_by_label("Checkpoint").select_option(
            label="dreamshaper_8.safetensors [879db523c3]"
        )
        view.get_by_role("button", name="Generate").click()
        view.get_by_text("Done: 1 image").wait_for()
        figure = view.locator(".gallery figure").first
        figure.wait_for()
        caption = figure.inner_text()
        assert "a red square" in caption and "seed 1234" in caption and "768×512" in caption
        assert figure.locator("img").evaluate("img => img.complete && img.naturalWidth") == 768
        sent = [r.body for r in fake.requests if r.path == "/sdapi/v1/txt2img"][-1]
        assert sent["negative_prompt"] == "blurry" and sent["seed"] == 1234
        screenshot(page, "images")

        # A checkpoint removed from the backend since the list was loaded:
        # A1111 silently uses the loaded one; the page says so.
        view.get_by_label("Checkpoint").evaluate(
            "s => s.append(new Option('gone.safetensors', 'gone.safetensors'))"
        )
        view.get_by_label("Checkpoint").select_option("gone.safetensors")
        view.get_by_role("button", name="Generate").click()
        note = view.locator(".warning", has_text="gone.safetensors")
        note.wait_for()
        assert "v1-5-pruned-emaonly.safetensors [6ce0161689]" in note.inner_text()

        # A backend failure is shown inline with what to do.
        fake.fail_with = "CUDA out of memory"
        view.get_by_role("button", name="Generate").click()
        alert = view.locator(".error[role=alert]")
        alert.wait_for()
        assert "CUDA out of memory" in alert.inner_text()
        assert "Settings" in alert.locator(".hint").inner_text()
        fake.fail_with = None

        # A ComfyUI backend with an uploaded workflow: the page shows its placeholders.
        page.get_by_role("button", name="Settings").click()
        section.get_by_role("button", name="Add image backend").click()
        form = page.get_by_role("form", name="Add an image backend")
        form.get_by_label("Name", exact=True).fill("Comfy")
        form.get_by_label("Kind").select_option("comfyui")
        form.get_by_label("Base URL").fill("http://127.0.0.1:8188")
        upload = form.get_by_label("ComfyUI workflow (API format JSON)")

        def workflow(*names: str) -> dict[str, Any]:
            inputs = {n: f"%{n}%" for n in names}
            return {
                "name": "w.json",
                "mimeType": "application/json",
                "buffer": json.dumps({"3": {"class_type": "KSampler", "inputs": inputs}}).encode(),
            }

        upload.set_input_files(workflow("prompt", "seed", "bogus"))
        note = form.get_by_text("Placeholders used")
        note.wait_for()
        assert "%prompt%, %seed%, %bogus%" in note.inner_text()
        assert "unknown to Pluma: bogus" in note.inner_text()
        form.get_by_role("button", name="Add image backend").click()
        form.locator(".form-error[role=alert]").wait_for()  # the server refuses it too
        assert "bogus" in form.locator(".form-error[role=alert]").inner_text()

        upload.set_input_files(workflow("prompt", "seed"))
        form.get_by_text("unknown to Pluma").wait_for(state="detached")
        form.get_by_role("button", name="Add image backend").click()
        section.locator("li", has_text="Comfy").get_by_text(
            "workflow: custom (prompt, seed)"
        ).wait_for()

        # Activate, edit (the secret stays write-only) and delete, like chat connections.
        section.get_by_role("button", name="Activate Comfy").click()
        section.locator("li.active", has_text="Comfy").wait_for()
        with server.client() as client:
            listed = client.get("/api/image-connections").json()
        active = next(c for c in listed["connections"] if c["id"] == listed["active"])
        assert active["name"] == "Comfy"
        section.get_by_role("button", name="Edit Comfy").click()
        form = page.get_by_role("form", name="Edit Comfy")
        form.get_by_label("Auth").select_option("bearer")
        form.get_by_label("Password or token").fill("comfy-secret-77")
        form.get_by_label("Name", exact=True).fill("Comfy renamed")
        form.get_by_role("button", name="Save").click()
        row = section.locator("li", has_text="Comfy renamed")
        row.get_by_text("secret set").wait_for()
        assert "comfy-secret-77" not in page.content()
        page.once("dialog", lambda d: d.accept())
        section.get_by_role("button", name="Delete Comfy renamed").click()
        row.wait_for(state="detached")
        assert not page.js_errors
