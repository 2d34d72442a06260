"""Reading answers on the page, in Chromium against a real ``pluma serve``:
highlighted code, LaTeX math, tool calls and results as collapsible blocks,
reasoning with its duration, usage and cost, while streaming and after a
reload; and the vendored highlighter and KaTeX as the server serves them."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from pluma.llm import catalog
from tests.support.scripted_server import Gate, Reply
from tests.web.conftest import DONE, ChatUpstream, Site, add_connection, chunk, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("web-reading")]

STATIC = Path(__file__).resolve().parents[2] / "src" / "pluma" / "server" / "static"
VENDOR = STATIC / "vendor"

CSP_WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
    (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


def send(page: Any, text: str) -> None:
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")


def last_answer(page: Any) -> Any:
    return page.locator("article.msg.assistant").last


def usage_chunk(prompt: int, completion: int, cached: int) -> bytes:
    body = {
        "id": "chatcmpl-web",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }
    return f"data: {json.dumps(body)}\n\n".encode()


def dollars(amount: float) -> str:
    """The page's money format (usage.js), to compare with what it shows."""
    digits = 2 if amount >= 1 else 4 if amount >= 0.01 else 6
    text = re.sub(r"(\.\d\d\d*?)0+$", r"\1", f"{amount:.{digits}f}")
    return f"${text}"


def thought_for(ms: int) -> str:
    """The page's reasoning title (reasoning.js) for a stored duration."""
    if ms < 1000:
        return "Thought for less than a second"
    seconds = int(ms / 1000 + 0.5)
    assert seconds < 60
    return f"Thought for {seconds} s"


CODE = "```python\ndef area(r):\n    return 3.14 * r ** 2\n"
PROSE = (
    "```\n\nInline $x^2 + y^2$ and \\(a_1\\); it costs $5 and $10.\n\n"
    "$$\n\\int_0^1 x\\,dx = \\frac{1}{2}\n$$\n\n"
    "Broken: $\\frac{1}{$ stays source.\n\n"
    "Not math: `$HOME` and\n\n```sh\necho $PATH$HOME\n```\n"
)


def check_rendered(page: Any, reply: Any) -> dict[str, Any]:
    """Everything a finished rich answer must show; returns what to compare
    with the reloaded one."""
    # Code: the python block is highlighted, the shell one too; no math in code.
    python = reply.locator("code[data-lang=python]")
    python.locator(".token.keyword").first.wait_for()
    assert python.inner_text() == "def area(r):\n    return 3.14 * r ** 2"
    assert python.locator(".token.keyword", has_text="def").count() == 1
    assert python.locator(".token.number").count() >= 2
    shell = reply.locator("code[data-lang=sh]")
    assert shell.inner_text() == "echo $PATH$HOME"
    assert reply.locator(".code-block .katex, .code-block .math-pending").count() == 0
    assert reply.locator("code", has_text="$HOME").first.inner_text() == "$HOME"
    # Math: two inline formulas, one display, prices left alone, bad TeX as source.
    reply.locator(".katex").first.wait_for()
    prices = reply.locator("p", has_text="it costs")
    assert prices.locator(".katex").count() == 2
    assert "it costs $5 and $10." in prices.inner_text()
    assert reply.locator(".math-block .katex-display").count() == 1
    assert (reply.locator(".math-block annotation").text_content() or "").strip() == (
        "\\int_0^1 x\\,dx = \\frac{1}{2}"
    )
    broken = reply.locator("code.math-error")
    assert broken.inner_text() == "$\\frac{1}{$"
    assert (broken.get_attribute("title") or "").startswith("Not valid TeX")
    assert reply.locator(".math-pending").count() == 0
    # The tool call: collapsed, opens and closes, arguments laid out.
    call = reply.locator("details.tool-call")
    assert call.get_attribute("open") is None
    assert call.locator(".tool-name").inner_text() == "get_weather"
    expect(call.locator(".tool-args")).to_be_hidden()
    call.locator("summary").click()
    assert call.get_attribute("open") == ""
    assert call.locator(".tool-args").inner_text() == '{\n  "city": "Paris"\n}'
    call.locator("summary").click()
    assert call.get_attribute("open") is None
    # Reasoning: collapsed, titled with its duration.
    reasoning = reply.locator("details.reasoning")
    assert reasoning.get_attribute("open") is None
    title = reasoning.locator("summary").inner_text()
    assert re.fullmatch(r"Thought for \d+ s", title), title
    usage = reply.locator(".usage").inner_text()
    return {"reasoning": title, "usage": usage}


def test_a_rich_answer_streams_in_readable_and_survives_reload(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    with site.api() as client:
        add_connection(client, "Priced", upstream.base_url, "gpt-4o-mini", activate=True)
    thinking, code_open, code_closed = Gate(), Gate(), Gate()
    upstream.replies = [
        Reply.sse(
            [
                chunk({"role": "assistant", "content": ""}),
                chunk({"reasoning_content": "The user wants code and math."}),
                thinking,
                chunk({"content": "Here is code:\n\n" + CODE}),
                code_open,
                chunk({"content": PROSE[:4]}),  # the closing fence and a blank line
                code_closed,
                chunk({"content": PROSE[4:]}),
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": '{"city": '},
                            }
                        ]
                    }
                ),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
                chunk({}, "tool_calls"),
                usage_chunk(1200, 345, 1000),
                DONE,
            ]
        )
    ]
    page = new_page(site.url, ready=False)
    page.add_init_script(CSP_WATCH)
    page.reload()
    page.wait_for_selector("body.ready")
    send(page, "Show me code and math")

    reply = last_answer(page)
    summary = reply.locator("details.reasoning summary")
    summary.wait_for()
    assert summary.inner_text() == "Thinking…"
    time.sleep(1.2)  # the model "thinks" for a while: that span is what is measured
    thinking.open()
    python = reply.locator("code[data-lang=python]")
    python.wait_for()
    took = re.fullmatch(r"Thought for (\d+) s", summary.inner_text())
    assert took and int(took.group(1)) >= 1, summary.inner_text()
    # The code block is still open: shown as plain text, not highlighted.
    assert "return 3.14" in python.inner_text()
    assert python.locator(".token").count() == 0
    code_open.open()
    # Its closing fence arrived: highlighted while the answer still streams.
    python.locator(".token.keyword").first.wait_for()
    assert reply.get_attribute("aria-busy") == "true"
    code_closed.open()
    page.wait_for_selector("article.msg.assistant:not(.streaming) .usage")

    live = check_rendered(page, reply)
    price = catalog.price_of("gpt-4o-mini", base_url=upstream.base_url, provider="openai")
    assert price is not None and price.input > 0
    cost = (200 * price.input + 1000 * price.cache_read + 345 * price.output) / 1_000_000
    assert live["usage"] == f"Tokens: 1,200 in · 1,000 cached · 345 out · Cost {dollars(cost)}"
    screenshot(page, "reading-answer")

    # What the server stored: usage, cost and the reasoning's duration.
    conversation_id = page.evaluate("location.hash").removeprefix("#c=")
    with site.api() as client:
        stored = client.get(f"/api/conversations/{conversation_id}").json()["messages"][-1]
    assert stored["usage"]["cacheRead"] == 1000 and stored["usage"]["output"] == 345
    assert stored["usage"]["cost"]["total"] == pytest.approx(cost)
    duration = stored["content"][0]["durationMs"]
    assert 1000 <= duration < 10_000

    page.reload()
    page.wait_for_selector("body.ready")
    reloaded = check_rendered(page, last_answer(page))
    assert reloaded == {"reasoning": thought_for(duration), "usage": live["usage"]}
    assert page.evaluate("window.__csp") == []
    assert not page.js_errors

    # The duration labels the stored block; it is never sent upstream.
    send(page, "And again")
    page.wait_for_selector("article.msg.assistant:not(.streaming) >> nth=1")
    assert "durationMs" not in json.dumps(upstream.chat_requests[-1])


def test_tool_results_are_collapsible_and_errors_marked(
    site: Site, upstream: ChatUpstream, new_page: Any
) -> None:
    upstream.replies = [
        Reply.sse(
            [
                chunk({"role": "assistant", "content": ""}),
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_a",
                                "type": "function",
                                "function": {"name": "lookup", "arguments": '{"q": "tea"}'},
                            },
                            {
                                "index": 1,
                                "id": "call_b",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": '{"city": "X"}'},
                            },
                        ]
                    }
                ),
                chunk({}, "tool_calls"),
                DONE,
            ]
        ),
        Reply.sse(
            [
                chunk({"role": "assistant", "content": ""}),
                chunk({"content": "Tea is a drink; the city was not found."}),
                chunk({}, "stop"),
                usage_chunk(50, 7, 0),
                DONE,
            ]
        ),
    ]
    page = new_page(site.url)
    send(page, "Look things up")
    page.wait_for_selector("article.msg.assistant:not(.streaming) details.tool-call >> nth=1")
    conversation_id = page.evaluate("location.hash").removeprefix("#c=")

    # The caller runs the tools and sends both results as the next turn.
    results = [
        {
            "role": "toolResult",
            "toolCallId": "call_a",
            "toolName": "lookup",
            "content": [{"type": "text", "text": "Tea: an infusion of leaves."}],
            "isError": False,
        },
        {
            "role": "toolResult",
            "toolCallId": "call_b",
            "toolName": "get_weather",
            "content": [{"type": "text", "text": "no such city: X"}],
            "isError": True,
        },
    ]
    with (
        site.api() as client,
        client.stream(
            "POST", "/api/chat", json={"conversation_id": conversation_id, "message": results}
        ) as r,
    ):
        assert r.status_code == 200
        assert "data: [DONE]" in r.read().decode()

    page.reload()
    page.wait_for_selector("body.ready")
    blocks = page.locator("article.msg.tool details.tool-result")
    blocks.nth(1).wait_for()
    assert blocks.count() == 2
    ok, failed = blocks.nth(0), blocks.nth(1)
    assert ok.locator("summary").inner_text() == "Result lookup"
    assert failed.locator("summary").inner_text() == "Error get_weather"
    assert "failed" in (failed.get_attribute("class") or "")
    for block, text in ((ok, "Tea: an infusion of leaves."), (failed, "no such city: X")):
        assert block.get_attribute("open") is None
        expect(block.locator(".tool-output")).to_be_hidden()
        block.locator("summary").focus()
        page.keyboard.press("Enter")  # keyboard opens it like a click
        assert block.get_attribute("open") == ""
        assert block.locator(".tool-output").inner_text() == text
    calls = page.locator("article.msg.assistant details.tool-call")
    assert calls.count() == 2
    assert calls.nth(0).locator(".tool-name").inner_text() == "lookup"
    assert "Tea is a drink" in last_answer(page).inner_text()
    # The tool-call turn reported no usage: no line. The last one did, for a
    # model without a known price: tokens only, never "$0.00".
    assert page.locator(".usage").count() == 1
    assert last_answer(page).locator(".usage").inner_text() == "Tokens: 50 in · 7 out"
    assert page.locator(".usage .cost").count() == 0
    assert not page.js_errors


@pytest.fixture
def md_page(site: Site, new_page: Any) -> Any:
    page = new_page(site.url, ready=False)
    page.add_init_script(CSP_WATCH)
    page.reload()
    page.wait_for_selector("body.ready")
    page.evaluate(
        """async () => {
            window.md = await import('/js/markdown.js');
            // Load KaTeX once so every case below typesets synchronously.
            window.md.renderMarkdown('$x$');
            await new Promise((resolve) => {
                const wait = () => (window.katex ? resolve() : setTimeout(wait, 10));
                wait();
            });
        }"""
    )
    return page


MATH_CASES: list[tuple[str, list[str]]] = [
    # (markdown, the formulas typeset from it, in order; "!" marks invalid TeX)
    ("It costs $5 and $10.", []),
    ("From $5.00-$10.00 a month", []),
    ("US$5 and US$10", []),
    ("Set $HOME and $PATH first", []),
    ("$x$, $y_1$ and $\\alpha + \\beta$", ["x", "y_1", "\\alpha + \\beta"]),
    ("$5 and $x$ done", ["x"]),
    ("a $ x$ b", []),
    ("a $x $ b", []),
    ("price $3$4", []),
    ("escaped \\$x\\$ stays", []),
    ("`$x$` in code and $y$ outside", ["y"]),
    ("```\n$x$\n```", []),
    ("    $x$ indented code is a paragraph here", ["x"]),
    ("\\(a^2\\) and \\[b^2\\]", ["a^2", "b^2"]),
    ("display $$E = mc^2$$ inline", ["E = mc^2"]),
    ("$$\nx = 1\n$$", ["x = 1"]),
    ("\\[\n\\sum_{i=1}^n i\n\\]", ["\\sum_{i=1}^n i"]),
    ("$$\nnot closed\n\nlater $$", []),
    ("$\\frac{1}{$ broken", ["!\\frac{1}{"]),
    ("$$\\begin{bogus}$$", ["!\\begin{bogus}"]),
    ("$a$\n$b$", ["a", "b"]),
    ("$a\nb$", []),
    ("**bold $x_1$** and _$y_2$_", ["x_1", "y_2"]),
]


def test_math_rules(md_page: Any) -> None:
    got = md_page.evaluate(
        """(cases) => cases.map(([text]) => {
            const host = document.createElement('div');
            host.append(window.md.renderMarkdown(text));
            document.body.append(host);
            const out = [...host.querySelectorAll('.katex, .math-error, .math-pending')]
                .filter((el) => !el.parentElement.closest('.katex'))
                .map((el) => el.classList.contains('math-error')
                    ? '!' + el.textContent.replace(/^\\$+|\\$+$/g, '')
                    : el.classList.contains('math-pending') ? '?' + el.textContent
                    : el.querySelector('annotation').textContent.trim());
            host.remove();
            return out;
        })""",
        MATH_CASES,
    )
    assert dict(zip([c[0] for c in MATH_CASES], got, strict=True)) == dict(MATH_CASES)
    assert md_page.evaluate("window.__csp") == []
    assert not md_page.js_errors


def test_math_is_inert_and_streams_like_the_whole(md_page: Any) -> None:
    """KaTeX's own refusals hold (trust is off), and a formula streamed piece
    by piece ends as the same DOM as the whole text rendered at once."""
    hostile = md_page.evaluate(
        """() => {
            const host = document.createElement('div');
            host.append(window.md.renderMarkdown(
                '$\\\\href{javascript:window.__pwned=1}{x}$ and $\\\\url{javascript:alert(1)}$' +
                ' and $\\\\htmlClass{x}{y}$'));
            const links = host.querySelectorAll('a[href]').length;
            return {links, text: host.textContent};
        }"""
    )
    assert hostile["links"] == 0
    assert md_page.evaluate("window.__pwned") is None
    text = "Intro $a+b$ text.\n\n$$\n\\frac{1}{2}\n$$\n\nPrices $5 and $10; then \\(c\\).\n"
    mismatches = md_page.evaluate(
        """(text) => {
            const whole = document.createElement('div');
            whole.append(window.md.renderMarkdown(text));
            const out = [];
            for (const step of [1, 2, 5]) {
                const host = document.createElement('div');
                const stream = new window.md.MarkdownStream(host);
                for (let i = step; i < text.length + step; i += step) stream.update(text.slice(0, i));
                stream.finish();
                const streamed = [...host.children].map((c) => c.innerHTML).join('');
                if (streamed !== whole.innerHTML) out.push(step);
            }
            return out;
        }""",
        text,
    )
    assert mismatches == []


def test_every_vendored_language_loads_with_what_it_requires(site: Site, new_page: Any) -> None:
    """The language table in highlight.js against the files: each language,
    loaded alone after its declared requirements, defines its grammar and
    tokenizes; and every shipped language file is in the table."""
    page = new_page(site.url)
    table = page.evaluate("async () => (await import('/js/highlight.js')).REQUIRES")
    shipped = {
        p.name.removeprefix("prism-").removesuffix(".min.js")
        for p in (VENDOR / "prism").glob("prism-*.min.js")
    } - {"core"}
    assert set(table) == shipped

    def order(lang: str, seen: list[str]) -> list[str]:
        for dep in table[lang]:
            order(dep, seen)
        if lang not in seen:
            seen.append(lang)
        return seen

    context = page.context
    for lang in sorted(table):
        blank = context.new_page()
        errors: list[str] = []
        blank.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        blank.set_content("<!doctype html><title>one language</title>")
        blank.add_script_tag(url=f"{site.url}/vendor/prism/prism-core.min.js")
        for name in order(lang, []):
            blank.add_script_tag(url=f"{site.url}/vendor/prism/prism-{name}.min.js")
        tokens = blank.evaluate(
            "(lang) => Prism.tokenize('x = 1 # y', Prism.languages[lang]).length", lang
        )
        assert tokens > 0, lang
        assert errors == [], (lang, errors)
        blank.close()


def test_vendored_files_are_served_as_the_readme_says(site: Site) -> None:
    readme = (VENDOR / "README.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)/` \| \S+ \| (\d+\.\d+\.\d+) \|", readme, re.M))
    assert rows.keys() == {"prism", "katex"}
    for folder, version in rows.items():
        package = json.loads((VENDOR / folder / "package.json").read_text())
        assert package["version"] == version, folder
        assert "MIT" in (VENDOR / folder / "LICENSE").read_text()
    katex_js = (VENDOR / "katex" / "katex.min.js").read_text()
    assert f'version:"{rows["katex"]}"' in katex_js

    css = (VENDOR / "katex" / "katex.min.css").read_text()
    fonts = sorted(set(re.findall(r"url\((fonts/[\w-]+\.woff2)\)", css)))
    assert len(fonts) >= 20
    expected = {
        "/vendor/prism/prism-core.min.js": "text/javascript",
        "/vendor/prism/prism-python.min.js": "text/javascript",
        "/vendor/katex/katex.min.js": "text/javascript",
        "/vendor/katex/katex.min.css": "text/css",
        **{f"/vendor/katex/{font}": "font/woff2" for font in fonts},
        "/js/highlight.js": "text/javascript",
        "/js/math.js": "text/javascript",
        "/js/theme_boot.js": "text/javascript",
    }
    with httpx.Client(base_url=site.url) as client:
        for path, kind in expected.items():
            r = client.get(path)
            assert r.status_code == 200, path
            assert r.headers["content-type"].split(";")[0] == kind, (path, r.headers)
            local = STATIC / path.lstrip("/")
            assert r.content == local.read_bytes(), path
