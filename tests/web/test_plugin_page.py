"""Subprocess plugins on the page, like built-ins: the compat dropdown and the
image-kind choice list them by the display name their plugin gave, and a
connection made with a plugin's compat chats from the page. A real
``pluma serve`` runs the test chat and image plugins as subprocesses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.plugin_env import ROOT, SUPPORT, install_python
from tests.support.server_process import PlumaServer
from tests.web.conftest import ChatUpstream, add_connection

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("web-plugins")]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlumaServer]:
    tmp = tmp_path_factory.mktemp("web-plugins")
    install_python(tmp / "data", "chat", "echo", SUPPORT / "echo_chat.py")
    install_python(tmp / "data", "image", "slow-images", SUPPORT / "slow_image.py")
    env = {"PYTHONPATH": str(ROOT)}
    with (
        ChatUpstream() as upstream,
        PlumaServer(tmp, data_dir=tmp / "data", env=env) as server,
        server.client() as client,
    ):
        states = [p["state"] for p in client.get("/api/plugins").json()["plugins"]]
        assert states == ["running", "running"], states
        add_connection(client, "Built-in", upstream.base_url, "model-a", activate=True)
        yield server


def options(select: Any) -> dict[str, str]:
    """value -> shown text of a <select>'s options."""
    pairs = select.locator("option").evaluate_all("os => os.map(o => [o.value, o.textContent])")
    return dict(pairs)


def test_a_plugin_compat_is_offered_by_name_and_chats(server: PlumaServer, new_page: Any) -> None:
    page = new_page(server.url + "/#settings")
    page.locator("#connection-list li", has_text="Built-in").wait_for()
    page.get_by_role("button", name="Add connection").click()
    form = page.get_by_role("form", name="Add a connection")
    compat = form.get_by_label("Compatibility")
    compat.locator("option[value=echo]").wait_for(state="attached")
    offered = options(compat)
    assert offered["echo"] == "Echo"  # Describe's display name; the value stays the id
    assert offered["openai"] == "openai" and "anthropic" in offered

    form.get_by_label("Name", exact=True).fill("Plugged")
    compat.select_option("echo")
    form.get_by_label("Base URL").fill("http://127.0.0.1:9/v1")
    form.get_by_label("Default model").fill("echo")
    form.get_by_role("button", name="Add connection").click()
    row = page.locator("#connection-list li", has_text="Plugged")
    row.get_by_role("button", name="Test Plugged").click()
    assert "2 models" in row.locator(".verdict.ok").inner_text()  # ListModels, from the plugin
    row.get_by_role("button", name="Activate Plugged").click()
    page.locator("#connection-list li.active", has_text="Plugged").wait_for()

    page.get_by_role("button", name="Chat", exact=True).click()
    page.fill("#composer-input", "hello from the page")
    page.press("#composer-input", "Enter")
    answer = page.locator("article.msg.assistant:not(.streaming)").last
    answer.get_by_text("hello from the page").wait_for()
    with server.client() as client:
        created = next(
            c
            for c in client.get("/api/connections").json()["connections"]
            if c["name"] == "Plugged"
        )
    assert created["compat"] == "echo"
    assert page.js_errors == []


def test_a_plugin_image_kind_is_offered_by_name(server: PlumaServer, new_page: Any) -> None:
    page = new_page(server.url + "/#settings")
    section = page.locator("#image-settings")
    section.get_by_role("button", name="Add image backend").click()
    form = page.get_by_role("form", name="Add an image backend")
    form.get_by_label("Kind").locator("option[value=slow-images]").wait_for(state="attached")
    kinds = options(form.get_by_label("Kind"))
    assert kinds["slow-images"] == "Slow Test Images"
    assert {"a1111", "comfyui"} <= set(kinds)
    form.get_by_label("Name", exact=True).fill("Slow")
    form.get_by_label("Kind").select_option("slow-images")
    form.get_by_label("Base URL").fill("http://127.0.0.1:9")
    form.get_by_role("button", name="Add image backend").click()
    row = section.locator("li", has_text="Slow")
    row.get_by_role("button", name="Test Slow").click()
    row.locator(".verdict.ok", has_text="1 checkpoint").wait_for()
    assert page.js_errors == []
