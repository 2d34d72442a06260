"""Finding and moving conversations on the page, in headless Chromium against
a real ``pluma serve``: the sidebar's search, the export downloads and the
import control. Conversations are seeded through the import API (the same
one the page's import uses), each test with its own words."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.scripted_server import Reply
from tests.web.conftest import ChatUpstream, Site, answer, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("web-find")]


def _doc(*conversations: dict[str, Any]) -> dict[str, Any]:
    return {"format": "pluma.conversations", "version": 1, "conversations": list(conversations)}


def _conversation(title: str, question: str, reply: str) -> dict[str, Any]:
    return {
        "title": title,
        "title_is_auto": False,
        "messages": [
            {"role": "user", "content": question},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hm", "thinkingSignature": "sig-page"},
                    {"type": "text", "text": reply},
                ],
                "model": "model-a",
                "stopReason": "stop",
            },
        ],
    }


def _seed(site: Site, *conversations: dict[str, Any]) -> list[str]:
    with site.api() as client:
        r = client.post("/api/conversations/import", json=_doc(*conversations))
        assert r.status_code == 201, r.text
        return [c["id"] for c in r.json()["conversations"]]


def test_search_finds_message_text_safely_by_keyboard_and_survives_reload(
    site: Site, new_page: Any
) -> None:
    garden, cooking = _seed(
        site,
        _conversation("Garden plans", "When to plant?", "Tomatoes need full sun, plant in May."),
        _conversation(
            "Dinner", "Ideas?", "Roast ripe tomatoes <b>slowly</b> <img src=x onerror=alert(1)>"
        ),
    )
    page = new_page(site.url)
    box = page.get_by_role("searchbox", name="Search conversations")
    box.fill("tomat")
    results = page.get_by_role("list", name="Search results")
    results.locator("li").nth(1).wait_for()
    assert set(results.locator("li").evaluate_all("els => els.map(e => e.dataset.id)")) == {
        garden,
        cooking,
    }
    expect(page.locator("#conversation-list")).to_be_hidden()
    dinner = results.locator("li", has_text="Dinner")
    assert dinner.locator("mark").all_inner_texts() == ["tomatoes"]
    # stored markup is shown as text, never built into elements
    assert "<b>slowly</b> <img src=x onerror=alert(1)>" in dinner.inner_text()
    assert results.locator("b, img").count() == 0
    screenshot(page, "search-results")

    # more words narrow it: every word must be in one message
    box.fill("full sun tomat")
    page.get_by_role("status").filter(has_text="1 conversation found.").wait_for()
    assert results.locator("li").count() == 1

    # keyboard: ArrowDown reaches the result, Enter opens it
    box.press("ArrowDown")
    assert page.evaluate("document.activeElement.closest('li').dataset.id") == garden
    page.keyboard.press("Enter")
    page.locator("article.msg.assistant", has_text="Tomatoes need full sun").wait_for()
    page.wait_for_function(f"() => location.hash === '#c={garden}'")  # a function: CSP refuses eval
    assert results.locator(f'li[data-id="{garden}"] [aria-current="true"]').count() == 1

    # reload mid-search: the same query, the same results, the same conversation open
    page.reload()
    page.wait_for_selector("body.ready")
    assert page.get_by_role("searchbox", name="Search conversations").input_value() == (
        "full sun tomat"
    )
    results.locator(f'li[data-id="{garden}"]').wait_for()
    page.locator("article.msg.assistant", has_text="Tomatoes need full sun").wait_for()

    # no match says so; Escape clears and the conversation list comes back
    box.fill("zzyzx")
    page.get_by_role("status").filter(has_text="No conversation matches “zzyzx”.").wait_for()
    box.press("Escape")
    assert box.input_value() == ""
    page.locator("#conversation-list").wait_for()
    expect(results).to_be_hidden()
    # hostile input is just words: no error
    box.fill('"unclosed NEAR( OR *')
    page.get_by_role("status").filter(has_text=re.compile("No conversation matches")).wait_for()
    assert not page.js_errors


def test_export_downloads_this_conversation_and_all(site: Site, new_page: Any) -> None:
    [cid] = _seed(site, _conversation("Export me", "Question kumquat", "Answer kumquat"))
    page = new_page(site.url)
    page.locator("#sidebar summary", has_text="Export / import").click()
    # nothing open yet: the link says what to do instead of downloading
    page.get_by_role("link", name="Export this conversation as JSON").click()
    page.get_by_role("alert").filter(has_text="Open a conversation first").wait_for()

    page.locator("#conversation-list .conv-open", has_text="Export me").click()
    page.locator("article.msg.assistant", has_text="Answer kumquat").wait_for()
    with page.expect_download() as info:
        page.get_by_role("link", name="Export this conversation as JSON").click()
    download = info.value
    assert re.fullmatch(r"pluma-export-me-\d{4}-\d\d-\d\d\.json", download.suggested_filename)
    doc = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert doc["format"] == "pluma.conversations" and doc["version"] == 1
    [exported] = doc["conversations"]
    assert exported["id"] == cid and exported["title"] == "Export me"
    assert exported["messages"][1]["message"]["content"][0]["thinkingSignature"] == "sig-page"

    with page.expect_download() as info:
        page.get_by_role("link", name="Export this conversation as Markdown").click()
    assert info.value.suggested_filename.endswith(".md")
    text = Path(info.value.path()).read_text(encoding="utf-8")
    assert text.startswith("# Export me\n")
    assert "## User\n\nQuestion kumquat" in text and "Answer kumquat" in text

    with page.expect_download() as info:
        page.get_by_role("link", name="Export all conversations as JSON").click()
    assert re.fullmatch(r"pluma-conversations-\d{4}-\d\d-\d\d\.json", info.value.suggested_filename)
    everything = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
    assert cid in {c["id"] for c in everything["conversations"]}
    with page.expect_download() as info:
        page.get_by_role("link", name="Export all conversations as Markdown").click()
    assert "# Export me\n" in Path(info.value.path()).read_text(encoding="utf-8")
    assert not page.js_errors


def test_import_brings_a_conversation_back_opens_it_and_survives_reload(
    site: Site, new_page: Any
) -> None:
    page = new_page(site.url)
    page.locator("#sidebar summary", has_text="Export / import").click()
    upload = page.locator("#import-file")

    # a file that is not JSON, then one with a bad field: each says what is wrong
    upload.set_input_files(
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not json"}]
    )
    page.get_by_role("alert").filter(has_text="notes.txt is not JSON").wait_for()
    bad = _doc(_conversation("Bad", "q", "a"))
    bad["conversations"][0]["messages"][0]["role"] = "wizard"
    upload.set_input_files(
        files=[
            {"name": "bad.json", "mimeType": "application/json", "buffer": json.dumps(bad).encode()}
        ]
    )
    page.get_by_role("alert").filter(has_text="conversations[0].messages[0]").wait_for()

    good = _doc(_conversation("Brought back", "Where is the quokka?", "On Rottnest Island."))
    upload.set_input_files(
        files=[
            {
                "name": "back.json",
                "mimeType": "application/json",
                "buffer": json.dumps(good).encode(),
            }
        ]
    )
    page.get_by_role("status").filter(has_text="Imported 1 conversation from back.json.").wait_for()
    page.locator("article.msg.assistant", has_text="On Rottnest Island.").wait_for()
    page.locator("#conversation-list .conv-title", has_text="Brought back").wait_for()
    cid = page.evaluate("decodeURIComponent(location.hash.slice(3))")
    with site.api() as client:
        stored = client.get(f"/api/conversations/{cid}").json()
    assert stored["title"] == "Brought back"
    assert stored["messages"][1]["content"][0]["thinkingSignature"] == "sig-page"

    # reload right after: the imported conversation is still the open one
    page.reload()
    page.wait_for_selector("body.ready")
    page.locator("article.msg.assistant", has_text="On Rottnest Island.").wait_for()
    # and search finds it at once
    page.get_by_role("searchbox", name="Search conversations").fill("quokka")
    page.get_by_role("list", name="Search results").locator(f'li[data-id="{cid}"]').wait_for()
    assert not page.js_errors


def test_search_results_and_export_section_pass_axe(site: Site, new_page: Any) -> None:
    axe = pytest.importorskip("axe_playwright_python.sync_playwright")
    _seed(site, _conversation("Axe check", "Find the marmot", "The marmot is here."))
    page = new_page(site.url)
    page.get_by_role("searchbox", name="Search conversations").fill("marmot")
    page.get_by_role("list", name="Search results").locator("li mark").first.wait_for()
    page.locator("#sidebar summary", has_text="Export / import").click()
    page.get_by_role("button", name="Import JSON…").wait_for()
    results = axe.Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def test_results_follow_a_new_turn_while_searching(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    upstream.replies = [Reply.sse(answer("Wombats dig burrows."))]
    page = new_page(site.url)
    box = page.get_by_role("searchbox", name="Search conversations")
    box.fill("burrows")
    page.get_by_role("status").filter(has_text="No conversation matches “burrows”.").wait_for()
    page.fill("#composer-input", "Tell me about wombats")
    page.press("#composer-input", "Enter")
    page.locator("article.msg.assistant", has_text="Wombats dig burrows.").wait_for()
    # the stored answer is found without typing again
    found = page.get_by_role("list", name="Search results").locator("li", has_text="wombats")
    found.wait_for()
    assert found.locator("mark").all_inner_texts() == ["burrows"]
    assert not page.js_errors


def test_a_hit_in_another_version_opens_that_version(site: Site, new_page: Any) -> None:
    def answer_json(text: str) -> dict[str, Any]:
        return {
            "role": "assistant",
            "content": [{"type": "text", "text": text}],
            "model": "model-a",
            "stopReason": "stop",
        }

    (conversation,) = _seed(
        site,
        {
            "title": "Two answers",
            "title_is_auto": False,
            "current_leaf": "a2",  # the newer answer is the one shown
            "messages": [
                {"id": "q", "parent_id": None, "message": {"role": "user", "content": "Pet?"}},
                {"id": "a1", "parent_id": "q", "message": answer_json("An axolotl, surely.")},
                {"id": "a2", "parent_id": "q", "message": answer_json("A cat will do.")},
            ],
        },
    )
    page = new_page(site.url)
    page.get_by_role("searchbox", name="Search conversations").fill("axolotl")
    results = page.get_by_role("list", name="Search results")
    results.locator(f'li[data-id="{conversation}"] button').click()
    # the hit is in version 1 of 2: that version opens, not the one last shown
    page.locator("article.msg.assistant", has_text="An axolotl, surely.").wait_for()
    assert page.locator("article.msg.assistant", has_text="A cat will do.").count() == 0
    page.get_by_text("1 of 2").first.wait_for()
    # and it stays the shown version: a reload opens it again
    page.reload()
    page.wait_for_selector("body.ready")
    page.locator("article.msg.assistant", has_text="An axolotl, surely.").wait_for()
    assert not page.js_errors
