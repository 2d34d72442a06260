"""A plugin with the ``events`` capability hands neutral events over
StreamEvents: signed thinking, a tool call and usage reach an Anthropic
client intact (the official anthropic SDK as judge)."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from tests.support.plugin_env import SUPPORT, install_python
from tests.support.server_process import PlumaServer

pytestmark = pytest.mark.xdist_group("plugins")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlumaServer]:
    tmp = tmp_path_factory.mktemp("plugin-events")
    install_python(tmp / "data", "chat", "events", SUPPORT / "events_chat.py")
    with PlumaServer(
        tmp,
        data_dir=tmp / "data",
        args=["--base-url", "http://127.0.0.1:9", "--compat", "events", "--model", "thinker"],
    ) as srv:
        yield srv


def test_events_cross_without_loss(server: PlumaServer) -> None:
    with server.client() as client:
        (plugin,) = client.get("/api/plugins").json()["plugins"]
    assert "events" in plugin["capabilities"]
    sdk = anthropic.Anthropic(base_url=server.url, api_key=server.api_key or "x")
    with sdk.messages.stream(
        model="thinker",
        max_tokens=100,
        messages=[{"role": "user", "content": "go"}],
        tools=[{"name": "lookup", "description": "d", "input_schema": {"type": "object"}}],
    ) as stream:
        final = stream.get_final_message()
    kinds = [block.type for block in final.content]
    assert kinds == ["thinking", "text", "tool_use"], final
    thinking, text, tool = final.content
    assert thinking.thinking == "Let me think." and thinking.signature == "sig-from-plugin"  # type: ignore[union-attr]
    assert text.text == "Calling the tool."  # type: ignore[union-attr]
    assert (tool.name, tool.input) == ("lookup", {"q": "pluma"})  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (11, 22)
