"""The generation API's newer parts through a real ``pluma serve``: option
lists, image-to-image from an upload or a gallery picture, inpainting input
checks, warnings, and detached jobs (listed, followed again, cancelled)."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.images.sse import Frame, frames
from tests.support import fake_a1111
from tests.support.fake_a1111 import FakeA1111, png, png_colour
from tests.support.server_process import PlumaServer

INIT = png(64, 64, (10, 200, 30))


@pytest.fixture(scope="module")
def a1111() -> Iterator[FakeA1111]:
    with FakeA1111(step_delay=0.02) as fake:
        yield fake


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory, a1111: FakeA1111) -> Iterator[httpx.Client]:
    with (
        PlumaServer(tmp_path_factory.mktemp("images-modes")) as server,
        server.client() as client,
    ):
        r = client.post(
            "/api/image-connections",
            json={"name": "SD", "base_url": a1111.url, "activate": True},
        )
        assert r.status_code == 201, r.text
        yield client


def generate(http: httpx.Client, **body: object) -> list[Frame]:
    with http.stream("POST", "/api/images/generate", json=body, timeout=60) as response:
        assert response.status_code == 200, response.read()
        return list(frames(response))


def test_options_are_listed_from_the_backend(http: httpx.Client) -> None:
    r = http.get("/api/images/options")
    assert r.status_code == 200
    body = r.json()
    assert body["samplers"] == fake_a1111.SAMPLERS and body["loras"] == fake_a1111.LORAS
    assert body["checkpoints"] == [m["title"] for m in fake_a1111.MODELS]
    assert "inpaint" in body["modes"] and body["connection"]["name"] == "SD"


def test_img2img_from_an_upload_then_from_the_gallery(http: httpx.Client) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(INIT).decode()
    first = generate(
        http, prompt="green", steps=2, width=64, height=64, init_image=data_url, denoise=0.2
    )
    result = first[-1]
    assert result.event == "result", result.data
    record = result.data["images"][0]
    assert result.data["parameters"]["init_image"]["source"] == "upload"
    stored = http.get(record["url"]).content
    assert png_colour(stored) == (10, 200, 30)

    again = generate(
        http,
        prompt="green again",
        steps=1,
        width=64,
        height=64,
        init_image_id=record["id"],
        denoise=0.2,
    )
    assert again[-1].event == "result"
    assert again[-1].data["parameters"]["init_image"]["source"] == f"gallery:{record['id']}"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"init_image": "not base64!"}, "init_image is not base64"),
        ({"init_image": base64.b64encode(b"plain text").decode()}, "not a PNG, JPEG or WebP"),
        ({"init_image_id": "20990101T000000000-deadbeef-0"}, "no gallery image"),
        ({"mask": base64.b64encode(INIT).decode()}, "a mask needs an init image"),
        ({"hires": {"scale": 9}}, "less than or equal to 4"),
    ],
)
def test_bad_picture_input_is_refused_before_the_stream(
    http: httpx.Client, body: dict[str, object], says: str
) -> None:
    r = http.post("/api/images/generate", json={"prompt": "x", **body})
    assert r.status_code == 422
    assert says in r.text


def test_warning_reaches_the_result(http: httpx.Client) -> None:
    got = generate(http, prompt="x", steps=1, checkpoint="gone.safetensors")
    assert got[-1].event == "result"
    assert any("gone.safetensors" in w for w in got[-1].data["warnings"])


def test_a_detached_job_outlives_its_stream_is_listed_followed_again_and_cancelled(
    http: httpx.Client, a1111: FakeA1111
) -> None:
    body = {"prompt": "long one", "steps": 1000, "detach": True}
    with http.stream("POST", "/api/images/generate", json=body, timeout=30) as response:
        assert response.status_code == 200
        for frame in frames(response):
            if frame.event == "progress" and frame.data["fraction"] > 0:
                break
    # The stream is gone; the job is not.
    jobs = http.get("/api/images/jobs").json()["jobs"]
    assert [j["prompt"] for j in jobs] == ["long one"]
    job = jobs[0]
    assert job["state"] == "running" and job["detached"] and job["fraction"] > 0

    seen: list[Frame] = []
    followed = threading.Event()

    def follow() -> None:
        with http.stream("GET", f"/api/images/jobs/{job['job_id']}/events", timeout=30) as r:
            for frame in frames(r):
                seen.append(frame)
                if frame.event == "progress":
                    followed.set()

    thread = threading.Thread(target=follow)
    thread.start()
    assert followed.wait(10)
    r = http.post("/api/images/cancel", json={"job_id": job["job_id"]})
    assert r.status_code == 200
    thread.join(10)
    assert seen[0].event == "start" and seen[-1].event == "error"
    assert seen[-1].data["error"]["code"] == "cancelled"
    assert http.get("/api/images/jobs").json()["jobs"] == []
    assert http.get(f"/api/images/jobs/{job['job_id']}/events").status_code == 404
    assert a1111.interrupt_received.wait(10)
