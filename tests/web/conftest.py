"""Fixtures for the browser tests: Debian's Chromium driven by Playwright,
a real ``pluma serve`` subprocess, and scripted OpenAI-compatible upstreams.

One browser and one server per module (starting either costs seconds on a
small machine); each test gets a fresh browser context (no shared storage)
and a fresh upstream that the module's connection is pointed at.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.scripted_server import Reply, Request, ScriptedServer
from tests.support.server_process import PlumaServer

CHROMIUM = os.environ.get("PLUMA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DOCS = Path(__file__).resolve().parents[2] / "docs"
MODELS = ["model-a", "model-b"]


# -- the upstream ------------------------------------------------------------


def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    """One OpenAI ``chat.completion.chunk`` SSE event (the published format)."""
    body = {
        "id": "chatcmpl-web",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "model-a",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


DONE = b"data: [DONE]\n\n"


def answer(*texts: str, thinking: str = "") -> list[bytes]:
    """A complete streamed answer: role, reasoning, text pieces, finish, [DONE]."""
    out = [chunk({"role": "assistant", "content": ""})]
    if thinking:
        out.append(chunk({"reasoning_content": thinking}))
    out += [chunk({"content": t}) for t in texts]
    return [*out, chunk({}, "stop"), DONE]


class ChatUpstream(ScriptedServer):
    """An OpenAI-compatible backend: ``GET /v1/models`` and streaming
    ``POST /v1/chat/completions`` answered from :attr:`replies` in order
    (the last one repeats)."""

    def __init__(self) -> None:
        super().__init__(handler=self.route)
        self.replies: list[Reply] = [Reply.sse(answer("Hello from the upstream."))]
        self.chat_requests: list[dict[str, Any]] = []
        self.models = list(MODELS)
        """The ids ``GET /v1/models`` lists."""

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def route(self, request: Request) -> Reply:
        if request.method == "GET" and request.path == "/v1/models":
            return Reply.json(
                {
                    "object": "list",
                    "data": [
                        {"id": m, "object": "model", "created": 1, "owned_by": "test"}
                        for m in self.models
                    ],
                }
            )
        if request.method == "POST" and request.path == "/v1/chat/completions":
            self.chat_requests.append(request.json())
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return Reply.json({"error": {"message": "not found", "type": "invalid_request_error"}}, 404)


# -- the browser -------------------------------------------------------------


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    """One Playwright driver per test process (its sync API allows only one
    at a time, and modules may interleave under xdist)."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail(
            "the browser tests need Chromium at /usr/bin/chromium: run `make browser-deps` "
            "(as root it installs Debian's chromium) or `sudo apt-get install chromium`"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser tests need Playwright for Python: pip install -e '.[dev]'")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Any) -> Iterator[Any]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """Open a page in a fresh context (``new_page(url, **context_options)``)."""
    contexts: list[Any] = []

    def make(url: str, *, ready: bool = True, **options: Any) -> Any:
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.js_errors = errors  # type: ignore[attr-defined]
        page.goto(url)
        if ready:
            page.wait_for_selector("body.ready")
        return page

    yield make
    for context in contexts:
        context.close()


def wait_until(read: Callable[[], Any], ok: Callable[[Any], bool], timeout: float = 10.0) -> Any:
    """Poll ``read()`` until ``ok(value)`` (for server-side state the page
    cannot signal, e.g. a reply stored after the client left)."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if ok(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def screenshot(page: Any, name: str, *, docs: bool = False) -> None:
    """Save a view to ``test-artifacts/<name>.png``. ``docs=True`` marks the
    README's picture: it is written to ``docs/screenshot.png`` when that file
    is missing or ``PLUMA_UPDATE_SCREENSHOT=1`` (so ordinary test runs leave
    the tracked file alone)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    target = DOCS / "screenshot.png"
    if docs and (not target.exists() or os.environ.get("PLUMA_UPDATE_SCREENSHOT") == "1"):
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(target))


# -- the server --------------------------------------------------------------


class Site:
    """The module's server plus the connection the tests point at upstreams."""

    def __init__(self, server: PlumaServer, connection_id: str) -> None:
        self.server = server
        self.connection_id = connection_id

    @property
    def url(self) -> str:
        return self.server.url

    def api(self) -> httpx.Client:
        return self.server.client()


def add_connection(
    client: httpx.Client, name: str, base_url: str, model: str, *, activate: bool = False
) -> str:
    """Create an OpenAI-compatible connection through the API; its id."""
    r = client.post(
        "/api/connections",
        json={
            "name": name,
            "compat": "openai",
            "base_url": base_url,
            "default_model": model,
            "activate": activate,
        },
    )
    assert r.status_code == 201, r.text
    connection_id: str = r.json()["id"]
    return connection_id


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with ChatUpstream() as first, PlumaServer(tmp_path_factory.mktemp("web")) as server:
        with server.client() as client:
            connection_id = add_connection(
                client, "Scripted", first.base_url, "model-a", activate=True
            )
        yield Site(server, connection_id)


@pytest.fixture
def upstream(site: Site) -> Iterator[ChatUpstream]:
    """A fresh upstream for this test, with the module's connection aimed at it."""
    with ChatUpstream() as up:
        with site.api() as client:
            r = client.put(
                f"/api/connections/{site.connection_id}",
                json={"base_url": up.base_url},
            )
            assert r.status_code == 200, r.text
            client.post(f"/api/connections/{site.connection_id}/activate").raise_for_status()
        yield up
