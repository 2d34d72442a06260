"""The page's themes in Chromium: following the system's colour scheme, the
System / Light / Dark menu remembered across reloads and applied before the
first paint, both dark rules holding the same colours, and axe-core finding
no violation in either theme on a conversation with every kind of block."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.support.scripted_server import Reply
from tests.web.conftest import DONE, ChatUpstream, Site, add_connection, chunk, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("web-reading")]

APP_CSS = Path(__file__).resolve().parents[2] / "src" / "pluma" / "server" / "static" / "app.css"
LIGHT_BG = "rgb(247, 247, 248)"
DARK_BG = "rgb(21, 22, 26)"

# Records the theme at the moment the parser inserts <body>: set by then, it
# was set by a blocking script in <head>, before anything could be painted.
THEME_AT_BODY = """
window.__themeAtBody = 'unseen';
new MutationObserver((_, observer) => {
    if (!document.body) return;
    window.__themeAtBody = document.documentElement.dataset.theme || 'none';
    window.__bgAtBody = getComputedStyle(document.documentElement).getPropertyValue('--bg').trim();
    observer.disconnect();
}).observe(document, {childList: true, subtree: true});
"""


def background(page: Any) -> str:
    return str(page.evaluate("getComputedStyle(document.body).backgroundColor"))


def stored_theme(page: Any) -> Any:
    return page.evaluate("localStorage.getItem('pluma.theme')")


def test_theme_follows_the_system_and_the_menu_is_remembered(site: Site, new_page: Any) -> None:
    page = new_page(site.url, ready=False, color_scheme="light")
    page.add_init_script(THEME_AT_BODY)
    page.reload()
    page.wait_for_selector("body.ready")
    menu = page.get_by_label("Theme")
    assert menu.input_value() == "system"
    assert background(page) == LIGHT_BG
    page.emulate_media(color_scheme="dark")  # the system switches: the page follows
    assert background(page) == DARK_BG

    menu.select_option("light")  # the reader overrides the dark system
    assert background(page) == LIGHT_BG
    assert stored_theme(page) == "light"
    page.reload()
    page.wait_for_selector("body.ready")
    assert menu.input_value() == "light"
    assert background(page) == LIGHT_BG
    assert page.evaluate("window.__themeAtBody") == "light"
    assert page.evaluate("window.__bgAtBody") == "#f7f7f8"

    page.emulate_media(color_scheme="light")
    menu.select_option("dark")
    assert background(page) == DARK_BG
    page.reload()
    page.wait_for_selector("body.ready")
    assert menu.input_value() == "dark"
    assert page.evaluate("window.__themeAtBody") == "dark"  # no flash of the light theme
    assert page.evaluate("window.__bgAtBody") == "#15161a"
    assert page.evaluate("getComputedStyle(document.documentElement).colorScheme") == "dark"

    menu.select_option("system")  # back to following the (light) system
    assert stored_theme(page) is None
    assert background(page) == LIGHT_BG
    page.reload()
    page.wait_for_selector("body.ready")
    assert page.evaluate("window.__themeAtBody") == "none"
    assert not page.js_errors


def test_a_choice_made_in_another_tab_applies_here(site: Site, new_page: Any) -> None:
    first = new_page(site.url, color_scheme="light")
    second = first.context.new_page()
    second.goto(site.url)
    second.wait_for_selector("body.ready")
    first.get_by_label("Theme").select_option("dark")
    second.wait_for_function("() => document.documentElement.dataset.theme === 'dark'")
    assert second.get_by_label("Theme").input_value() == "dark"
    assert background(second) == DARK_BG


def _declarations(block: str) -> dict[str, str]:
    return dict(re.findall(r"(--[\w-]+):\s*([^;]+);", block))


def test_both_dark_rules_hold_the_same_colours(site: Site, new_page: Any) -> None:
    """Dark comes from two rules (the system's, the menu's); they must not drift."""
    css = APP_CSS.read_text()
    system = re.search(r':root:not\(\[data-theme="light"\]\) \{(.*?)\}', css, re.S)
    chosen = re.search(r':root\[data-theme="dark"\] \{(.*?)\}', css, re.S)
    assert system and chosen
    system_vars, chosen_vars = _declarations(system.group(1)), _declarations(chosen.group(1))
    assert len(system_vars) >= 20
    assert system_vars == chosen_vars
    # And in the browser: the system's dark and the chosen dark compute alike.
    colours = sorted(system_vars)
    page = new_page(site.url, color_scheme="dark")
    read = "(names) => names.map((n) => getComputedStyle(document.documentElement).getPropertyValue(n).trim())"
    by_system = page.evaluate(read, colours)
    page.emulate_media(color_scheme="light")
    page.get_by_label("Theme").select_option("dark")
    assert page.evaluate(read, colours) == by_system


def _rich_conversation(site: Site, upstream: ChatUpstream, page: Any) -> None:
    """A conversation with reasoning, highlighted code, math, a bad formula,
    a tool call, a failed tool result, usage and cost."""
    usage = {
        "id": "chatcmpl-web",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [],
        "usage": {
            "prompt_tokens": 900,
            "completion_tokens": 120,
            "total_tokens": 1020,
            "prompt_tokens_details": {"cached_tokens": 300},
        },
    }
    text = (
        "Code:\n\n```python\n# a comment\ndef f(x: int) -> str:\n    return f'{x}' + \"s\"\n```\n\n"
        '```diff\n- old\n+ new\n```\n\n```html\n<a href="x">link</a>\n```\n\n'
        "Math $e^{i\\pi} + 1 = 0$ and $$\\sum_{n=1}^\\infty \\frac{1}{n^2}$$ but $\\frac{$ fails; "
        "prices $5 and $10.\n\n> quoted `code` and [a link](https://example.com)\n"
    )
    upstream.replies = [
        Reply.sse(
            [
                chunk({"role": "assistant", "content": ""}),
                chunk({"reasoning_content": "Thinking about the answer."}),
                chunk({"content": text}),
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_t",
                                "type": "function",
                                "function": {"name": "lookup", "arguments": '{"q": "x"}'},
                            }
                        ]
                    }
                ),
                chunk({}, "tool_calls"),
                f"data: {json.dumps(usage)}\n\n".encode(),
                DONE,
            ]
        ),
        Reply.sse(
            [
                chunk({"role": "assistant", "content": ""}),
                chunk({"content": "The lookup failed."}),
                chunk({}, "stop"),
                DONE,
            ]
        ),
    ]
    page.fill("#composer-input", "Everything at once")
    page.press("#composer-input", "Enter")
    page.wait_for_selector("article.msg.assistant:not(.streaming) .usage .cost")
    conversation_id = page.evaluate("location.hash").removeprefix("#c=")
    failed = {
        "role": "toolResult",
        "toolCallId": "call_t",
        "toolName": "lookup",
        "content": [{"type": "text", "text": "lookup is down"}],
        "isError": True,
    }
    with (
        site.api() as client,
        client.stream(
            "POST", "/api/chat", json={"conversation_id": conversation_id, "message": failed}
        ) as r,
    ):
        assert r.status_code == 200
        r.read()
    page.reload()
    page.wait_for_selector("body.ready")
    page.locator("code[data-lang=python] .token.comment").wait_for()
    page.locator("code[data-lang=html] .token.tag").first.wait_for()
    page.locator(".katex").first.wait_for()
    page.locator("details.tool-result.failed").wait_for()
    # Open every block so its contents are checked too.
    for summary in page.locator("#messages details > summary").all():
        summary.click()


def test_axe_finds_no_violation_in_either_theme(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    with site.api() as client:
        add_connection(client, "Priced theme", upstream.base_url, "gpt-4o-mini", activate=True)
    page = new_page(site.url, color_scheme="light")
    _rich_conversation(site, upstream, page)
    axe = Axe()
    menu = page.get_by_label("Theme")
    for theme, bg in (("light", LIGHT_BG), ("dark", DARK_BG)):
        menu.select_option(theme)
        assert background(page) == bg
        violations = axe.run(page).response["violations"]
        report = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:5]) for v in violations]
        assert report == [], f"{theme}: {report}"
        screenshot(page, f"theme-{theme}")
    # The system's dark (no choice stored) is the same dark.
    menu.select_option("system")
    page.emulate_media(color_scheme="dark")
    assert background(page) == DARK_BG
    assert axe.run(page).response["violations"] == []
    assert not page.js_errors
