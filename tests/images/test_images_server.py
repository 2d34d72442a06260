"""Image connections and generation through the HTTP API of a real
``pluma serve`` subprocess, with the fake backends as upstreams."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.images.sse import Frame, frames
from tests.support.fake_a1111 import FakeA1111, png_size
from tests.support.fake_comfyui import FakeComfyUI
from tests.support.server_process import PlumaServer


@pytest.fixture(scope="module")
def comfy() -> Iterator[FakeComfyUI]:
    with FakeComfyUI(step_delay=0.01, token="proxy-token-123") as fake:
        yield fake


@pytest.fixture(scope="module")
def a1111() -> Iterator[FakeA1111]:
    with FakeA1111(step_delay=0.02, auth="bob:a1111-pass") as fake:
        yield fake


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlumaServer]:
    with PlumaServer(tmp_path_factory.mktemp("images-server")) as srv:
        yield srv


@pytest.fixture(scope="module")
def http(server: PlumaServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture(scope="module")
def comfy_connection(http: httpx.Client, comfy: FakeComfyUI) -> dict:
    response = http.post(
        "/api/image-connections",
        json={
            "name": "Comfy",
            "kind": "comfyui",
            "base_url": comfy.url,
            "auth": "bearer",
            "secret": "proxy-token-123",
            "activate": True,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
def a1111_connection(http: httpx.Client, a1111: FakeA1111) -> dict:
    response = http.post(
        "/api/image-connections",
        json={
            "name": "SD ok",
            "kind": "a1111",
            "base_url": a1111.url,
            "auth": "basic",
            "username": "bob",
            "secret": "a1111-pass",
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def generate(http: httpx.Client, body: dict) -> list[Frame]:
    with http.stream("POST", "/api/images/generate", json=body, timeout=60) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(frames(response))


def test_providers_listed(http: httpx.Client) -> None:
    assert {"a1111", "comfyui"} <= set(http.get("/api/image-providers").json()["providers"])
    shipped = http.get("/api/images/workflow").json()
    assert shipped["workflow"]["6"]["inputs"]["text"] == "%prompt%"
    assert {"prompt", "seed", "checkpoint", "model", "denoise"} <= set(shipped["placeholders"])


def test_connection_secret_stays_secret(
    server: PlumaServer, http: httpx.Client, comfy_connection: dict
) -> None:
    assert comfy_connection["has_secret"] is True
    assert comfy_connection["auth"] == "bearer"
    assert "secret" not in comfy_connection
    listed = http.get("/api/image-connections").json()
    assert listed["active"] == comfy_connection["id"]
    text = json.dumps(listed)
    assert "proxy-token-123" not in text
    stored = (server.data_dir / "image_connections.json").read_text()
    assert "proxy-token-123" not in stored
    assert json.loads(stored)["connections"][0]["kind"] == "comfyui"
    assert "proxy-token-123" not in server.log_text()


def test_comfyui_end_to_end(http: httpx.Client, comfy: FakeComfyUI, comfy_connection: dict) -> None:
    result = generate(
        http,
        {
            "prompt": 'a "tiny" house\nby the sea',
            "width": 96,
            "height": 64,
            "steps": 5,
            "seed": 31337,
        },
    )
    kinds = [f.event for f in result]
    assert kinds[0] == "start" and kinds[-1] == "result", kinds
    assert result[0].data["connection"]["kind"] == "comfyui"
    progress = [f.data for f in result if f.event == "progress"]
    assert [p["step"] for p in progress if p["step"]] == [1, 2, 3, 4, 5]
    assert any(p["preview"] and p["preview"].startswith("data:image/png;base64,") for p in progress)
    final = result[-1].data
    assert final["parameters"]["seed"] == 31337
    graph = comfy.prompts[-1]["prompt"]
    assert graph["3"]["inputs"]["seed"] == 31337
    assert graph["6"]["inputs"]["text"] == 'a "tiny" house\nby the sea'
    [record] = final["images"]
    image = http.get(record["url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert png_size(image.content) == (96, 64)
    params = http.get(record["parameters_url"]).json()
    assert params["parameters"]["seed"] == 31337
    assert params["connection"]["name"] == "Comfy"
    gallery = http.get("/api/images").json()
    assert gallery["images"][0]["id"] == record["id"]


def test_previews_can_be_left_out(http: httpx.Client, comfy_connection: dict) -> None:
    body = {"prompt": "x", "steps": 3, "width": 64, "height": 64, "previews": False}
    result = generate(http, body)
    progress = [f.data for f in result if f.event == "progress"]
    assert [p["step"] for p in progress if p["step"]] == [1, 2, 3]
    assert all(p["preview"] is None for p in progress)
    assert result[-1].event == "result"
    # ... and the gallery entry can be removed again.
    [record] = result[-1].data["images"]
    assert http.delete(record["url"]).status_code == 204
    assert http.get(record["url"]).status_code == 404
    assert http.get(record["parameters_url"]).status_code == 404
    assert http.delete(record["url"]).status_code == 404
    assert record["id"] not in [r["id"] for r in http.get("/api/images").json()["images"]]


def test_checkpoints_and_test(
    http: httpx.Client, comfy: FakeComfyUI, comfy_connection: dict
) -> None:
    listed = http.get("/api/images/checkpoints").json()
    assert listed["checkpoints"] == comfy.checkpoints
    verdict = http.post(f"/api/image-connections/{comfy_connection['id']}/test").json()
    assert verdict["ok"] is True and verdict["checkpoints"] == comfy.checkpoints


def test_comfyui_node_error(http: httpx.Client, comfy_connection: dict) -> None:
    result = generate(http, {"prompt": "x", "checkpoint": "nope.safetensors", "steps": 1})
    assert result[-1].event == "error"
    error = result[-1].data["error"]
    assert error["code"] == "node_error"
    assert "node 4 (CheckpointLoaderSimple)" in error["message"]


def test_a1111_auth_failure_and_fix(http: httpx.Client, a1111: FakeA1111) -> None:
    created = http.post(
        "/api/image-connections",
        json={
            "name": "SD",
            "kind": "a1111",
            "base_url": a1111.url,
            "auth": "basic",
            "username": "bob",
            "secret": "wrong-pass",
        },
    ).json()
    result = generate(http, {"prompt": "x", "steps": 2, "connection": "SD"})
    error = result[-1].data["error"]
    assert result[-1].event == "error" and error["code"] == "auth"
    assert "wrong-pass" not in json.dumps(error)
    verdict = http.post(f"/api/image-connections/{created['id']}/test").json()
    assert verdict["ok"] is False and verdict["code"] == "auth"

    fixed = http.put(f"/api/image-connections/{created['id']}", json={"secret": "a1111-pass"})
    assert fixed.status_code == 200 and fixed.json()["has_secret"]
    result = generate(http, {"prompt": "a cat", "steps": 3, "connection": created["id"], "seed": 5})
    assert result[-1].event == "result", result[-1]
    assert result[-1].data["parameters"]["seed"] == 5
    assert result[-1].data["images"][0]["connection"]["kind"] == "a1111"


def test_cancel_by_disconnect_reaches_backend(
    server: PlumaServer, comfy: FakeComfyUI, comfy_connection: dict
) -> None:
    comfy.interrupt_received.clear()
    with (
        server.client() as client,
        client.stream(
            "POST", "/api/images/generate", json={"prompt": "long", "steps": 1000}, timeout=30
        ) as response,
    ):
        assert response.status_code == 200
        for frame in frames(response):
            if frame.event == "progress" and frame.data["step"]:
                break
    # The client left mid-generation: the server interrupts ComfyUI.
    assert comfy.interrupt_received.wait(10)
    assert comfy.steps_run < 1000


def test_cancel_by_job_id(
    http: httpx.Client, server: PlumaServer, comfy: FakeComfyUI, comfy_connection: dict
) -> None:
    comfy.interrupt_received.clear()
    seen: list[Frame] = []
    with (
        server.client() as client,
        client.stream(
            "POST", "/api/images/generate", json={"prompt": "long", "steps": 1000}, timeout=30
        ) as response,
    ):
        assert response.status_code == 200
        stream = frames(response)
        job_id = next(stream).data["job_id"]
        for frame in stream:
            if frame.event == "progress" and frame.data["step"]:
                answer = http.post("/api/images/cancel", json={"job_id": job_id})
                assert answer.status_code == 200
                break
        seen = list(stream)
    assert seen[-1].event == "error" and seen[-1].data["error"]["code"] == "cancelled"
    assert comfy.interrupt_received.wait(10)
    assert http.post("/api/images/cancel", json={"job_id": job_id}).status_code == 404


def test_a1111_cancel_by_disconnect_reaches_backend(
    server: PlumaServer, a1111: FakeA1111, a1111_connection: dict
) -> None:
    a1111.interrupt_received.clear()
    a1111.job_finished.clear()
    interrupted, steps = a1111.jobs_interrupted, a1111.steps_run
    body = {"prompt": "long", "steps": 1000, "connection": a1111_connection["id"]}
    with (
        server.client() as client,
        client.stream("POST", "/api/images/generate", json=body, timeout=30) as response,
    ):
        assert response.status_code == 200
        for frame in frames(response):
            if frame.event == "progress" and frame.data["step"]:
                break
    # The client left mid-generation: the server interrupts the web UI's job.
    assert a1111.interrupt_received.wait(10)
    assert a1111.job_finished.wait(10)
    assert a1111.jobs_interrupted == interrupted + 1
    assert a1111.steps_run - steps < 1000


def test_cancel_ends_the_stream_before_the_backend_confirms(
    server: PlumaServer, http: httpx.Client
) -> None:
    """The stream ends right after its ``cancelled`` event even while the
    backend takes its time to answer the interrupt (it still gets it)."""
    confirm = threading.Event()
    with FakeA1111(step_delay=0.02, hold_interrupts=confirm) as fake:
        created = http.post(
            "/api/image-connections",
            json={"name": "Slow to confirm", "kind": "a1111", "base_url": fake.url},
        ).json()
        body = {"prompt": "long", "steps": 1000, "connection": created["id"]}
        try:
            # A1111's interrupt gets 5 s to answer; the stream must not wait that long.
            timeout = httpx.Timeout(30, read=3)
            with (
                server.client() as client,
                client.stream("POST", "/api/images/generate", json=body, timeout=timeout) as r,
            ):
                stream = frames(r)
                job_id = next(stream).data["job_id"]
                for frame in stream:
                    if frame.event == "progress" and frame.data["step"]:
                        answer = http.post("/api/images/cancel", json={"job_id": job_id})
                        assert answer.status_code == 200
                        break
                rest = list(stream)  # ends at once: the stream does not wait for the backend
            assert rest[-1].event == "error" and rest[-1].data["error"]["code"] == "cancelled"
            assert fake.interrupt_received.wait(10)
            assert not confirm.is_set()
        finally:
            confirm.set()
        assert fake.job_finished.wait(10) and fake.jobs_interrupted == 1
        assert http.delete(f"/api/image-connections/{created['id']}").status_code == 204


def test_get_one_and_activate(
    http: httpx.Client, comfy_connection: dict, a1111_connection: dict
) -> None:
    by_name = http.get("/api/image-connections/sd%20OK")  # names are case-insensitive
    assert by_name.status_code == 200 and by_name.json()["id"] == a1111_connection["id"]
    assert by_name.json()["has_secret"] is True and "secret" not in by_name.json()
    try:
        chosen = http.post(f"/api/image-connections/{a1111_connection['id']}/activate")
        assert chosen.status_code == 200 and chosen.json()["active"] is True
        assert http.get("/api/image-connections").json()["active"] == a1111_connection["id"]
        listed = http.get("/api/images/checkpoints").json()
        assert listed["connection"]["kind"] == "a1111"
        assert listed["checkpoints"][1] == "dreamshaper_8.safetensors [879db523c3]"
    finally:
        http.post(f"/api/image-connections/{comfy_connection['id']}/activate")
    missing = http.post("/api/image-connections/nope/activate")
    assert missing.status_code == 404 and "image connection" in missing.json()["error"]["message"]


def test_caller_mistakes(http: httpx.Client, comfy_connection: dict) -> None:
    empty = http.post("/api/images/generate", json={"prompt": ""})
    assert empty.status_code == 422 and "prompt" in empty.json()["error"]["message"]
    blank = http.post("/api/images/generate", json={"prompt": "  \n "})
    assert blank.status_code == 422 and "prompt must not be empty" in blank.text
    huge_seed = http.post("/api/images/generate", json={"prompt": "x", "seed": 2**64})
    assert huge_seed.status_code == 422 and "seed" in huge_seed.json()["error"]["message"]
    unknown = http.post("/api/images/generate", json={"prompt": "x", "connection": "nope"})
    assert unknown.status_code == 404 and "image connection" in unknown.json()["error"]["message"]
    bad_workflow = http.post(
        "/api/image-connections",
        json={
            "name": "W",
            "kind": "comfyui",
            "base_url": "http://127.0.0.1:1",
            "workflow": {"1": {"class_type": "CLIPTextEncode", "inputs": {"text": "%promt%"}}},
        },
    )
    assert bad_workflow.status_code == 422
    assert "%promt%" in bad_workflow.json()["error"]["message"]
    bad_kind = http.post(
        "/api/image-connections", json={"name": "K", "kind": "dalle", "base_url": "http://x"}
    )
    assert bad_kind.status_code == 422 and "kind" in bad_kind.json()["error"]["message"]
    assert http.get("/api/images/20990101T000000000-deadbeef-0").status_code == 404
    assert http.get("/api/images/..%2F..%2Fsecrets.json").status_code == 404


def test_backend_down(http: httpx.Client) -> None:
    created = http.post(
        "/api/image-connections",
        json={"name": "Down", "kind": "comfyui", "base_url": "http://127.0.0.1:9"},
    ).json()
    verdict = http.post(f"/api/image-connections/{created['id']}/test").json()
    assert verdict["ok"] is False and verdict["code"] == "unreachable"
    listed = http.get("/api/images/checkpoints", params={"connection": "Down"})
    assert listed.status_code == 502 and "cannot reach" in listed.json()["error"]["message"]
    result = generate(http, {"prompt": "x", "connection": "Down", "checkpoint": "a"})
    assert result[-1].event == "error" and result[-1].data["error"]["code"] == "unreachable"
    assert http.delete(f"/api/image-connections/{created['id']}").status_code == 204


def test_fallback_image_url(tmp_path: Path) -> None:
    """``--image-url`` with ``user:password@`` (A1111 ``--api-auth``): the
    password becomes Basic auth and shows nowhere."""
    with FakeA1111(step_delay=0.05, auth="eve:url-pass-77") as fake:
        url = fake.url.replace("http://", "http://eve:url-pass-77@")
        with (
            PlumaServer(tmp_path, args=["--image-url", url]) as srv,
            srv.client() as http,
        ):
            _check_fallback(http, fake)
            assert "url-pass-77" not in srv.log_text()


def _check_fallback(http: httpx.Client, fake: FakeA1111) -> None:
    """The fallback is listed read-only, without its password, and generates."""
    listed = http.get("/api/image-connections").json()
    assert "url-pass-77" not in json.dumps(listed)
    [fallback] = listed["connections"]
    assert fallback["fallback"] is True and fallback["kind"] == "a1111"
    assert fallback["base_url"] == fake.url and fallback["auth"] == "basic"
    assert fallback["has_secret"] is True
    assert listed["active"] == fallback["id"]
    assert (
        http.put(f"/api/image-connections/{fallback['id']}", json={"name": "x"}).status_code == 409
    )
    result = generate(
        http, {"prompt": "a fox", "steps": 20, "width": 64, "height": 64, "batch_size": 2}
    )
    assert result[-1].event == "result", result[-1]
    progress = [f.data for f in result if f.event == "progress"]
    assert progress and progress[-1]["steps"] == 20
    images = result[-1].data["images"]
    assert len(images) == 2
    seed = result[-1].data["parameters"]["seed"]
    assert result[-1].data["parameters"]["all_seeds"] == [seed, seed + 1]
    for record in images:
        assert png_size(http.get(record["url"]).content) == (64, 64)
    assert fake.paths("POST").count("/sdapi/v1/txt2img") == 1
