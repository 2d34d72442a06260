"""The shipped image plugin (examples/plugins/openai_images.py), run by a real
`pluma serve`, generates through POST /api/images/generate against a loopback
OpenAI Images API; the page's kind choice lists it like a built-in."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.images.sse import frames
from tests.support.openai_images_upstream import TOKEN, OpenAIImagesUpstream
from tests.support.plugin_env import EXAMPLES, install_python
from tests.support.server_process import PlumaServer

pytestmark = pytest.mark.xdist_group("plugins")


@pytest.fixture(scope="module")
def upstream() -> Iterator[OpenAIImagesUpstream]:
    with OpenAIImagesUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    tmp = tmp_path_factory.mktemp("images-plugin")
    install_python(tmp / "data", "image", "openai-images", EXAMPLES / "openai_images.py")
    with PlumaServer(tmp, data_dir=tmp / "data") as server, server.client() as client:
        yield client


def test_the_kind_is_offered_like_a_built_in(http: httpx.Client) -> None:
    kinds = http.get("/api/image-providers").json()["providers"]
    assert {"a1111", "comfyui", "openai-images"} <= set(kinds)
    (plugin,) = http.get("/api/plugins").json()["plugins"]
    assert (plugin["axis"], plugin["key"], plugin["state"]) == ("image", "openai-images", "running")


def test_generation_through_the_image_plugin(
    http: httpx.Client, upstream: OpenAIImagesUpstream
) -> None:
    created = http.post(
        "/api/image-connections",
        json={
            "name": "Images",
            "kind": "openai-images",
            "base_url": upstream.url,
            "auth": "bearer",
            "secret": TOKEN,
            "activate": True,
        },
    )
    assert created.status_code == 201, created.text
    verdict = http.post(f"/api/image-connections/{created.json()['id']}/test").json()
    assert verdict["ok"] is True, verdict
    assert http.get("/api/images/checkpoints").json()["checkpoints"] == ["dall-e-2"]
    body = {"prompt": "a red square", "width": 64, "height": 64, "batch_size": 2}
    with http.stream("POST", "/api/images/generate", json=body, timeout=60) as response:
        assert response.status_code == 200
        got = list(frames(response))
    kinds = [f.event for f in got]
    assert kinds[0] == "start" and kinds[-1] == "result", got
    assert "progress" in kinds
    result = got[-1].data
    assert len(result["images"]) == 2
    image = http.get(f"/api/images/{result['images'][0]['id']}")
    assert image.content.startswith(b"\x89PNG")
    assert result["info"]["revised_prompt"] == "a painting of a red square"
    sent = next(r for r in upstream.requests if r.path == "/v1/images/generations").json()
    assert sent["size"] == "64x64" and sent["n"] == 2 and sent["response_format"] == "b64_json"


def test_a_wrong_key_is_reported_in_the_stream(
    http: httpx.Client, upstream: OpenAIImagesUpstream
) -> None:
    created = http.post(
        "/api/image-connections",
        json={
            "name": "Bad key",
            "kind": "openai-images",
            "base_url": upstream.url,
            "auth": "bearer",
            "secret": "sk-wrong",
        },
    ).json()
    body = {"prompt": "x", "width": 64, "height": 64, "connection": created["id"]}
    with http.stream("POST", "/api/images/generate", json=body, timeout=60) as response:
        got = list(frames(response))
    error = got[-1]
    assert error.event == "error"
    assert "Incorrect API key provided" in error.data["error"]["message"]
    assert "sk-wrong" not in str(got)
