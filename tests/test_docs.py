"""Every Python example in the docs runs, unmodified, so the docs cannot rot.

What is collected: each fenced block opened with ```` ```python ```` in
``README.md`` and ``docs/*.md`` (also indented, e.g. inside a list item). Each becomes one test (id ``file:line``) and
runs as a script in its own subprocess (cwd: a fresh temp dir), with this
environment:

| variable               | value                                                   |
|------------------------|---------------------------------------------------------|
| ``OPENAI_BASE_URL``      | a local OpenAI Chat Completions server (``…/v1``)        |
| ``ANTHROPIC_BASE_URL``   | a local Anthropic Messages server (SDK form, no ``/v1``) |
| ``OPENAI_API_KEY``,      | fake keys                                               |
| ``ANTHROPIC_API_KEY``    |                                                         |
| ``MY_PROTOCOL_URL``      | ``examples/my_protocol_server.py``, the "my-protocol"    |
|                        | server a reader starts for ``docs/custom-protocols.md``  |
| ``EXAMPLE_OPENAI_URL``   | ``examples/openai_server.py``, the OpenAI-compatible     |
|                        | server a reader starts for ``docs/providers.md``         |

The two ``examples/`` servers run as they ship (a subprocess each, on a
free port): the examples are tested against the servers a reader runs, not
against stand-ins.

So ``llm.get_model("openai", …)`` and ``llm.get_model("anthropic", …)`` (and
the official SDKs) reach the local servers. Those answer realistic streams
built from the vendors' published formats (tests/support/upstreams.py),
choosing the reply from the request:

| request                                         | reply                                  |
|-------------------------------------------------|----------------------------------------|
| tools given, last message from the user          | a call of the first tool, arguments    |
|                                                 | made from its schema (strings "Paris", |
|                                                 | integers 3, numbers 1.5, booleans      |
|                                                 | true, enums their first value)         |
| reasoning asked (``reasoning_effort``/``thinking``)| thinking first, then the text          |
| anything else                                   | a few sentences of text in small       |
|                                                 | deltas                                 |

Directives: an HTML comment on the line(s) right before the fence (blank lines
between are fine), words separated by spaces:

| directive                        | effect                                               |
|----------------------------------|------------------------------------------------------|
| ``<!-- docs-test: skip REASON -->`` | not run; reported as skipped with REASON. Keep rare: |
|                                  | only for blocks that cannot run here (real vendor    |
|                                  | endpoints, packaging snippets)                       |
| ``needs=a,b``                    | start these fixtures first (see ``NEEDS`` below)      |
| ``continue``                     | run after the previous block(s) of the same file, in |
|                                  | the same script (for a page that builds up a         |
|                                  | program step by step)                                |
| ``expect="TEXT"``                 | stdout must contain TEXT                             |

Fixtures (``needs=``): ``server`` starts ``pluma serve`` (tests/support/
server_process.py) with its default connection pointed at the local OpenAI
server, and sets ``PLUMA_URL`` (e.g. ``http://127.0.0.1:PORT``) and
``PLUMA_API_KEY``. Server examples should read
``os.environ.get("PLUMA_URL", "http://127.0.0.1:8740")`` so they run both for a
reader and here. To add a fixture, add a function to ``NEEDS`` that takes the
test's tmp_path and the upstreams and returns a context manager yielding the
extra environment.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.scripted_server import Reply
from tests.support.upstreams import AnthropicUpstream, OpenAIUpstream, Script, ToolUse

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^\s*```python\s*$")
_DIRECTIVE = re.compile(r"^<!--\s*docs-test:(.*?)-->\s*$")

TEXT = (
    "Pluma speaks many wire protocols. Every event arrives in order, "
    "and the stream always ends with exactly one terminal event."
)
THINKING = "The user wants a short answer; keep it to two sentences."


# -- collecting ------------------------------------------------------------------


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    code: str
    skip: str | None = None
    needs: list[str] = field(default_factory=list)
    expect: list[str] = field(default_factory=list)
    prelude: list[Block] = field(default_factory=list)

    @property
    def id(self) -> str:
        where = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{where}:{self.line}"


def _directives(lines: list[str], fence: int) -> dict[str, Any]:
    """The docs-test comments right above line index ``fence``."""
    found: dict[str, Any] = {}
    i = fence - 1
    while i >= 0 and (not lines[i].strip() or _DIRECTIVE.match(lines[i].strip())):
        match = _DIRECTIVE.match(lines[i].strip())
        if match:
            words = shlex.split(match.group(1))
            if words and words[0] == "skip":
                found["skip"] = " ".join(words[1:]) or "marked skip"
                words = []
            for word in words:
                if word == "continue":
                    found["continue"] = True
                elif word.startswith("needs="):
                    found.setdefault("needs", []).extend(n for n in word[6:].split(",") if n)
                elif word.startswith("expect="):
                    found.setdefault("expect", []).append(word[7:])
                else:
                    raise ValueError(f"unknown docs-test directive {word!r} above line {fence + 1}")
        i -= 1
    return found


def collect(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        if not _FENCE.match(lines[i]):
            i += 1
            continue
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        try:
            info = _directives(lines, start)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        block = Block(
            path,
            start + 1,
            textwrap.dedent("\n".join(body)) + "\n",  # blocks may sit indented in a list
            skip=info.get("skip"),
            needs=info.get("needs", []),
            expect=info.get("expect", []),
        )
        if info.get("continue") and blocks:
            previous = blocks[-1]
            block.prelude = [*previous.prelude, previous]
            block.needs = sorted({*block.needs, *previous.needs})
        blocks.append(block)
        i += 1
    return blocks


ALL_BLOCKS = [block for path in DOC_FILES if path.exists() for block in collect(path)]


# -- the local upstreams -----------------------------------------------------------


def _sample(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """A value fitting ``schema`` (enough for examples' tool calls)."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        schema = defs.get(ref.rsplit("/", 1)[-1], {})
    if "enum" in schema:
        return schema["enum"][0]
    for branch in schema.get("anyOf", []):
        if branch.get("type") != "null":
            return _sample(branch, defs)
    kind = schema.get("type", "string")
    if kind == "object":
        props = schema.get("properties", {})
        wanted = schema.get("required", list(props))
        return {k: _sample(props[k], defs) for k in wanted if k in props}
    if kind == "array":
        return [_sample(schema.get("items", {}), defs)]
    return {"integer": 3, "number": 1.5, "boolean": True}.get(kind, "Paris")


def _tool_use(name: str, parameters: dict[str, Any]) -> ToolUse:
    return ToolUse("call_docs_1", name, _sample(parameters, parameters.get("$defs", {})))


class DocsOpenAI(OpenAIUpstream):
    extra_arguments: dict[str, Any] = {}  # noqa: RUF012 - replaced, never mutated
    """Added to every tool call's arguments (a model that invents one)."""

    def completion(self, body: dict[str, Any]) -> Reply:
        messages = body.get("messages", [])
        tools = body.get("tools") or []
        script = Script(text=TEXT)
        if tools and messages and messages[-1].get("role") == "user":
            fn = tools[0]["function"]
            call = _tool_use(fn["name"], fn.get("parameters", {}))
            call.arguments.update(self.extra_arguments)
            script = Script(text="", tools=[call])
        elif body.get("reasoning_effort"):
            script.thinking = THINKING
        self.script = script
        return super().completion(body)


class DocsAnthropic(AnthropicUpstream):
    def messages(self, body: dict[str, Any]) -> Reply:
        messages = body.get("messages", [])
        tools = body.get("tools") or []
        last = messages[-1] if messages else {}
        content = last.get("content")
        answers_tool = isinstance(content, list) and any(
            isinstance(b, dict) and b.get("type") == "tool_result" for b in content
        )
        script = Script(text=TEXT)
        if tools and last.get("role") == "user" and not answers_tool:
            script = Script(text="", tools=[_tool_use(tools[0]["name"], tools[0]["input_schema"])])
        elif body.get("thinking"):
            script.thinking = THINKING
        self.script = script
        return super().messages(body)


EXAMPLES = ROOT / "examples"
_LISTENING = re.compile(r"listening on (http://\S+)")


@contextlib.contextmanager
def example_server(script: str) -> Iterator[str]:
    """Run ``examples/<script> --port 0`` as a reader would; its URL."""
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / script), "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # blocks until the server has bound its port
        found = _LISTENING.search(line)
        if found is None:
            raise RuntimeError(f"{script} did not start: {line}{proc.stderr.read()}")
        yield found.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass
class Upstreams:
    openai: DocsOpenAI
    anthropic: DocsAnthropic
    my_protocol_url: str
    example_openai_url: str

    def env(self) -> dict[str, str]:
        return {
            "OPENAI_BASE_URL": self.openai.base_url,
            "ANTHROPIC_BASE_URL": self.anthropic.url,
            "OPENAI_API_KEY": "sk-docs-test",
            "ANTHROPIC_API_KEY": "sk-ant-docs-test",
            "MY_PROTOCOL_URL": self.my_protocol_url,
            "EXAMPLE_OPENAI_URL": self.example_openai_url,
        }


@pytest.fixture(scope="module")
def upstreams() -> Iterator[Upstreams]:
    with (
        DocsOpenAI() as o,
        DocsAnthropic() as a,
        example_server("my_protocol_server.py") as mine,
        example_server("openai_server.py") as example_openai,
    ):
        yield Upstreams(o, a, mine, example_openai)


# -- fixtures a block can ask for (needs=) -------------------------------------------


@contextlib.contextmanager
def _server(tmp_path: Path, up: Upstreams) -> Iterator[dict[str, str]]:
    from tests.support.server_process import PlumaServer

    with PlumaServer(tmp_path, args=["--base-url", up.openai.base_url]) as srv:
        yield {"PLUMA_URL": srv.url, "PLUMA_API_KEY": srv.api_key}


@contextlib.contextmanager
def _a1111(tmp_path: Path, up: Upstreams) -> Iterator[dict[str, str]]:
    from tests.support.fake_a1111 import FakeA1111

    with FakeA1111(step_delay=0.02) as fake:
        yield {"A1111_URL": fake.url}


@contextlib.contextmanager
def _comfyui(tmp_path: Path, up: Upstreams) -> Iterator[dict[str, str]]:
    from tests.support.fake_comfyui import FakeComfyUI

    with FakeComfyUI(step_delay=0.02) as fake:
        yield {"COMFYUI_URL": fake.url}


@contextlib.contextmanager
def _native(tmp_path: Path, up: Upstreams) -> Iterator[dict[str, str]]:
    from tests.support.native_upstream import native_upstream

    with native_upstream() as server:
        yield {
            "OPENAI_BASE_URL": server.url + "/v1",
            "GEMINI_BASE_URL": server.url + "/v1beta",
            "GEMINI_API_KEY": "gemini-docs-test",
            "OLLAMA_HOST": server.url,
        }


NEEDS: dict[str, Callable[[Path, Upstreams], AbstractContextManager[dict[str, str]]]] = {
    "server": _server,
    # one server speaking OpenAI Responses, Gemini and Ollama; sets OPENAI_BASE_URL,
    # GEMINI_BASE_URL, GEMINI_API_KEY and OLLAMA_HOST
    "native": _native,
    "a1111": _a1111,  # a fake AUTOMATIC1111 API; sets A1111_URL
    "comfyui": _comfyui,  # a fake ComfyUI (HTTP + websocket); sets COMFYUI_URL
}


# -- running --------------------------------------------------------------------------


def test_blocks_were_found() -> None:
    """The collector works: the library docs hold runnable examples."""
    assert any(b.path.name == "library.md" for b in ALL_BLOCKS)
    assert any(b.path.name == "custom-protocols.md" for b in ALL_BLOCKS)
    assert any(b.path.name == "events.md" for b in ALL_BLOCKS)


def test_directives_are_parsed(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Intro\n\n<!-- docs-test: skip needs a real key -->\n```python\nraise SystemExit(1)\n```\n"
        '<!-- docs-test: needs=server expect="a b" -->\n\n```python\nx = 1\n```\n'
        "<!-- docs-test: continue -->\n```python\nprint(x)\n```\n```sh\nls\n```\n"
        "1. In a list:\n\n   ```python\n   if True:\n       y = 2\n   ```\n",
        encoding="utf-8",
    )
    first, second, third, indented = collect(page)
    assert indented.code == "if True:\n    y = 2\n"
    typo = tmp_path / "typo.md"
    typo.write_text("<!-- docs-test: skipp -->\n```python\npass\n```\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"typo\.md: unknown docs-test directive 'skipp'"):
        collect(typo)
    assert (first.skip, first.line, first.code) == ("needs a real key", 4, "raise SystemExit(1)\n")
    assert (second.needs, second.expect, second.skip) == (["server"], ["a b"], None)
    assert third.prelude == [second] and third.needs == ["server"]


def run_block(block: Block, upstreams: Upstreams, tmp_path: Path) -> str | None:
    """Run ``block`` (after its prelude) as a script; None when it passed,
    else a report of what went wrong with its output."""
    unknown = [n for n in block.needs if n not in NEEDS]
    if unknown:
        return f"{block.id}: unknown needs={unknown}; known: {sorted(NEEDS)}"
    script = "".join(f"# --- {b.id}\n{b.code}" for b in [*block.prelude, block])
    path = tmp_path / "example.py"
    path.write_text(script, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_"))}
    env.update(upstreams.env())
    env["PYTHONUNBUFFERED"] = "1"
    with contextlib.ExitStack() as stack:
        for name in block.needs:
            env.update(stack.enter_context(NEEDS[name](tmp_path, upstreams)))
        proc = subprocess.run(
            [sys.executable, str(path)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
    report = (
        f"{block.id} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    )
    if proc.returncode != 0:
        return report
    for text in block.expect:
        if text not in proc.stdout:
            return f"expected {text!r} in the output\n{report}"
    return None


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=[b.id for b in ALL_BLOCKS])
def test_example_runs(block: Block, upstreams: Upstreams, tmp_path: Path) -> None:
    if block.skip:
        pytest.skip(block.skip)
    failure = run_block(block, upstreams, tmp_path)
    assert failure is None, failure


def test_the_runner_reports_failures(upstreams: Upstreams, tmp_path: Path) -> None:
    """A broken example, a missing expected output and an unknown fixture are
    caught (so a passing docs run means something)."""
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nimport os\nprint(os.environ['OPENAI_BASE_URL'])\n```\n"
        "```python\nfrom pluma import llm\nllm.no_such_function()\n```\n"
        '<!-- docs-test: expect="absent" -->\n```python\nprint("present")\n```\n'
        "<!-- docs-test: needs=nothing -->\n```python\npass\n```\n",
        encoding="utf-8",
    )
    ok, broken, unexpected, unknown = collect(page)
    assert run_block(ok, upstreams, tmp_path) is None
    assert "AttributeError" in (run_block(broken, upstreams, tmp_path) or "")
    assert "expected 'absent'" in (run_block(unexpected, upstreams, tmp_path) or "")
    assert "unknown needs=['nothing']" in (run_block(unknown, upstreams, tmp_path) or "")


def test_docs_upstreams_answer_realistically(upstreams: Upstreams) -> None:
    """The reply choice the examples rely on: a tool call when tools are given."""
    import httpx

    body = {
        "model": "m",
        "stream": True,
        "messages": [{"role": "user", "content": "weather?"}],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                        "required": ["city", "days"],
                    },
                },
            }
        ],
    }
    reply = httpx.post(upstreams.openai.base_url + "/chat/completions", json=body, timeout=10)
    text = reply.text
    assert '"name": "get_weather"' in text and '"finish_reason": "tool_calls"' in text
    arguments = "".join(
        c["choices"][0]["delta"]["tool_calls"][0]["function"].get("arguments", "")
        for c in (json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {"))
        if c["choices"] and c["choices"][0]["delta"].get("tool_calls")
    )
    assert json.loads(arguments) == {"city": "Paris", "days": 3}


def test_the_server_fixture_serves_examples(upstreams: Upstreams, tmp_path: Path) -> None:
    """``needs=server`` gives a running ``pluma serve`` at ``PLUMA_URL``."""
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- docs-test: needs=server expect=200 -->\n```python\nimport os, httpx\n"
        'url = os.environ.get("PLUMA_URL", "http://127.0.0.1:8740")\n'
        'key = os.environ.get("PLUMA_API_KEY", "unused")\n'
        'r = httpx.get(url + "/api/health", params={"upstream": "false"},\n'
        '              headers={"Authorization": f"Bearer {key}"})\n'
        "print(r.status_code)\n```\n",
        encoding="utf-8",
    )
    (block,) = collect(page)
    assert run_block(block, upstreams, tmp_path) is None


def test_the_tool_loop_example_survives_an_undeclared_argument(
    upstreams: Upstreams, tmp_path: Path
) -> None:
    """A model that adds an argument the tool does not declare: the
    documented loop tells the model (an error tool result naming it) instead
    of crashing with ``TypeError: unexpected keyword argument``."""
    (block,) = [b for b in ALL_BLOCKS if "llm.validate_tool_call(tools, call)" in b.code]
    with DocsOpenAI() as inventive:
        inventive.extra_arguments = {"unit": "celsius"}
        failure = run_block(block, dataclasses.replace(upstreams, openai=inventive), tmp_path)
        assert failure is None, failure
        sent = inventive.requests[-1].json()["messages"]
    tool_results = [m for m in sent if m["role"] == "tool"]
    assert len(tool_results) == 1
    assert "'unit' was unexpected" in json.dumps(tool_results[0])


def test_the_example_servers_answer_as_documented(upstreams: Upstreams) -> None:
    """What the docs say about examples/: models, both reply forms, errors."""
    import httpx

    base = upstreams.example_openai_url
    assert httpx.get(base + "/models").json()["data"][0]["id"] == "my-model"
    body = {"model": "my-model", "messages": [{"role": "user", "content": "Hi"}]}
    whole = httpx.post(base + "/chat/completions", json=body).json()
    assert whole["choices"][0]["message"]["content"] == TEXT
    assert httpx.post(base + "/nope", json=body).status_code == 404
    mine = upstreams.my_protocol_url
    cut = httpx.post(mine + "/generate", json={"prompt": "Hi", "max_tokens": 2}).text
    assert '"stop": "length"' in cut and cut.count("event: text") == 2
    assert "event: error" in httpx.post(mine + "/generate", content=b"[1]").text
    assert httpx.post(mine + "/other", json={}).status_code == 404
