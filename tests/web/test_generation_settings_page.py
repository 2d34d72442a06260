"""Generation settings in the page (headless Chromium, a real ``pluma
serve``, a scripted OpenAI-compatible upstream on loopback): a connection's
defaults set in Settings pre-fill a new conversation; the conversation's own
settings are saved with it, survive a reload and reach the upstream; a bad
value is refused with a visible message naming it."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.scripted_server import Reply
from tests.web.conftest import ChatUpstream, Site, answer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("web-generation")]


def send(page: Any, text: str) -> None:
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")


def done(page: Any, text: str) -> None:
    page.locator("article.msg.assistant", has_text=text).wait_for()
    page.wait_for_selector("#send:visible")


def panel(page: Any) -> Any:
    details = page.locator("details#generation")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    return details


def test_connection_defaults_prefill_and_conversation_settings_persist(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    page = new_page(site.url)
    # Settings → Edit the connection → its default generation settings.
    page.get_by_role("button", name="Settings").click()
    page.get_by_role("button", name="Edit Scripted").click()
    form = page.get_by_role("form", name="Edit Scripted")
    form.locator("summary", has_text="Default generation settings").click()
    form.get_by_label("Temperature").fill("0.3")
    form.get_by_label("Stop sequences").fill("END")
    form.get_by_role("button", name="Save").click()
    page.get_by_text("Saved Scripted.").wait_for()
    with site.api() as client:
        stored = client.get(f"/api/connections/{site.connection_id}").json()["generation"]
    assert stored == {"temperature": 0.3, "stop": ["END"]}

    # A new conversation starts from them.
    page.get_by_role("button", name="Chat", exact=True).click()
    page.get_by_role("button", name="+ New chat").click()
    box = panel(page)
    assert box.get_by_label("Temperature").input_value() == "0.3"
    assert box.get_by_label("Stop sequences").input_value() == "END"

    # Its own change, before the first message: saved when it is created.
    box.get_by_label("Max tokens").fill("50")
    page.select_option("#reasoning", "low")
    upstream.replies = [Reply.sse(answer("Tuned answer."))]
    send(page, "Use my settings")
    done(page, "Tuned answer.")
    body = upstream.chat_requests[-1]
    assert body["temperature"] == 0.3 and body["stop"] == ["END"]
    assert body.get("max_completion_tokens", body.get("max_tokens")) == 50
    assert body["reasoning_effort"] == "low"

    # A change mid-conversation is saved at once; a reload keeps it.
    box = panel(page)
    box.get_by_label("Top p").fill("0.8")
    box.get_by_label("Top p").press("Tab")
    page.get_by_text("Generation settings saved for this conversation.").wait_for()
    page.reload()
    page.wait_for_selector("body.ready")
    page.locator("article.msg.assistant", has_text="Tuned answer.").wait_for()
    box = panel(page)
    assert box.get_by_label("Top p").input_value() == "0.8"
    assert box.get_by_label("Max tokens").input_value() == "50"
    assert page.input_value("#reasoning") == "low"

    upstream.replies = [Reply.sse(answer("Again tuned."))]
    send(page, "Once more")
    done(page, "Again tuned.")
    body = upstream.chat_requests[-1]
    assert body["top_p"] == 0.8 and body["temperature"] == 0.3

    # Another new chat goes back to the connection's defaults.
    page.get_by_role("button", name="+ New chat").click()
    box = panel(page)
    assert box.get_by_label("Top p").input_value() == ""
    assert box.get_by_label("Temperature").input_value() == "0.3"
    assert page.input_value("#reasoning") == ""


def test_a_bad_value_is_refused_visibly_and_not_saved(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    page = new_page(site.url)
    upstream.replies = [Reply.sse(answer("Plain answer."))]
    send(page, "Hello")
    done(page, "Plain answer.")
    conversation_id = page.evaluate("window.pluma.chat.conversation.id")
    with site.api() as client:  # the connection's defaults (another test may have set some)
        before = client.get(f"/api/conversations/{conversation_id}").json()["settings"]

    box = panel(page)
    box.get_by_label("Temperature").fill("5")
    box.get_by_label("Temperature").press("Tab")
    alert = box.get_by_role("alert")
    alert.wait_for()
    assert "settings.temperature must be from 0 to 2, got 5" in alert.inner_text()
    assert box.get_by_label("Temperature").get_attribute("aria-invalid") == "true"
    with site.api() as client:
        assert client.get(f"/api/conversations/{conversation_id}").json()["settings"] == before

    # Fixed: the message goes and the value is saved.
    box.get_by_label("Temperature").fill("1.5")
    box.get_by_label("Temperature").press("Tab")
    page.get_by_text("Generation settings saved for this conversation.").wait_for()
    expect(alert).to_be_hidden()
    assert box.get_by_label("Temperature").get_attribute("aria-invalid") is None

    # Reload in the middle: the saved value is shown.
    page.reload()
    page.wait_for_selector("body.ready")
    page.locator("article.msg.assistant", has_text="Plain answer.").wait_for()
    assert panel(page).get_by_label("Temperature").input_value() == "1.5"

    # A bad value in a new chat is refused when the chat is created.
    page.get_by_role("button", name="+ New chat").click()
    box = panel(page)
    box.get_by_label("Max tokens").fill("-3")
    send(page, "Will this send?")
    alert = box.get_by_role("alert")
    alert.wait_for()
    assert "settings.max_tokens" in alert.inner_text()
    page.locator("#messages .error", has_text="settings.max_tokens").wait_for()  # in the chat too
