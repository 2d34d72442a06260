"""``pluma images …`` as a real subprocess against the fake backends."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.fake_a1111 import FakeA1111, png, png_size
from tests.support.fake_comfyui import FakeComfyUI
from tests.support.server_process import run_cli


def test_connections_and_generate_a1111(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with FakeA1111(auth="amy:pw-9876") as fake:
        added = run_cli(
            [
                "images",
                "connections",
                "add",
                "SD",
                "--base-url",
                fake.url,
                "--auth",
                "basic",
                "--username",
                "amy",
                "--secret-stdin",
            ],
            data_dir=data,
            input="pw-9876\n",
        )
        assert added.returncode == 0, added.stderr
        assert "active" in added.stdout
        listed = run_cli(["images", "connections", "list", "--json"], data_dir=data)
        [row] = json.loads(listed.stdout)
        assert row["kind"] == "a1111" and row["has_secret"] and row["active"]
        assert "pw-9876" not in (data / "image_connections.json").read_text()

        tested = run_cli(["images", "connections", "test"], data_dir=data)
        assert tested.returncode == 0 and "2 checkpoints" in tested.stdout

        out = tmp_path / "out"
        made = run_cli(
            [
                "images",
                "generate",
                "a small boat",
                "--steps",
                "3",
                "--seed",
                "77",
                "-W",
                "64",
                "-H",
                "96",
                "--out",
                str(out),
                "--json",
            ],
            data_dir=data,
        )
        assert made.returncode == 0, made.stderr
        [record] = json.loads(made.stdout)
        assert record["parameters"]["seed"] == 77
        assert png_size((out / record["file"]).read_bytes()) == (64, 96)
        assert (data / "images" / record["file"]).is_file()

        gallery = run_cli(["images", "list"], data_dir=data)
        assert record["id"] in gallery.stdout


def test_generate_with_fallback_url_and_errors(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with FakeComfyUI() as fake:
        made = run_cli(
            ["images", "generate", "x", "--steps", "2"],
            data_dir=data,
            env={"PLUMA_IMAGE_URL": fake.url, "PLUMA_IMAGE_KIND": "comfyui"},
        )
        assert made.returncode == 0, made.stderr
        path = Path(made.stdout.strip())
        assert path.is_file() and path.parent == data / "images"
        assert "seed " in made.stderr
        assert "━" not in made.stderr  # not a terminal: no progress bar in logs

        # On a terminal (FORCE_COLOR makes rich treat stderr as one) the bar shows.
        shown = run_cli(
            ["images", "generate", "x", "--steps", "5"],
            data_dir=data,
            env={"PLUMA_IMAGE_URL": fake.url, "PLUMA_IMAGE_KIND": "comfyui", "FORCE_COLOR": "1"},
        )
        assert shown.returncode == 0, shown.stderr
        assert "━" in shown.stderr and "100%" in shown.stderr
        assert "default (comfyui)" in shown.stderr

        bad = run_cli(
            ["images", "generate", "x", "--checkpoint", "missing.ckpt"],
            data_dir=data,
            env={"PLUMA_IMAGE_URL": fake.url, "PLUMA_IMAGE_KIND": "comfyui"},
        )
        assert bad.returncode == 1
        assert "node 4 (CheckpointLoaderSimple)" in bad.stderr

    none = run_cli(["images", "generate", "x"], data_dir=tmp_path / "empty")
    assert none.returncode == 1 and "no image connection is configured" in none.stderr


def test_ctrl_c_interrupts_the_backend(tmp_path: Path) -> None:
    with FakeA1111(step_delay=0.05) as fake:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLUMA_")}
        env.update(
            PLUMA_DATA_DIR=str(tmp_path / "data"), PLUMA_SECRETS="file", PLUMA_IMAGE_URL=fake.url
        )
        with subprocess.Popen(
            [sys.executable, "-m", "pluma", "images", "generate", "x", "--steps", "400"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as proc:
            try:
                assert fake.job_started.wait(30), "the job never reached the backend"
                proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
                _, stderr = proc.communicate(timeout=30)
            finally:
                proc.kill()
        assert proc.returncode == 130, stderr
        assert "cancelled" in stderr
        assert fake.interrupt_received.is_set()  # sent before the CLI exited
        assert fake.job_finished.wait(10) and fake.steps_run < 400
    assert not list((tmp_path / "data").glob("images/*.png"))


def test_generate_inpainting_with_loras_and_a_warning(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init, mask = tmp_path / "init.png", tmp_path / "mask.png"
    init.write_bytes(png(64, 64, (9, 9, 9)))
    mask.write_bytes(png(64, 64, (255, 255, 255)))
    with FakeA1111() as fake:
        added = run_cli(
            ["images", "connections", "add", "SD", "--base-url", fake.url], data_dir=data
        )
        assert added.returncode == 0, added.stderr
        made = run_cli(
            [
                "images",
                "generate",
                "a hat",
                "--steps",
                "1",
                "--init-image",
                str(init),
                "--mask",
                str(mask),
                "--denoise",
                "0.6",
                "--lora",
                "add_detail:0.5",
                "--batch-count",
                "2",
                "--checkpoint",
                "gone",
            ],
            data_dir=data,
        )
        assert made.returncode == 0, made.stderr
        body = next(r.body for r in fake.requests if r.path == "/sdapi/v1/img2img")
    assert base64.b64decode(body["init_images"][0]) == init.read_bytes()
    assert base64.b64decode(body["mask"]) == mask.read_bytes()
    assert body["denoising_strength"] == 0.6 and body["n_iter"] == 2
    assert body["prompt"] == "a hat <lora:add_detail:0.5>"
    assert len(made.stdout.split()) == 2  # two pictures saved
    assert "note: AUTOMATIC1111 has no checkpoint 'gone'" in made.stderr

    refused = run_cli(
        ["images", "generate", "x", "--init-image", str(init), "--hires", "2"], data_dir=data
    )
    assert refused.returncode == 2 and "hires fix applies to text-to-image only" in refused.stderr
