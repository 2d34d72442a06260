"""First run (no connection yet: the page offers the backend the server
discovered) and continuing a conversation after a server restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.scripted_server import Reply
from tests.support.server_process import PlumaServer
from tests.web.conftest import ChatUpstream, answer, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("web-first-run")]


def test_onboarding_then_conversation_continues_after_restart(
    tmp_path: Path, new_page: Any
) -> None:
    with ChatUpstream() as upstream:
        upstream.replies = [Reply.sse(answer("Bonjour !")), Reply.sse(answer("Encore bonjour."))]
        env = {"PLUMA_DISCOVERY_TARGETS": f"Scripted LLM={upstream.base_url}"}
        with PlumaServer(tmp_path, env=env) as server:
            page = new_page(server.url)
            panel = page.locator("#onboarding")
            panel.get_by_role("button", name="Use Scripted LLM").wait_for()
            assert "2 models: model-a, model-b" in panel.inner_text()
            screenshot(page, "onboarding")

            panel.get_by_role("button", name="Use Scripted LLM").click()
            panel.wait_for(state="hidden")
            assert page.locator("#connection option:checked").inner_text() == "Scripted LLM"
            page.locator("#model option[value=model-b]").wait_for(state="attached")
            page.select_option("#model", "model-b")
            page.click(".system summary")
            page.fill("#system-prompt", "Answer in French.")
            page.fill("#composer-input", "Hello")
            page.click("#send")
            page.locator("article.msg.assistant", has_text="Bonjour !").wait_for()
            page.wait_for_selector("#send:visible")
            sent = upstream.chat_requests[-1]
            assert sent["model"] == "model-b"
            assert sent["messages"][0] == {"role": "system", "content": "Answer in French."}
            conversation_id = page.evaluate("window.pluma.chat.conversation.id")
            data_dir = server.data_dir

        # A new server process on the same data dir has the conversation.
        with PlumaServer(tmp_path / "again", data_dir=data_dir) as server:
            page = new_page(f"{server.url}/#c={conversation_id}")
            page.locator("article.msg.assistant", has_text="Bonjour !").wait_for()
            assert page.locator("#conversation-list .conv-title").all_inner_texts() == ["Hello"]
            assert page.input_value("#system-prompt") == "Answer in French."
            page.fill("#composer-input", "Again")
            page.press("#composer-input", "Enter")
            page.locator("article.msg.assistant", has_text="Encore bonjour.").wait_for()
            sent = upstream.chat_requests[-1]
            assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
            assert sent["messages"][2]["content"] == "Bonjour !"
            assert not page.js_errors


def test_page_asks_for_the_access_token_of_a_protected_server(
    tmp_path: Path, new_page: Any
) -> None:
    with PlumaServer(tmp_path, token="tok-web-7") as server:
        page = new_page(server.url, ready=False)
        form = page.get_by_role("form", name="Access token")
        form.get_by_label("Access token").fill("wrong-token")
        form.get_by_role("button", name="Continue").click()
        form.get_by_text("That token was not accepted").wait_for()
        assert not page.is_visible("#view-chat")

        form.get_by_label("Access token").fill("tok-web-7")
        form.get_by_role("button", name="Continue").click()
        page.wait_for_selector("body.ready")
        # Signed in: the API answers (first run: the welcome panel; with no
        # local backend found, it offers the form).
        panel = page.locator("#onboarding")
        panel.get_by_text("Welcome to Pluma").wait_for()
        assert page.is_visible("#composer-input")
        assert "No local backend" in panel.inner_text()
        panel.get_by_role("button", name="Add a connection…").click()
        page.get_by_role("form", name="Add a connection").wait_for()
        assert page.locator(".tabs [aria-current=page]").inner_text() == "Settings"
        # The token lives in the server's HttpOnly cookie: no script can read it.
        (cookie,) = page.context.cookies()
        assert cookie["name"] == "pluma_token" and cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"
        assert "tok-web-7" not in page.evaluate("document.cookie")
        page.reload()
        page.wait_for_selector("body.ready")  # the cookie is remembered
        assert not page.js_errors


def test_without_a_history_store_chat_still_works_and_says_so(
    tmp_path: Path, new_page: Any
) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "conversations.sqlite3").mkdir(parents=True)  # SQLite cannot open a directory
    with ChatUpstream() as upstream:
        upstream.replies = [Reply.sse(answer("Answered anyway."))]
        args = ["--base-url", upstream.base_url, "--model", "model-a"]
        with PlumaServer(tmp_path, args=args, data_dir=data_dir) as server:
            page = new_page(server.url)
            listing = page.locator("#conversation-error")
            listing.wait_for()
            assert "Conversations could not be loaded" in listing.inner_text()
            page.fill("#composer-input", "Hello without history")
            page.press("#composer-input", "Enter")
            page.locator("article.msg.assistant", has_text="Answered anyway.").wait_for()
            note = page.get_by_role("note").filter(has_text="not being saved")
            assert "conversation store is not open" in note.inner_text()
            assert not page.js_errors
