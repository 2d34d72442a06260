"""A third-party image provider installed as a package would be (a
``.dist-info`` on ``PYTHONPATH`` with a ``pluma.image_providers`` entry
point), loaded by a real ``pluma serve``."""

from __future__ import annotations

from pathlib import Path

from tests.images.sse import frames
from tests.support.fake_a1111 import png_size
from tests.support.server_process import PlumaServer

REPO = Path(__file__).resolve().parents[2]


def install(root: Path) -> Path:
    info = root / "pluma_test_solid-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pluma-test-solid\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[pluma.image_providers]\n"
        "solid = tests.images.plugin_provider:SolidProvider\n"
        "broken = tests.images.no_such_module:Provider\n"
        "bare = tests.images.plugin_provider\n"
    )
    return root


def test_image_provider_plugin(tmp_path: Path) -> None:
    plugins = install(tmp_path / "plugins")
    pythonpath = f"{REPO / 'src'}:{REPO}:{plugins}"
    with PlumaServer(tmp_path, env={"PYTHONPATH": pythonpath}) as server, server.client() as http:
        kinds = http.get("/api/image-providers").json()["providers"]
        assert {"a1111", "comfyui", "solid"} <= set(kinds)
        # A plugin that fails to import is reported, not fatal.
        health = http.get("/api/health", params={"upstream": "false"}).json()
        [problem] = [p for p in health["problems"] if "'broken'" in p]
        assert "tests.images.no_such_module" in problem and "ModuleNotFoundError" in problem
        [bare] = [p for p in health["problems"] if "'bare'" in p]
        assert "names a module; it must name a factory as module:attribute" in bare

        created = http.post(
            "/api/image-connections",
            json={"name": "Solid", "kind": "solid", "base_url": "http://127.0.0.1:9"},
        )
        assert created.status_code == 201, created.text
        verdict = http.post(f"/api/image-connections/{created.json()['id']}/test").json()
        assert verdict["ok"] is True and verdict["checkpoints"] == ["solid-v1"]
        body = {"prompt": "x", "steps": 3, "width": 64, "height": 80, "seed": 9}
        with http.stream("POST", "/api/images/generate", json=body, timeout=30) as response:
            seen = list(frames(response))
        assert [f.data["step"] for f in seen if f.event == "progress"] == [1, 2, 3]
        assert seen[-1].event == "result", seen[-1]
        [record] = seen[-1].data["images"]
        assert record["connection"]["kind"] == "solid" and record["parameters"]["seed"] == 9
        assert png_size(http.get(record["url"]).content) == (64, 80)
