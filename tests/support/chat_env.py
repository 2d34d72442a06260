"""A real ``pluma serve`` with one connection per kind of chat upstream, for
the chat endpoint tests (one per test module: starting a server costs ~1 s).

| connection | compat      | upstream                                            |
|------------|-------------|-----------------------------------------------------|
| ``oa``     | openai      | :class:`OpenAIUpstream` (built-in adapter provider) |
| ``an``     | anthropic   | :class:`AnthropicUpstream` (built-in adapter provider) |
| ``ln``     | lines       | another :class:`OpenAIUpstream`, reached by the     |
|            |             | seed-contract plugin in :mod:`line_provider`        |
| ``remote`` | openai      | a non-loopback URL with no key (never contacted)    |

The plugin is installed the way a third-party package would be: a
``.dist-info`` directory on ``PYTHONPATH`` whose ``entry_points.txt`` puts it
in the ``pluma.providers`` group.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.server_process import PlumaServer
from tests.support.upstreams import AnthropicUpstream, OpenAIUpstream, Script

REPO = Path(__file__).resolve().parents[2]

# connection name → default model
DEFAULT_MODELS = {"oa": "model-a", "an": "claude-test-1", "ln": "model-a"}
KINDS = ("oa", "an", "ln")


@dataclass
class ChatEnv:
    server: PlumaServer
    openai: OpenAIUpstream
    anthropic: AnthropicUpstream
    lines: OpenAIUpstream

    def upstream(self, kind: str) -> OpenAIUpstream | AnthropicUpstream:
        return {"oa": self.openai, "an": self.anthropic, "ln": self.lines}[kind]

    def reset(self, kind: str, script: Script | None = None) -> OpenAIUpstream | AnthropicUpstream:
        upstream = self.upstream(kind)
        upstream.reset(script)
        return upstream

    def model(self, kind: str, model: str | None = None) -> str:
        """The ``<connection>/<model>`` address of a model on ``kind``."""
        return f"{kind}/{model or DEFAULT_MODELS[kind]}"

    @property
    def url(self) -> str:
        return self.server.url


def install_plugin(root: Path) -> Path:
    """A dist-info making :mod:`tests.support.line_provider` a ``pluma.providers`` plugin."""
    info = root / "pluma_test_lines-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pluma-test-lines\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[pluma.providers]\nlines = tests.support.line_provider:LineProvider\n"
    )
    return root


def write_connections(data_dir: Path, env: ChatEnv | dict[str, str]) -> None:
    urls = env if isinstance(env, dict) else {}
    profiles = [
        {"id": "oa1", "name": "oa", "compat": "openai", "base_url": urls["oa"], "default_model": "model-a"},
        {"id": "an1", "name": "an", "compat": "anthropic", "base_url": urls["an"],
         "default_model": "claude-test-1"},
        {"id": "ln1", "name": "ln", "compat": "lines", "base_url": urls["ln"], "default_model": "model-a"},
        {"id": "rm1", "name": "remote", "compat": "openai", "base_url": "https://api.example.invalid/v1",
         "default_model": "gpt-4o-mini"},
    ]  # fmt: skip
    data_dir.mkdir(parents=True, exist_ok=True)
    doc = {"version": 1, "active": "oa1", "connections": profiles}
    (data_dir / "connections.json").write_text(json.dumps(doc))


@contextmanager
def chat_env(tmp: Path) -> Iterator[ChatEnv]:
    with ExitStack() as stack:
        oa = stack.enter_context(OpenAIUpstream())
        an = stack.enter_context(AnthropicUpstream())
        ln = stack.enter_context(OpenAIUpstream())
        write_connections(tmp / "data", {"oa": oa.base_url, "an": an.base_url, "ln": ln.base_url})
        plugins = install_plugin(tmp / "plugins")
        pythonpath = f"{REPO / 'src'}:{REPO}:{plugins}"
        server = stack.enter_context(PlumaServer(tmp, env={"PYTHONPATH": pythonpath}))
        yield ChatEnv(server=server, openai=oa, anthropic=an, lines=ln)
