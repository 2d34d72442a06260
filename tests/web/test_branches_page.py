"""Message versions in the page (headless Chromium, a real ``pluma serve``,
a scripted OpenAI-compatible upstream on loopback): Regenerate and
edit-and-resend keep the earlier versions, `‹ n of m ›` switches between
them, the upstream is sent only the branch shown, and a reload in the middle
of each flow comes back to the same branch."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.scripted_server import Reply
from tests.web.conftest import ChatUpstream, Site, answer, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("web-branches")]


def send(page: Any, text: str) -> None:
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")


def settle(page: Any, text: str) -> None:
    """Wait for ``text`` in an answer and the turn to be over (Send back,
    the stored ids adopted: version switches and Edit are drawn from them)."""
    page.locator("article.msg.assistant", has_text=text).wait_for()
    page.wait_for_selector("#send:visible")
    holds(
        page,
        "window.pluma.chat.path.length > 0"
        " && window.pluma.chat.path.length === window.pluma.chat.messages.length",
    )


def holds(page: Any, expression: str) -> None:
    """Wait until ``expression`` is true in the page. Polled from here with
    ``evaluate`` rather than ``wait_for_function``, whose in-page polling
    evaluates a string and is refused by the page's CSP (``script-src
    'self'``) whenever the first check finds it false."""
    assert wait_until(lambda: page.evaluate(expression), bool), f"never true: {expression}"


def shown(page: Any) -> list[str]:
    """The messages shown, as their text (role label left out)."""
    texts = page.locator("article.msg").all_inner_texts()
    return [t.split("\n", 1)[1].strip() for t in texts]


def reload(page: Any) -> None:
    page.reload()
    page.wait_for_selector("body.ready")
    holds(page, "window.pluma.chat.path.length > 0")


def sent(upstream: ChatUpstream) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in upstream.chat_requests[-1]["messages"]]


def test_regenerate_keeps_both_answers_and_the_switch_survives_reload(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    upstream.replies = [Reply.sse(answer("First answer."))]
    page = new_page(site.url)
    send(page, "Tell me something")
    settle(page, "First answer.")
    assert page.locator(".versions").count() == 0  # one version: no switch

    upstream.replies = [Reply.sse(answer("Second answer."))]
    page.get_by_role("button", name="Regenerate").click()
    settle(page, "Second answer.")
    assert sent(upstream) == [("user", "Tell me something")]
    nav = page.locator(".msg-tools.assistant .versions")
    assert nav.locator(".version-count").inner_text() == "2 of 2"
    assert nav.get_by_role("button", name="Next version").is_disabled()

    # Reload in the middle: the newest answer is still the one shown.
    reload(page)
    assert shown(page) == ["Tell me something", "Second answer."]

    page.get_by_role("button", name="Previous version").click()
    page.locator("article.msg.assistant", has_text="First answer.").wait_for()
    assert page.locator(".version-count").inner_text() == "1 of 2"
    # The keyboard stays on the switch (the previous button is now disabled).
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Next version"
    assert page.locator("#status").inner_text() == "Version 1 of 2."

    # The choice is the server's: a reload shows the same branch.
    reload(page)
    assert shown(page) == ["Tell me something", "First answer."]
    assert page.locator(".version-count").inner_text() == "1 of 2"

    # Continuing from here sends the branch shown, not the newer answer.
    upstream.replies = [Reply.sse(answer("Follow-up answer."))]
    send(page, "And then?")
    settle(page, "Follow-up answer.")
    assert sent(upstream) == [
        ("user", "Tell me something"),
        ("assistant", "First answer."),
        ("user", "And then?"),
    ]


def test_editing_an_earlier_message_makes_a_new_branch(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    page = new_page(site.url)
    upstream.replies = [Reply.sse(answer("Answer one."))]
    send(page, "Question one")
    settle(page, "Answer one.")
    upstream.replies = [Reply.sse(answer("Answer two."))]
    send(page, "Question two")
    settle(page, "Answer two.")

    # Edit the first question: the page offers Edit on every message.
    page.get_by_role("button", name="Edit this message").first.click()
    assert page.input_value("#composer-input") == "Question one"
    page.fill("#composer-input", "Question one, edited")
    upstream.replies = [Reply.sse(answer("Edited answer."))]
    page.press("#composer-input", "Enter")
    settle(page, "Edited answer.")
    assert sent(upstream) == [("user", "Question one, edited")]
    assert shown(page) == ["Question one, edited", "Edited answer."]
    nav = page.locator(".msg-tools.user .versions")
    assert nav.locator(".version-count").inner_text() == "2 of 2"

    # Reload in the middle of the flow: the edited branch is still shown.
    reload(page)
    assert shown(page) == ["Question one, edited", "Edited answer."]

    # Back to the original: its whole branch returns, answers included.
    nav = page.locator(".msg-tools.user .versions")
    nav.get_by_role("button", name="Previous version").click()
    page.locator("article.msg.assistant", has_text="Answer two.").wait_for()
    assert shown(page) == ["Question one", "Answer one.", "Question two", "Answer two."]
    assert page.locator(".msg-tools.user .version-count").first.inner_text() == "1 of 2"

    # And forward again, by keyboard.
    page.keyboard.press("Enter")  # focus stayed on the switch: now "Next version"
    page.locator("article.msg.assistant", has_text="Edited answer.").wait_for()
    assert shown(page) == ["Question one, edited", "Edited answer."]

    # Continuing the edited branch sends only it.
    upstream.replies = [Reply.sse(answer("Third answer."))]
    send(page, "Question three")
    settle(page, "Third answer.")
    assert sent(upstream) == [
        ("user", "Question one, edited"),
        ("assistant", "Edited answer."),
        ("user", "Question three"),
    ]
