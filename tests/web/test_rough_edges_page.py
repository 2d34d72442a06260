"""The rough edges a new user met, in Chromium against a real ``pluma serve``:
a failed answer shows only its error (and titles the conversation), the skip
link keeps the conversation in the address, Stop shows exactly what is
stored, "Your data" names the real secret store, the sidebar's rename and
delete are visible without hovering, and a ``--base-url`` connection without
a default model chats at once and can be edited."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.scripted_server import Reply
from tests.support.server_process import PlumaServer
from tests.web.conftest import (
    DONE,
    ChatUpstream,
    Site,
    answer,
    chunk,
    screenshot,
    wait_until,
)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("web-rough-edges")]


def send(page: Any, text: str) -> None:
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")


def words(text: str) -> str:
    return " ".join(text.split())


def stored(site: Site, conversation_id: str) -> dict[str, Any]:
    with site.api() as client:
        body: dict[str, Any] = client.get(f"/api/conversations/{conversation_id}").json()
    return body


def test_a_failed_first_answer_shows_only_its_error_and_titles_the_conversation(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    error = {"error": {"message": "the model crashed", "type": "server_error"}}
    upstream.replies = [Reply.json(error, 500)]
    page = new_page(site.url)
    send(page, "Why is the sky blue?")
    page.locator(".error[role=alert]", has_text="the model crashed").wait_for()
    page.wait_for_selector("#send:visible")
    # No empty "Assistant" box above the error: the error stands in its place.
    failed = page.locator("article.msg.assistant")
    assert failed.count() == 1
    assert failed.locator(".role, .msg-body").count() == 0
    assert failed.locator(".error[role=alert]").count() == 1
    assert page.get_by_role("button", name="Retry").count() == 1
    conversation_id = page.evaluate("window.pluma.chat.conversation.id")
    page.locator("#conversation-list .conv-title", has_text="Why is the sky blue?").wait_for()
    assert stored(site, conversation_id)["title"] == "Why is the sky blue?"

    # Reload: the failed answer is shown as a failure, not as an empty answer.
    page.reload()
    page.wait_for_selector("body.ready")
    failed = page.locator("article.msg.assistant")
    failed.get_by_text("This answer failed").wait_for()
    assert failed.locator(".md").count() == 0
    assert page.locator("#conversation-list .conv-title").first.inner_text() == (
        "Why is the sky blue?"
    )

    # A failure after some text keeps the text, then the error.
    upstream.replies = [
        Reply.sse([chunk({"role": "assistant", "content": ""}), chunk({"content": "Partly "})]),
    ]
    page.get_by_role("button", name="Retry").click()
    alert = page.locator(".error[role=alert]")
    alert.wait_for()
    answer_box = page.locator("article.msg.assistant")
    assert answer_box.count() == 1 and "Partly" in answer_box.inner_text()
    assert not page.js_errors


def test_the_skip_link_keeps_the_conversation_in_the_address(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    upstream.replies = [Reply.sse(answer("Kept across reloads."))]
    page = new_page(site.url)
    send(page, "Remember me")
    page.locator("article.msg.assistant", has_text="Kept across reloads.").wait_for()
    page.wait_for_selector("#send:visible")
    address = page.url
    assert "#c=" in address

    page.focus("a.skip")  # the first stop of the keyboard's tab order
    expect(page.locator("a.skip")).to_be_visible()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "composer-input"
    assert page.url == address

    page.reload()
    page.wait_for_selector("body.ready")
    page.locator("article.msg.assistant", has_text="Kept across reloads.").wait_for()
    assert not page.js_errors


def test_stop_shows_exactly_what_is_stored(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    # A fast upstream: a word every millisecond, far more than a Stop lets through.
    body: list[bytes | float] = [chunk({"role": "assistant", "content": ""})]
    for i in range(6000):
        body += [chunk({"content": f"w{i} "}), 0.001]
    upstream.replies = [Reply.sse([*body, chunk({}, "stop"), DONE])]
    page = new_page(site.url)
    send(page, "Count for me")
    reply = page.locator("article.msg.assistant").last
    reply.get_by_text("w300").wait_for()
    page.click("#stop")
    reply.get_by_text("Stopped — the partial answer is kept.").wait_for()
    page.wait_for_selector("#send:visible")
    conversation_id = page.evaluate("window.pluma.chat.conversation.id")

    messages = wait_until(
        lambda: stored(site, conversation_id)["messages"], lambda got: len(got) == 2
    )
    kept = messages[1]["content"][0]["text"]
    assert messages[1]["stopReason"] == "aborted"
    assert "w6000" not in kept
    # What the page shows once Stop has settled is what the server stored.
    shown = page.locator("article.msg.assistant .md").last
    wait_until(lambda: words(shown.inner_text()), lambda text: text == words(kept))
    assert words(shown.inner_text()) == words(kept)
    assert page.evaluate("window.pluma.chat.messages.at(-1).content[0].text") == kept

    page.reload()
    page.wait_for_selector("body.ready")
    shown = page.locator("article.msg.assistant .md").last
    shown.wait_for()
    assert words(shown.inner_text()) == words(kept)
    assert not page.js_errors


def test_sidebar_controls_are_visible_without_hovering(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    upstream.replies = [Reply.sse(answer("One.")), Reply.sse(answer("Two."))]
    page = new_page(site.url)
    for text, reply in (("First topic", "One."), ("Second topic", "Two.")):
        page.click("#new-chat")
        send(page, text)
        page.locator("article.msg.assistant", has_text=reply).wait_for()
        page.wait_for_selector("#send:visible")
    page.mouse.move(1200, 700)  # well away from the list
    for title in ("First topic", "Second topic"):
        for action in ("Rename", "Delete"):
            button = page.get_by_role("button", name=f"{action} “{title}”")
            # waits for the list to carry the new title; times out if hidden
            expect(button).to_be_visible()
    # Touch screens have no hover either.
    phone = new_page(site.url, viewport={"width": 390, "height": 800}, has_touch=True)
    phone.click("#sidebar-toggle")
    phone.get_by_role("button", name="Rename “First topic”").wait_for(state="visible")

    # Rename from the visible control, then reload: the title stays.
    page.get_by_role("button", name="Rename “First topic”").click()
    page.get_by_label("New title").fill("Renamed topic")
    page.get_by_label("New title").press("Enter")
    page.locator("#conversation-list .conv-title", has_text="Renamed topic").wait_for()
    page.reload()
    page.wait_for_selector("body.ready")
    page.locator("#conversation-list .conv-title", has_text="Renamed topic").wait_for()
    expect(page.get_by_role("button", name="Delete “Renamed topic”")).to_be_visible()
    assert not page.js_errors


def test_a_rename_in_progress_survives_the_list_refreshing(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    """The list re-reads itself when a reply is saved (often just after the
    answer shows); a rename begun meanwhile keeps its draft and its focus."""
    upstream.replies = [Reply.sse(answer("Noted."))]
    page = new_page(site.url)
    send(page, "Draft topic")
    page.locator("article.msg.assistant", has_text="Noted.").wait_for()
    page.wait_for_selector("#send:visible")
    page.get_by_role("button", name="Rename “Draft topic”").click()
    title = page.get_by_label("New title")
    title.fill("Half-typed new na")
    page.evaluate("() => window.pluma.sidebar.refresh()")
    expect(title).to_have_value("Half-typed new na")
    expect(title).to_be_focused()
    page.keyboard.type("me")
    page.keyboard.press("Enter")
    page.locator("#conversation-list .conv-title", has_text="Half-typed new name").wait_for()
    assert not page.js_errors


def test_your_data_names_the_secret_store_in_use(site: Site, new_page: Any) -> None:
    page = new_page(site.url + "/#settings")
    data = page.locator("#data-note")
    data.get_by_text("in the server's memory").wait_for()
    assert "OS keyring" not in data.inner_text()


def test_a_base_url_without_model_chats_at_once_and_can_be_edited(
    tmp_path: Path, new_page: Any
) -> None:
    with ChatUpstream() as upstream:
        upstream.replies = [Reply.sse(answer("Answered by model-a.")),
                            Reply.sse(answer("Answered by model-b."))]  # fmt: skip
        env = {"PLUMA_SECRETS": "file"}
        args = ["--base-url", upstream.base_url]
        with PlumaServer(tmp_path, args=args, env=env) as server:
            page = new_page(server.url)
            page.locator("#model option[value=model-b]").wait_for(state="attached")
            # No default on the connection: the page picks a listed model and says so.
            assert page.input_value("#model") == "model-a"
            assert "model-a" in page.inner_text("#models-note")
            send(page, "Hello")
            page.locator("article.msg.assistant", has_text="Answered by model-a.").wait_for()
            page.wait_for_selector("#send:visible")
            assert upstream.chat_requests[-1]["model"] == "model-a"
            assert page.locator(".error").count() == 0

            # Reload mid-flow: the conversation and its model come back.
            page.reload()
            page.wait_for_selector("body.ready")
            page.locator("article.msg.assistant", has_text="Answered by model-a.").wait_for()
            assert page.input_value("#model") == "model-a"

            # Settings: no misleading "(upstream default)"; an Edit button; the
            # keys' real place (a 0600 file here).
            page.get_by_role("button", name="Settings").click()
            row = page.locator("#connection-list li.connection")
            row.wait_for()
            assert "(upstream default)" not in row.inner_text()
            assert "no default" in row.inner_text()
            data = page.locator("#data-note")
            data.get_by_text(str(server.data_dir / "secrets.json")).wait_for()
            screenshot(page, "settings-command-line-connection")
            row.get_by_role("button", name="Edit default").click()
            form = page.get_by_role("form", name="Edit default")
            form.get_by_label("Default model").fill("model-b")
            form.get_by_role("button", name="Save").click()
            form.wait_for(state="detached")
            row = page.locator("#connection-list li.connection")
            wait_until(lambda: row.inner_text(), lambda text: "Model: model-b" in text)
            assert row.count() == 1
            listed = wait_until(
                lambda: json.loads(page.evaluate("JSON.stringify(window.pluma.connections)")),
                lambda got: len(got) == 1 and got[0]["fallback"] is False,
            )
            assert listed[0]["fallback"] is False and listed[0]["default_model"] == "model-b"

            page.reload()
            page.wait_for_selector("body.ready")
            page.get_by_role("button", name="Chat", exact=True).click()
            page.click("#new-chat")
            page.locator("#model option[value=model-b]").wait_for(state="attached")
            assert page.locator("#model option:checked").inner_text() == (
                "Connection default (model-b)"
            )
            send(page, "Again")
            page.locator("article.msg.assistant", has_text="Answered by model-b.").wait_for()
            assert upstream.chat_requests[-1]["model"] == "model-b"
            assert not page.js_errors


def test_first_run_offers_what_discovery_found_in_settings_too(
    tmp_path: Path, new_page: Any
) -> None:
    with ChatUpstream() as upstream:
        env = {"PLUMA_DISCOVERY_TARGETS": f"LM Studio={upstream.base_url}"}
        with PlumaServer(tmp_path, env=env) as server:
            page = new_page(server.url)
            panel = page.locator("#onboarding")
            panel.get_by_role("button", name="Use LM Studio").wait_for()
            assert "Settings" in panel.inner_text()
            # Sending before choosing says where to go.
            send(page, "Hello?")
            alert = page.locator(".error[role=alert]")
            alert.wait_for()
            assert "no connection" in alert.inner_text()
            expect(alert.get_by_role("button", name="Open Settings")).to_be_visible()
            alert.get_by_role("button", name="Open Settings").click()
            offer = page.locator("#view-settings").get_by_role("button", name="Use LM Studio")
            offer.wait_for()
            page.reload()
            page.wait_for_selector("body.ready")
            offer = page.locator("#view-settings").get_by_role("button", name="Use LM Studio")
            offer.click()
            page.locator("#connection-list .connection-name", has_text="LM Studio").wait_for()
            assert (
                page.locator("#view-settings").get_by_role("button", name="Use LM Studio").count()
                == 0
            )
            assert not page.js_errors
