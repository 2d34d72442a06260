"""First use from the page with no model configured: a server started with
``--base-url`` and no ``--model`` chats at once. The Model menu has no
"Connection default" then (there is none): it selects the upstream's model,
with several the first one and a note saying so. When the server still asks
which model (an API client, or a page whose list did not load), the page
points at the Model menu and Retry works once one is picked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.scripted_server import Reply
from tests.support.server_process import PlumaServer
from tests.web.conftest import ChatUpstream, answer, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("web-first-use")]


def test_a_backend_with_one_model_chats_from_connection_default(
    tmp_path: Path, new_page: Any
) -> None:
    with ChatUpstream() as upstream:
        upstream.models = ["SmolLM2-135M-Instruct"]
        upstream.replies = [Reply.sse(answer("Hi, I am small."))]
        with PlumaServer(tmp_path, args=["--base-url", upstream.base_url]) as server:
            page = new_page(server.url)
            page.locator("#model option[value='SmolLM2-135M-Instruct']").wait_for(state="attached")
            assert page.input_value("#model") == "SmolLM2-135M-Instruct"
            assert page.locator("#model option").count() == 1  # no "Connection default"
            assert page.inner_text("#models-note") == ""  # nothing to choose
            page.fill("#composer-input", "Hello")
            page.click("#send")
            page.locator("article.msg.assistant", has_text="Hi, I am small.").wait_for()
            assert upstream.chat_requests[-1]["model"] == "SmolLM2-135M-Instruct"
            assert page.locator(".error").count() == 0
            assert not page.js_errors


def test_a_backend_with_several_models_asks_which_one(tmp_path: Path, new_page: Any) -> None:
    with ChatUpstream() as upstream:
        upstream.replies = [Reply.sse(answer("Answered by model-b."))]
        with PlumaServer(tmp_path, args=["--base-url", upstream.base_url]) as server:
            page = new_page(server.url)
            page.locator("#model option[value=model-b]").wait_for(state="attached")
            # The server asks when the page names no model (as before the page
            # picked one itself, or when its model list failed to load).
            page.evaluate(
                "document.getElementById('model')"
                ".prepend(new Option('Connection default', '', true, true))"
            )
            page.fill("#composer-input", "Hello")
            page.click("#send")
            error = page.locator(".error[role=alert]")
            error.wait_for()
            text = error.inner_text()
            assert "no default model" in text and "model-a, model-b" in text
            assert "Pick a model in the Model menu" in text
            note = page.locator("#models-note")
            assert "pick one of its 2 models" in note.inner_text()
            assert page.evaluate("document.activeElement.id") == "model"
            assert "needs-choice" in (page.get_attribute("#model", "class") or "")
            assert upstream.chat_requests == []
            screenshot(page, "first-use-pick-a-model")

            page.select_option("#model", "model-b")
            assert "needs-choice" not in (page.get_attribute("#model", "class") or "")
            error.get_by_role("button", name="Retry").click()
            page.locator("article.msg.assistant", has_text="Answered by model-b.").wait_for()
            assert upstream.chat_requests[-1]["model"] == "model-b"
            assert not page.js_errors
