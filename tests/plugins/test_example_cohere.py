"""The shipped Cohere plugin (examples/plugins/cohere_chat.py), run by a real
`pluma serve`, against a loopback Cohere v2 server built from Cohere's
published reference; the official openai SDK is the client."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.support.cohere_upstream import KEY, CohereUpstream
from tests.support.plugin_env import EXAMPLES, install_python
from tests.support.server_process import PlumaServer

pytestmark = pytest.mark.xdist_group("plugins")


@pytest.fixture(scope="module")
def cohere() -> Iterator[CohereUpstream]:
    with CohereUpstream("Bonjour from the Cohere plugin.") as upstream:
        yield upstream


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, cohere: CohereUpstream
) -> Iterator[PlumaServer]:
    tmp = tmp_path_factory.mktemp("cohere")
    install_python(tmp / "data", "chat", "cohere", EXAMPLES / "cohere_chat.py")
    with PlumaServer(
        tmp,
        data_dir=tmp / "data",
        args=["--base-url", cohere.url, "--compat", "cohere", "--model", "command-r-plus-08-2024"],
        env={"PLUMA_API_KEY": KEY},
    ) as srv:
        yield srv


def test_a_chat_streams_through_the_cohere_plugin(
    server: PlumaServer, cohere: CohereUpstream
) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=server.api_key or "x")
    stream = client.chat.completions.create(
        model="command-r-plus-08-2024",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Salut"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Bonjour from the Cohere plugin. "
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == ["stop"]
    usage = [c.usage for c in chunks if c.usage]
    assert usage and usage[-1].completion_tokens == 5
    sent = next(r for r in cohere.requests if r.path == "/v2/chat").json()
    assert sent["stream"] is True and sent["model"] == "command-r-plus-08-2024"
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Salut"},
    ]


def test_max_tokens_maps_to_length(server: PlumaServer) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=server.api_key or "x")
    reply = client.chat.completions.create(
        model="command-r-plus-08-2024", messages=[{"role": "user", "content": "x"}], max_tokens=1
    )
    assert reply.choices[0].finish_reason == "length"


def test_models_are_listed_from_cohere(server: PlumaServer) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=server.api_key or "x")
    ids = {m.id for m in client.models.list()}
    assert any(i.endswith("command-a-03-2025") for i in ids), ids
