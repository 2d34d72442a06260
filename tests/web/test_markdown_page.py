"""The page's markdown renderer (static/js/markdown.js), run in Chromium:
hostile inputs stay inert, and rendering a stream piece by piece ends with
exactly the DOM of rendering the whole text at once."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import Site

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("web-chat")]

HOSTILE = [
    '<img src=x onerror="window.__pwned=1">',
    "<script>window.__pwned=1</script>",
    "[a](javascript:window.__pwned=1)",
    "[a](JaVaScRiPt:window.__pwned=1)",
    "[a](java\tscript:window.__pwned=1)",
    "[a]( javascript:window.__pwned=1 )",
    "[a](vbscript:msgbox)",
    "[a](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[a](/relative/path)",
    "[a](//evil.example/x)",
    "![a](javascript:window.__pwned=1)",
    '<a href="javascript:window.__pwned=1">x</a>',
    "<svg onload=window.__pwned=1>",
    "<iframe srcdoc='<script>parent.__pwned=1</script>'>",
    "**<img src=x onerror=window.__pwned=1>**",
    "| a | b |\n|---|---|\n| <img src=x onerror=window.__pwned=1> | [x](javascript:alert(1)) |",
    "> <script>window.__pwned=1</script>",
    "- <b onmouseover=window.__pwned=1>x</b>\n  - [y](javascript:1)",
    "`<script>window.__pwned=1</script>`",
    "<https://ok.example/a> <javascript:alert(1)>",
    "javascript:alert(1) https://ok.example/b",
]

SAMPLES = [
    "# Title\n\nSome *em* and **strong** and `code`.\n\n- one\n- two\n  - nested\n\n1. first\n2. second\n",
    "Para one\nline two\n\n```js\nconst x = 1;\n\nconst y = 2;\n```\n\nAfter the code.\n",
    "| h1 | h2 |\n|:--|--:|\n| a | b |\n| c | d |\n\n> quote\n> more\n\n---\n\nend",
    "Unclosed ```fence\n```python\nprint(1)\n",
    "Link [here](https://example.com) and snake_case_name and a_b_c.\n\n\n\nTriple gap.",
]


@pytest.fixture
def md_page(site: Site, new_page: Any) -> Any:
    page = new_page(site.url)
    page.evaluate("async () => { window.md = await import('/js/markdown.js'); }")
    return page


def test_hostile_inputs_render_inert(md_page: Any) -> None:
    result = md_page.evaluate(
        """(inputs) => inputs.map((text) => {
            const host = document.createElement('div');
            host.append(window.md.renderMarkdown(text));
            document.body.append(host);
            const bad = host.querySelectorAll('script,img,iframe,svg,object,embed,style,b,[onerror],[onload],[onmouseover]');
            const hrefs = [...host.querySelectorAll('a')].map(a => a.getAttribute('href'));
            host.remove();
            return {text, bad: bad.length, hrefs};
        })""",
        HOSTILE,
    )
    for item in result:
        assert item["bad"] == 0, item
        for href in item["hrefs"]:
            assert href.startswith(("https://", "http://", "mailto:")), item
    assert md_page.evaluate("window.__pwned") is None
    links = {h for item in result for h in item["hrefs"]}
    assert links == {"https://ok.example/a", "https://ok.example/b"}


def test_streamed_rendering_matches_whole_rendering(md_page: Any) -> None:
    mismatches = md_page.evaluate(
        """(samples) => samples.flatMap((text) => {
            const whole = document.createElement('div');
            whole.append(window.md.renderMarkdown(text));
            const out = [];
            for (const step of [1, 3, 7]) {
                const host = document.createElement('div');
                const stream = new window.md.MarkdownStream(host);
                for (let i = step; i < text.length + step; i += step) stream.update(text.slice(0, i));
                stream.finish();
                const streamed = [...host.children].map(c => c.innerHTML).join('');
                if (streamed !== whole.innerHTML) out.push({text, step, streamed, whole: whole.innerHTML});
            }
            return out;
        })""",
        SAMPLES,
    )
    assert mismatches == []


def test_stream_holds_only_the_unfinished_tail(md_page: Any) -> None:
    """Per-update cost must not grow with the answer: after many finished
    paragraphs the stream keeps (and re-renders) only the last, open one."""
    got = md_page.evaluate(
        """() => {
            const host = document.createElement('div');
            const stream = new window.md.MarkdownStream(host);
            const sizes = [];
            for (let i = 0; i < 400; i += 1) {
                for (const piece of [`Paragraph ${i} `, 'with **some** text.', '\\n\\n']) {
                    stream.append(piece);
                    sizes.push(stream.pending.length);
                }
            }
            stream.append('Open tail');
            return {max: Math.max(...sizes), paras: host.querySelectorAll('p').length,
                    tail: stream.tail.textContent, length: stream.length};
        }"""
    )
    assert got["paras"] == 401
    assert got["max"] < 60, got
    assert got["tail"] == "Open tail"


def test_live_reply_paints_only_what_arrived(md_page: Any) -> None:
    got = md_page.evaluate(
        """async () => {
            const { LiveReply } = await import('/js/messages.js');
            const reply = new LiveReply(() => {});
            document.body.append(reply.el);
            const thinking = ['Let me ', 'think ', 'about <b>it</b>.'];
            for (const t of thinking) { reply.add('thinking', t); reply.paint(); }
            for (const t of ['Hello ', '<img src=x onerror=alert(1)>', '\\n\\nBye.']) {
                reply.add('text', t); reply.paint();
            }
            reply.toolCall({index: 0, id: 'c1', function: {name: 'f', arguments: '{"a"'}});
            reply.paint();
            reply.toolCall({index: 0, function: {arguments: ': 1}'}});
            reply.end();
            const out = {
                thinking: reply.el.querySelector('.thinking-text').textContent,
                text: reply.el.querySelector('.md').textContent,
                imgs: reply.el.querySelectorAll('img, b').length,
                args: reply.el.querySelector('.tool-args').textContent,
                message: reply.message('stop'),
            };
            reply.el.remove();
            return out;
        }"""
    )
    assert got["thinking"] == "Let me think about <b>it</b>."
    assert got["text"] == "Hello <img src=x onerror=alert(1)>Bye."
    assert got["imgs"] == 0
    assert got["args"] == '{\n  "a": 1\n}'
    # The reasoning ended when the text began: the page timed it.
    duration = got["message"]["content"][0].pop("durationMs")
    assert isinstance(duration, int) and duration >= 0
    assert got["message"]["content"] == [
        {"type": "thinking", "thinking": "Let me think about <b>it</b>."},
        {"type": "text", "text": "Hello <img src=x onerror=alert(1)>\n\nBye."},
        {"type": "toolCall", "id": "c1", "name": "f", "arguments": {"a": 1}},
    ]
