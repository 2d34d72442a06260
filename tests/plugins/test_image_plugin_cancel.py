"""Cancelling an image generation reaches a real image plugin process: its
``Generate`` call is cancelled and the provider inside the plugin sees it
within 1 s, whether the API cancels the job or the client leaves."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.images.sse import frames
from tests.support.plugin_env import ROOT, SUPPORT, install_python
from tests.support.server_process import PlumaServer

pytestmark = pytest.mark.xdist_group("plugins")

BODY = {"prompt": "slowly", "steps": 400, "width": 64, "height": 64}
"""400 steps at 50 ms: 20 s unless cancelled."""


class Site:
    def __init__(self, client: httpx.Client, marks: Path) -> None:
        self.client = client
        self.mark = marks / "image-cancelled"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("image-cancel")
    marks = tmp / "marks"
    marks.mkdir()
    install_python(tmp / "data", "image", "slow-images", SUPPORT / "slow_image.py")
    env = {"PYTHONPATH": str(ROOT), "PLUMA_TEST_MARKS": str(marks)}
    with PlumaServer(tmp, data_dir=tmp / "data", env=env) as server, server.client() as client:
        created = client.post(
            "/api/image-connections",
            json={"name": "Slow", "kind": "slow-images", "base_url": "http://127.0.0.1:9",
                  "activate": True},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        yield Site(client, marks)


def wait_for_mark(mark: Path, since: float) -> float:
    """Seconds from ``since`` (wall time) to the plugin's cancel mark; fails
    after 1 s without one."""
    deadline = time.monotonic() + 1.0
    while not mark.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert mark.exists(), "the image plugin did not see the cancellation within 1 s"
    return float(mark.read_text()) - since


def test_the_kind_is_offered_with_its_display_name(site: Site) -> None:
    kinds = site.client.get("/api/image-providers").json()
    assert "slow-images" in kinds["providers"]
    assert kinds["labels"] == {"slow-images": "Slow Test Images"}


def test_the_plugin_generates_when_not_cancelled(site: Site) -> None:
    body = BODY | {"steps": 3}
    with site.client.stream("POST", "/api/images/generate", json=body, timeout=30) as response:
        got = list(frames(response))
    assert [f.event for f in got][-1] == "result", got
    assert not site.mark.exists()


def test_cancelling_the_job_cancels_the_plugin_call(site: Site) -> None:
    site.mark.unlink(missing_ok=True)
    with site.client.stream("POST", "/api/images/generate", json=BODY, timeout=30) as response:
        stream = frames(response)
        start = next(stream)
        assert start.event == "start", start
        assert next(stream).event == "progress"  # the plugin is generating
        cancelled = time.time()
        answer = site.client.post("/api/images/cancel", json={"job_id": start.data["job_id"]})
        assert answer.status_code == 200, answer.text
        rest = list(stream)
    assert rest[-1].event == "error" and rest[-1].data["error"]["code"] == "cancelled", rest
    assert wait_for_mark(site.mark, cancelled) < 1.0


def test_a_client_that_leaves_cancels_the_plugin_call(site: Site) -> None:
    site.mark.unlink(missing_ok=True)
    with site.client.stream("POST", "/api/images/generate", json=BODY, timeout=30) as response:
        stream = frames(response)
        assert next(stream).event == "start"
        assert next(stream).event == "progress"
        left = time.time()
    # leaving the block closed the connection mid-stream
    assert wait_for_mark(site.mark, left) < 1.0
    jobs = site.client.get("/api/images/jobs").json()
    assert not any(j.get("state") == "running" for j in jobs.get("jobs", [])), jobs
