"""The web page in headless Chromium against a real ``pluma serve`` whose
upstream is a scripted OpenAI-compatible server on loopback."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.scripted_server import Gate, Reply
from tests.web.conftest import (
    DONE,
    ChatUpstream,
    Site,
    add_connection,
    answer,
    chunk,
    screenshot,
    wait_until,
)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("web-chat")]


def send(page: Any, text: str) -> None:
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")


def last_answer(page: Any) -> Any:
    return page.locator("article.msg.assistant").last


def test_answer_streams_in_incrementally_and_survives_reload(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    gate = Gate()
    upstream.replies = [
        Reply.sse(
            [
                chunk({"role": "assistant", "content": ""}),
                chunk({"reasoning_content": "The user greets me."}),
                chunk({"content": "First half of the answer, "}),
                chunk({"content": "with **bold** text."}),
                gate,
                chunk({"content": "\n\nSecond paragraph.\n\n```python\nprint('hi')\n```"}),
                chunk({}, "stop"),
                DONE,
            ]
        )
    ]
    page = new_page(site.url)
    posted: list[Any] = []
    page.on(
        "request",
        lambda r: posted.append(r.post_data_json) if r.url.endswith("/api/chat") else None,
    )
    send(page, "Hello, who are you?")

    reply = last_answer(page)
    reply.locator("strong", has_text="bold").wait_for()
    # Mid-stream: the first part is on screen, the rest has not arrived yet.
    assert "First half of the answer" in reply.inner_text()
    assert "Second paragraph" not in reply.inner_text()
    assert reply.get_attribute("aria-busy") == "true"
    assert page.is_visible("#stop") and not page.is_visible("#send")
    screenshot(page, "chat-streaming")

    gate.open()
    page.wait_for_selector("article.msg.assistant:not(.streaming) .code-block code")
    assert "Second paragraph." in reply.inner_text()
    assert reply.locator("code[data-lang=python]").inner_text() == "print('hi')"
    # Reasoning is there, collapsed.
    details = reply.locator("details.reasoning")
    assert details.get_attribute("open") is None
    details.locator("summary").click()
    assert "The user greets me." in details.inner_text()
    details.locator("summary").click()  # folded again: the README picture shows it collapsed
    assert details.get_attribute("open") is None
    expect(details.locator(".thinking-text")).to_be_hidden()
    assert page.is_visible("#send")

    # The page named its stored conversation and sent only the new turn; the
    # server read the history from its store.
    [body] = posted
    assert "messages" not in body and body["conversation_id"]
    assert body["message"]["role"] == "user"
    assert body["message"]["content"] == "Hello, who are you?"
    # What went upstream: the OpenAI-style history with the user's message.
    sent = upstream.chat_requests[-1]
    assert sent["messages"][-1] == {"role": "user", "content": "Hello, who are you?"}

    # The list shows it, titled from the first message; reload finds it.
    page.locator("#conversation-list .conv-title", has_text="Hello, who are you?").wait_for()
    current = page.locator("#conversation-list .conv-open[aria-current=true]")
    assert current.inner_text() == "Hello, who are you?"  # the open one is marked
    screenshot(page, "chat", docs=True)
    page.reload()
    page.wait_for_selector("body.ready")
    reply = last_answer(page)
    reply.locator(".code-block").wait_for()
    assert "First half of the answer, with bold text." in reply.inner_text()
    # A stored answer's reasoning is collapsed too.
    assert reply.locator("details.reasoning").get_attribute("open") is None
    expect(reply.get_by_text("The user greets me.")).to_be_hidden()
    assert page.locator("article.msg.user").inner_text().endswith("Hello, who are you?")
    assert not page.js_errors


def test_stop_keeps_the_partial_answer_and_cancels_upstream(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    upstream.replies = [
        Reply.sse(
            [chunk({"role": "assistant", "content": ""}), chunk({"content": "Once upon a time"})],
            hang=True,
        )
    ]
    page = new_page(site.url)
    send(page, "Tell me a long story")
    reply = last_answer(page)
    reply.get_by_text("Once upon a time").wait_for()
    page.click("#stop")
    page.get_by_text("Stopped — the partial answer is kept.").wait_for()
    assert upstream.wait_disconnect(5.0), "the server did not cancel the upstream request"
    assert "Once upon a time" in reply.inner_text()
    assert page.is_visible("#send")

    # The server stored the partial answer as aborted.
    conversation_id = page.evaluate("window.pluma.chat.conversation.id")
    with site.api() as client:
        messages = wait_until(
            lambda: client.get(f"/api/conversations/{conversation_id}").json()["messages"],
            lambda got: len(got) == 2,
        )
        assert [m["role"] for m in messages] == ["user", "assistant"]
        assert messages[1]["stopReason"] == "aborted"
        assert messages[1]["content"][0]["text"] == "Once upon a time"

    # Regenerate replaces the stopped answer with a complete one.
    upstream.replies = [Reply.sse(answer("A complete story."))]
    page.get_by_role("button", name="Regenerate").click()
    page.locator("article.msg.assistant", has_text="A complete story.").wait_for()
    page.wait_for_selector("#send:visible")
    assert page.locator("article.msg.assistant").count() == 1
    assert page.locator("article.msg.user").count() == 1

    # Edit-and-resend replaces the last message and its answer.
    upstream.replies = [Reply.sse(answer("A short story."))]
    page.get_by_role("button", name="Edit last message").click()
    assert page.input_value("#composer-input") == "Tell me a long story"
    page.fill("#composer-input", "Tell me a short story")
    page.press("#composer-input", "Enter")
    page.locator("article.msg.assistant", has_text="A short story.").wait_for()
    page.wait_for_selector("#send:visible")
    assert page.locator("article.msg.user").all_inner_texts() == ["You\nTell me a short story"]
    assert upstream.chat_requests[-1]["messages"] == [
        {"role": "user", "content": "Tell me a short story"}
    ]
    with site.api() as client:
        stored = client.get(f"/api/conversations/{conversation_id}").json()["messages"]
    assert [
        (m["role"], m["content"] if m["role"] == "user" else m["content"][0]["text"])
        for m in stored
    ] == [("user", "Tell me a short story"), ("assistant", "A short story.")]


def test_upstream_errors_are_shown_inline_with_next_steps(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    upstream.replies = [
        Reply.sse(
            [
                chunk({"role": "assistant", "content": ""}),
                chunk({"content": "Partial "}),
                b'data: {"error": {"message": "upstream is overloaded", "type": "server_error"}}\n\n',
            ]
        ),
        Reply.sse(answer("Recovered answer.")),
    ]
    page = new_page(site.url)
    send(page, "Will this fail?")
    alert = page.locator(".error[role=alert]")
    alert.wait_for()
    text = alert.inner_text()
    assert "overloaded" in text
    assert "Retry" in text  # what to do next
    assert "Partial" in last_answer(page).inner_text()
    screenshot(page, "chat-error")

    alert.get_by_role("button", name="Retry").click()
    page.locator("article.msg.assistant", has_text="Recovered answer.").wait_for()
    page.wait_for_selector("#send:visible")
    assert page.locator("article.msg.user").count() == 1


HOSTILE = """Here you go:

<img src=x onerror="window.__pwned = 'img'; alert('img')">
<script>window.__pwned = 'script'; alert('script')</script>
[click me](javascript:window.__pwned='link';alert('link'))
[data link](data:text/html,<script>alert(1)</script>)
![pic](javascript:alert('image'))
<a href="javascript:alert('raw')">raw anchor</a>
<iframe src="javascript:alert('frame')"></iframe>
A [safe link](https://example.com/docs) and **bold <b>tag</b>**.

```html
<script>alert('in code')</script>
```
"""


def test_hostile_markdown_stays_inert(site: Site, upstream: ChatUpstream, new_page: Any) -> None:
    upstream.replies = [Reply.sse(answer(*[HOSTILE[i : i + 7] for i in range(0, len(HOSTILE), 7)]))]
    page = new_page(site.url, permissions=["clipboard-read", "clipboard-write"])
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    send(page, "Show me something dangerous")
    page.wait_for_selector("article.msg.assistant:not(.streaming) .code-block")
    body = last_answer(page).locator(".msg-body")

    # The markup arrived as visible text, not as elements.
    text = body.inner_text()
    assert "<img src=x onerror=" in text
    assert "<script>window.__pwned" in text
    for tag in ("img", "script", "iframe", "b", "object", "embed"):
        assert body.locator(tag).count() == 0, tag
    hrefs = body.locator("a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert hrefs == ["https://example.com/docs"]
    assert body.locator("a").get_attribute("rel") == "noopener noreferrer nofollow"
    # Clicking where the javascript: link would be does nothing.
    body.get_by_text("click me").click()
    body.get_by_text("raw anchor").click()
    assert page.evaluate("window.__pwned") is None
    assert dialogs == []
    assert body.locator("code[data-lang=html]").inner_text() == "<script>alert('in code')</script>"

    # The code block's copy button copies the code.
    body.get_by_role("button", name="Copy html code").click()
    body.locator("button.copy", has_text="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == "<script>alert('in code')</script>"
    assert not page.js_errors


def test_a_preset_fills_the_connection_form(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    page = new_page(site.url)
    page.get_by_role("button", name="Settings").click()
    page.get_by_role("button", name="Add connection").click()
    form = page.get_by_role("form", name="Add a connection")
    form.wait_for()  # drawn once /api/presets has answered
    presets = form.get_by_label("Preset").locator("option").all_inner_texts()
    assert "Groq (openai)" in presets and "Anthropic (anthropic)" in presets  # /api/presets
    form.get_by_label("Preset").select_option(label="Groq (openai)")
    assert form.get_by_label("Name").input_value() == "groq"
    assert form.get_by_label("Compatibility").input_value() == "openai"
    assert form.get_by_label("Base URL").input_value() == "https://api.groq.com/openai/v1"
    key = form.get_by_label("API key")
    assert key.get_attribute("placeholder") == "paste your GROQ_API_KEY"
    assert "GROQ_API_KEY" in form.locator(".hint", has_text="keyring").inner_text()

    # Another preset replaces what the first filled in (the name too, untouched since).
    form.get_by_label("Preset").select_option(label="Anthropic (anthropic)")
    assert form.get_by_label("Name").input_value() == "anthropic"
    assert form.get_by_label("Compatibility").input_value() == "anthropic"
    assert form.get_by_label("Base URL").input_value() == "https://api.anthropic.com/v1"
    assert key.get_attribute("placeholder") == "paste your ANTHROPIC_API_KEY"

    # Saved as filled (pointed at the loopback upstream: no test leaves this machine).
    form.get_by_label("Preset").select_option(label="Groq (openai)")
    form.get_by_label("Base URL").fill(upstream.base_url)
    key.fill("gsk-web-test")
    form.get_by_role("button", name="Add connection").click()
    row = page.locator("#connection-list li", has_text="groq")
    row.wait_for()
    assert "openai" in row.inner_text() and "API key: set" in row.inner_text()
    with site.api() as client:
        created = next(
            c for c in client.get("/api/connections").json()["connections"] if c["name"] == "groq"
        )
        assert created["compat"] == "openai" and created["base_url"] == upstream.base_url
        client.delete(f"/api/connections/{created['id']}").raise_for_status()
    assert page.js_errors == []


def test_connection_settings_add_test_activate_edit_delete(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    page = new_page(site.url)
    page.get_by_role("button", name="Settings").click()
    page.locator("#connection-list li", has_text="Scripted").wait_for()
    page.get_by_role("button", name="Add connection").click()

    form = page.get_by_role("form", name="Add a connection")
    form.wait_for()
    compat_options = form.get_by_label("Compatibility").locator("option").all_inner_texts()
    assert "openai" in compat_options and "anthropic" in compat_options  # from /api/providers
    form.get_by_label("Name").fill("Second backend")
    form.get_by_label("Base URL").fill(upstream.base_url)
    form.get_by_label("Default model").fill("model-b")
    form.get_by_label("API key").fill("sk-web-secret-4242")
    form.get_by_role("button", name="Add connection").click()

    row = page.locator("#connection-list li", has_text="Second backend")
    row.wait_for()
    assert "API key: set" in row.inner_text()
    assert "sk-web-secret-4242" not in page.content()

    row.get_by_role("button", name="Test Second backend").click()
    verdict = row.locator(".verdict.ok")
    verdict.wait_for()
    assert "2 models" in verdict.inner_text()
    # The upstream saw the key (it reached the backend, never the page).
    assert upstream.requests[-1].headers.get("authorization") == "Bearer sk-web-secret-4242"

    row.get_by_role("button", name="Activate Second backend").click()
    page.locator("#connection-list li.active", has_text="Second backend").wait_for()
    with site.api() as client:
        listed = client.get("/api/connections").json()
    active = next(c for c in listed["connections"] if c["id"] == listed["active"])
    assert active["name"] == "Second backend"
    # The chat view's switcher follows, and switching there activates too.
    assert page.locator("#connection option:checked").inner_text() == "Second backend"
    screenshot(page, "settings")
    page.get_by_role("button", name="Chat", exact=True).click()
    page.select_option("#connection", label="Scripted")
    with site.api() as client:
        active = wait_until(
            lambda: client.get("/api/connections").json()["active"],
            lambda got: got == site.connection_id,
        )
    assert active == site.connection_id
    page.get_by_role("button", name="Settings").click()
    page.locator("#connection-list li.active", has_text="Scripted").wait_for()

    row = page.locator("#connection-list li", has_text="Second backend")
    row.get_by_role("button", name="Edit Second backend").click()
    form = page.get_by_role("form", name="Edit Second backend")
    key = form.get_by_label("API key")
    assert key.input_value() == ""
    assert key.get_attribute("placeholder").startswith("set")
    form.get_by_label("Name").fill("Renamed backend")
    form.get_by_role("button", name="Save").click()
    renamed = page.locator("#connection-list li", has_text="Renamed backend")
    renamed.wait_for()
    assert "API key: set" in renamed.inner_text()  # saving without typing keeps the key

    renamed.get_by_role("button", name="Edit Renamed backend").click()
    form = page.get_by_role("form", name="Edit Renamed backend")
    form.get_by_label("Remove the stored key").check()
    form.get_by_role("button", name="Save").click()
    renamed.get_by_text("API key: not set").wait_for()

    # A failing test shows the verdict too.
    with site.api() as client:
        client.put(
            f"/api/connections/{site.connection_id}", json={"base_url": "http://127.0.0.1:9/v1"}
        )
    page.get_by_role("button", name="Test Scripted").click()
    bad = page.locator("#connection-list li", has_text="Scripted").locator(".verdict.bad")
    bad.wait_for()
    assert "Failed" in bad.inner_text()

    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Delete Renamed backend").click()
    page.locator("#connection-list li", has_text="Renamed backend").wait_for(state="detached")
    assert not page.js_errors


def test_conversations_rename_delete_and_phone_layout(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    upstream.replies = [Reply.sse(answer("Noted."))]
    page = new_page(site.url, viewport={"width": 390, "height": 844}, color_scheme="dark")
    # Keyboard only: the skip link leads to the message box.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "composer-input"
    page.keyboard.type("A conversation to rename")
    page.keyboard.press("Enter")
    page.locator("article.msg.assistant", has_text="Noted.").wait_for()
    page.wait_for_selector("#send:visible")
    screenshot(page, "phone-dark")

    # Editing the last message: Escape gives the box back untouched.
    page.get_by_role("button", name="Edit last message").click()
    assert page.input_value("#composer-input") == "A conversation to rename"
    assert page.locator("#send").inner_text() == "Resend"
    page.keyboard.press("Escape")
    assert page.input_value("#composer-input") == ""
    assert page.locator("#send").inner_text() == "Send"

    # On a phone the list is behind the menu button; Escape closes it again.
    assert not page.is_visible("#sidebar")
    toggle = page.get_by_role("button", name="Conversations")
    toggle.click()
    page.locator("#sidebar").wait_for()
    page.keyboard.press("Escape")
    page.locator("#sidebar").wait_for(state="hidden")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert page.evaluate("document.activeElement.id") == "sidebar-toggle"
    toggle.click()
    item = page.locator("#conversation-list li", has_text="A conversation to rename")
    item.wait_for()
    item.get_by_role("button", name="Rename “A conversation to rename”").click()
    title = page.get_by_label("New title")
    title.fill("Renamed chat")
    title.press("Enter")
    page.locator("#conversation-list .conv-title", has_text="Renamed chat").wait_for()
    screenshot(page, "phone-sidebar")

    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Delete “Renamed chat”").click()
    page.locator("#conversation-list .conv-title", has_text="Renamed chat").wait_for(
        state="detached"
    )
    assert page.locator("article.msg").count() == 0  # the open conversation was the deleted one
    assert not page.js_errors


def test_autoscroll_stops_when_reader_scrolls_up_and_tool_calls_show(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    gate_1, gate_2 = Gate(), Gate()
    lines = [chunk({"content": f"Line {n} of a long answer.\n\n"}) for n in range(60)]
    upstream.replies = [
        Reply.sse(
            [
                chunk({"role": "assistant", "content": ""}),
                *lines[:30],
                gate_1,
                *lines[30:45],
                gate_2,
                *lines[45:],
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": ""},
                            }
                        ]
                    }
                ),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Pa'}}]}),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ris"}'}}]}),
                chunk({}, "tool_calls"),
                DONE,
            ]
        )
    ]
    page = new_page(site.url, viewport={"width": 1000, "height": 600})
    send(page, "Write a lot")
    log = page.locator("#messages")
    last_answer(page).get_by_text("Line 29 of a long answer.").wait_for()
    page.wait_for_function(
        "() => { const m = document.getElementById('messages');"
        " return m.scrollHeight - m.scrollTop - m.clientHeight < 5; }"
    )  # following the answer

    gate_1.open()
    last_answer(page).get_by_text("Line 44 of a long answer.").wait_for()
    page.wait_for_function(
        "() => { const m = document.getElementById('messages');"
        " return m.scrollHeight - m.scrollTop - m.clientHeight < 5; }"
    )
    # The reader scrolls up: new text must not drag the view back down.
    log.hover()
    page.mouse.wheel(0, -600)
    page.wait_for_selector("#jump-latest:visible")
    top = log.evaluate("m => m.scrollTop")
    gate_2.open()
    last_answer(page).locator(".tool-call").wait_for()
    assert log.evaluate("m => m.scrollTop") == top

    call = last_answer(page).locator(".tool-call")
    assert call.locator(".tool-name").inner_text() == "get_weather"

    page.click("#jump-latest")
    page.wait_for_function(
        "() => { const m = document.getElementById('messages');"
        " return m.scrollHeight - m.scrollTop - m.clientHeight < 5; }"
    )
    assert not page.is_visible("#jump-latest")
    call.locator("summary").click()  # tool calls are collapsed blocks
    page.wait_for_selector("article.msg.assistant:not(.streaming) .tool-call[open]")
    assert '"city": "Paris"' in call.locator(".tool-args").inner_text()


def test_a_refused_key_points_to_settings(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    upstream.replies = [
        Reply.json(
            {
                "error": {
                    "message": "Incorrect API key provided: sk-wr***ng.",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            },
            status=401,
        )
    ]
    page = new_page(site.url)
    send(page, "Hello?")
    alert = page.locator(".error[role=alert]")
    alert.wait_for()
    assert "API key" in alert.locator(".hint").inner_text()
    alert.get_by_role("button", name="Open Settings").click()
    page.locator("#view-settings").wait_for()
    assert page.locator(".tabs [aria-current=page]").inner_text() == "Settings"
    assert not page.js_errors


def test_new_chat_mid_stream_stops_it_and_keeps_both_conversations_apart(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    upstream.replies = [
        Reply.sse(
            [chunk({"role": "assistant", "content": ""}), chunk({"content": "Half an answer"})],
            hang=True,
        )
    ]
    page = new_page(site.url)
    send(page, "First conversation")
    last_answer(page).get_by_text("Half an answer").wait_for()
    page.get_by_role("button", name="+ New chat").click()
    assert upstream.wait_disconnect(5.0)
    page.wait_for_selector("#send:visible")
    assert page.locator("article.msg").count() == 0
    page.locator("#messages .empty").wait_for()

    # The server saves the stopped reply once it notices the disconnect.
    with site.api() as client:
        listed = client.get("/api/conversations").json()["conversations"]
        first = next(c for c in listed if c["title"] == "First conversation")
        wait_until(
            lambda: client.get(f"/api/conversations/{first['id']}").json()["message_count"],
            lambda n: n == 2,
        )
    page.locator("#conversation-list .conv-open", has_text="First conversation").click()
    page.locator("article.msg.assistant", has_text="Stopped").wait_for()
    assert page.locator("article.msg").count() == 2
    assert not page.js_errors


def test_connection_switcher_is_the_conversations_connection(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    with ChatUpstream() as other, site.api() as client:
        other.replies = [Reply.sse(answer("From the other backend."))]
        other_id = add_connection(client, "Other backend", other.base_url, "model-b")
        try:
            page = new_page(site.url)
            send(page, "Which backend?")
            page.locator("article.msg.assistant", has_text="Hello from the upstream.").wait_for()
            page.wait_for_selector("#send:visible")
            conversation_id = page.evaluate("window.pluma.chat.conversation.id")

            # Switching stores the connection with the open conversation.
            page.select_option("#connection", label="Other backend")
            stored = wait_until(
                lambda: client.get(f"/api/conversations/{conversation_id}").json()["connection"],
                lambda got: got == other_id,
            )
            assert stored == other_id

            # Reopened later, while another connection is active, the
            # conversation comes back on its own connection and continues there.
            client.post(f"/api/connections/{site.connection_id}/activate").raise_for_status()
            page.reload()
            page.wait_for_selector("body.ready")
            page.locator("article.msg.assistant", has_text="Hello from the upstream.").wait_for()
            assert page.locator("#connection option:checked").inner_text() == "Other backend"
            send(page, "And now?")
            page.locator("article.msg.assistant", has_text="From the other backend.").wait_for()
            assert other.chat_requests[-1]["messages"][-1] == {
                "role": "user",
                "content": "And now?",
            }

            # A new chat starts on the active connection again.
            page.get_by_role("button", name="+ New chat").click()
            page.wait_for_function(
                "(id) => document.getElementById('connection').value === id", arg=site.connection_id
            )
            assert not page.js_errors
        finally:
            client.delete(f"/api/connections/{other_id}")


def _png(width: int, height: int) -> bytes:
    """A real PNG (RGB, one colour), built from the format's published layout."""

    def part(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xd0\x40\x20" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + part(b"IHDR", header)
        + part(b"IDAT", zlib.compress(rows))
        + part(b"IEND", b"")
    )


def test_images_attached_from_the_composer_reach_the_model(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    png = _png(3, 2)
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    upstream.replies = [Reply.sse(answer("A small orange picture."))]
    page = new_page(site.url)

    # Something that is not an image is refused with a reason.
    page.set_input_files(
        "#attach-input", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hi"}]
    )
    refusal = page.locator("#attach-error")
    refusal.wait_for()
    assert "notes.txt is not an image" in refusal.inner_text()

    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Image…").click()
    chooser.value.set_files(files=[{"name": "dot.png", "mimeType": "image/png", "buffer": png}])
    tray = page.get_by_role("list", name="Attached images")
    tray.get_by_role("img", name="dot.png").wait_for()
    expect(refusal).to_be_hidden()

    # Dropped files are attached too; ✕ takes one out again.
    dropped = page.evaluate_handle(
        """(bytes) => { const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array(bytes)], 'drop.png', {type: 'image/png'}));
            return dt; }""",
        list(png),
    )
    page.dispatch_event("#composer", "drop", {"dataTransfer": dropped})
    tray.get_by_role("img", name="drop.png").wait_for()
    tray.get_by_role("button", name="Remove drop.png").click()
    tray.get_by_role("img", name="drop.png").wait_for(state="detached")
    assert tray.get_by_role("img").count() == 1
    send(page, "What is this?")
    page.locator("article.msg.assistant", has_text="A small orange picture.").wait_for()
    page.wait_for_selector("#send:visible")
    expect(tray).to_be_hidden()  # sent: the tray is empty again

    expected = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": data_url}},
    ]
    assert upstream.chat_requests[-1]["messages"][-1]["content"] == expected
    shown = page.locator("article.msg.user img.attachment")
    assert shown.evaluate("img => img.complete && img.naturalWidth") == 3

    # Regenerate sends the same message again, image included.
    upstream.replies = [Reply.sse(answer("Still orange."))]
    page.get_by_role("button", name="Regenerate").click()
    page.locator("article.msg.assistant", has_text="Still orange.").wait_for()
    page.wait_for_selector("#send:visible")
    assert upstream.chat_requests[-1]["messages"][-1]["content"] == expected

    # The stored conversation keeps the image.
    page.reload()
    page.wait_for_selector("body.ready")
    page.locator("article.msg.assistant", has_text="Still orange.").wait_for()
    assert page.locator("article.msg.user img.attachment").count() == 1
    assert "What is this?" in page.locator("article.msg.user").inner_text()
    assert not page.js_errors


def test_reload_mid_stream_keeps_what_had_arrived(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    upstream.replies = [
        Reply.sse(
            [chunk({"role": "assistant", "content": ""}), chunk({"content": "Words so far"})],
            hang=True,
        )
    ]
    page = new_page(site.url)
    send(page, "Start a long answer")
    last_answer(page).get_by_text("Words so far").wait_for()
    page.reload()
    page.wait_for_selector("body.ready")
    assert upstream.wait_disconnect(5.0), "the reload did not cancel the upstream request"
    reply = page.locator("article.msg.assistant", has_text="Words so far")
    reply.wait_for()
    assert "Stopped" in reply.inner_text()
    assert page.locator("article.msg.user").inner_text().endswith("Start a long answer")
    assert not page.js_errors


def test_compat_choices_are_the_servers_registered_providers(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    with site.api() as client:
        registered = client.get("/api/providers").json()["providers"]
    ids = [p if isinstance(p, str) else p.get("id") or p.get("compat") for p in registered]
    page = new_page(site.url + "/#settings")
    page.get_by_role("button", name="Add connection").click()
    form = page.get_by_role("form", name="Add a connection")
    form.wait_for()
    offered = form.get_by_label("Compatibility").locator("option")
    assert offered.evaluate_all("os => os.map(o => o.value)") == ids


def test_a_connection_without_its_key_says_so_inline(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    with site.api() as client:
        keyless = add_connection(client, "Keyless", "https://api.example.invalid/v1", "gpt-x")
        try:
            page = new_page(site.url)
            page.select_option("#connection", label="Keyless")
            send(page, "Hello?")
            alert = page.locator(".error[role=alert]")
            alert.wait_for()
            assert "no API key for profile Keyless" in alert.inner_text()
            assert "Settings" in alert.locator(".hint").inner_text()
            alert.get_by_role("button", name="Open Settings").click()
            page.locator("#connection-list li", has_text="Keyless").wait_for()
            assert (
                "API key: not set"
                in page.locator("#connection-list li", has_text="Keyless").inner_text()
            )
            assert not page.js_errors
        finally:
            client.delete(f"/api/connections/{keyless}")


LABELS = """() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter((el) => el.offsetParent !== null && el.type !== 'hidden')
    .filter((el) => {
        const named = el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') ||
            (el.labels && [...el.labels].some((l) => l.textContent.trim())) ||
            (el.tagName === 'BUTTON' && el.textContent.trim());
        return !named;
    })
    .map((el) => el.outerHTML.slice(0, 120))"""


def test_themes_follow_the_system_focus_shows_and_controls_are_labelled(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    background = "() => getComputedStyle(document.body).backgroundColor"
    light = new_page(site.url, color_scheme="light")
    dark = new_page(site.url, color_scheme="dark")
    assert light.evaluate(background) == "rgb(247, 247, 248)"
    assert dark.evaluate(background) == "rgb(21, 22, 26)"

    # Keyboard focus is drawn.
    light.keyboard.press("Tab")
    outline = light.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, s.outlineWidth]; }"
    )
    assert outline == ["solid", "3px"]

    # Every control a person can reach has a name, in each view.
    assert light.evaluate(LABELS) == []
    light.get_by_role("button", name="Settings").click()
    light.get_by_role("button", name="Add connection").click()
    light.get_by_role("form", name="Add a connection").wait_for()
    assert light.evaluate(LABELS) == []
    light.get_by_role("button", name="Images", exact=True).click()
    light.get_by_role("form", name="Generate an image").wait_for()
    assert light.evaluate(LABELS) == []


def test_a_conversation_deleted_elsewhere_is_explained(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    page = new_page(site.url)
    send(page, "Keep this one")
    page.locator("article.msg.assistant", has_text="Hello from the upstream.").wait_for()
    page.wait_for_selector("#send:visible")
    conversation_id = page.evaluate("window.pluma.chat.conversation.id")
    with site.api() as client:
        assert client.delete(f"/api/conversations/{conversation_id}").status_code == 204
    send(page, "Still there?")
    alert = page.locator(".error[role=alert]")
    alert.wait_for()
    assert "no conversation with id" in alert.inner_text()
    assert "New chat" in alert.locator(".hint").inner_text()
    assert not page.js_errors


def test_stop_then_regenerate_at_once_stores_only_the_new_answer(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    upstream.replies = [
        Reply.sse(
            [chunk({"role": "assistant", "content": ""}), chunk({"content": "Abandoned start"})],
            hang=True,
        ),
        Reply.sse(answer("The replacement.")),
    ]
    page = new_page(site.url)
    send(page, "Race me")
    last_answer(page).get_by_text("Abandoned start").wait_for()
    page.click("#stop")
    # No waiting for the server to save the stopped reply: Regenerate at once.
    page.get_by_role("button", name="Regenerate").click()
    page.locator("article.msg.assistant", has_text="The replacement.").wait_for()
    page.wait_for_selector("#send:visible")
    conversation_id = page.evaluate("window.pluma.chat.conversation.id")
    with site.api() as client:
        stored = wait_until(
            lambda: client.get(f"/api/conversations/{conversation_id}").json()["messages"],
            lambda got: len(got) >= 2 and got[-1]["role"] == "assistant",
        )
    assert [m["role"] for m in stored] == ["user", "assistant"]
    assert stored[1]["content"] == [{"type": "text", "text": "The replacement."}]
    page.reload()
    page.wait_for_selector("body.ready")
    page.locator("article.msg.assistant", has_text="The replacement.").wait_for()
    assert page.locator("article.msg").count() == 2
    assert not page.js_errors
