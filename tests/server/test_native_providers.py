"""The native built-in providers (compat ``openai-responses``, ``gemini``,
``ollama``) through a real ``pluma serve``: each upstream is spoken to in its
own API (a loopback server answering as that API does), its model list read
from its own list endpoint, and every client endpoint works over it — the
official ``openai`` SDK on ``/v1/chat/completions`` and ``/v1/responses``, the
official ``anthropic`` SDK on ``/v1/messages``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from tests.support import gemini_streams as g
from tests.support import ollama_streams as o
from tests.support import responses_streams as r
from tests.support.native_upstream import TEXT, native_upstream
from tests.support.scripted_server import ScriptedServer
from tests.support.server_process import PlumaServer

KINDS = {
    # connection name: (compat, base URL suffix as a user would type it, model)
    "rsp": ("openai-responses", "/v1", r.MODEL),
    "gem": ("gemini", "/v1beta", g.MODEL),
    "oll": ("ollama", "/v1", o.MODEL),  # the OpenAI-style URL means the same server
}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedServer]:
    with native_upstream() as server:
        yield server


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, upstream: ScriptedServer
) -> Iterator[PlumaServer]:
    tmp = Path(tmp_path_factory.mktemp("native"))
    profiles = [
        {"id": f"{name}1", "name": name, "compat": compat, "base_url": upstream.url + suffix,
         "default_model": ""}
        for name, (compat, suffix, _model) in KINDS.items()
    ]  # fmt: skip
    (tmp / "data").mkdir()
    doc = {"version": 1, "active": "rsp1", "connections": profiles}
    (tmp / "data" / "connections.json").write_text(json.dumps(doc))
    with PlumaServer(tmp) as running:
        yield running


@pytest.fixture
def oai(server: PlumaServer) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=server.api_key, max_retries=0)
    yield client
    client.close()


def last_request(upstream: ScriptedServer, marker: str) -> dict[str, object]:
    found = [q for q in upstream.requests if marker in q.path and q.method == "POST"]
    body: dict[str, object] = found[-1].json()
    return body


def test_each_lists_its_models_from_its_own_endpoint(server: PlumaServer) -> None:
    headers = {"authorization": f"Bearer {server.api_key}"}
    listed = httpx.get(server.url + "/v1/models", headers=headers).json()["data"]
    ids = {m["id"] for m in listed}
    assert {f"rsp/{r.MODEL}", f"gem/{g.MODEL}", f"oll/{o.MODEL}"} <= ids
    assert "gem/text-embedding-004" not in ids  # not a chat model


@pytest.mark.parametrize("name", list(KINDS))
def test_chat_completions_client_over_each_native_upstream(
    server: PlumaServer, upstream: ScriptedServer, oai: openai.OpenAI, name: str
) -> None:
    _compat, _suffix, model = KINDS[name]
    stream = oai.chat.completions.create(
        model=f"{name}/{model}",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
        temperature=0.2,
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 25
    marker = {"rsp": "/responses", "gem": ":streamGenerateContent", "oll": "/api/chat"}[name]
    body = last_request(upstream, marker)
    if name == "rsp":
        assert body["instructions"] == "Be brief." and body["temperature"] == 0.2
    elif name == "gem":
        assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    else:
        assert body["messages"][0] == {"role": "system", "content": "Be brief."}  # type: ignore[index]
        assert body["options"]["temperature"] == 0.2  # type: ignore[index]


@pytest.mark.parametrize("name", list(KINDS))
def test_anthropic_client_over_each_native_upstream(server: PlumaServer, name: str) -> None:
    client = anthropic.Anthropic(base_url=server.url, api_key=server.api_key, max_retries=0)
    try:
        with client.messages.stream(
            model=f"{name}/{KINDS[name][2]}",
            max_tokens=256,
            messages=[{"role": "user", "content": "hi"}],
        ) as stream:
            message = stream.get_final_message()
    finally:
        client.close()
    assert message.content[0].type == "text"
    assert message.content[0].text == TEXT


def test_responses_client_tool_round_trip_over_gemini(
    server: PlumaServer, upstream: ScriptedServer, oai: openai.OpenAI
) -> None:
    with oai.responses.stream(
        model=f"gem/{g.MODEL}",
        input="Weather in Paris?",
        tools=[WEATHER],  # type: ignore[list-item]
    ) as stream:
        final = stream.get_final_response()
    call = next(item for item in final.output if item.type == "function_call")
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})
    answer = oai.responses.create(
        model=f"gem/{g.MODEL}",
        tools=[WEATHER],  # type: ignore[list-item]
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
        ],
    )
    assert answer.output_text == TEXT
    contents = last_request(upstream, ":streamGenerateContent")["contents"]
    assert contents[1]["parts"][0]["functionCall"]["name"] == "get_weather"  # type: ignore[index]
    response = contents[2]["parts"][0]["functionResponse"]  # type: ignore[index]
    assert response["name"] == "get_weather"


def test_a_responses_client_on_a_responses_upstream_passes_unmodelled_members_through(
    server: PlumaServer, upstream: ScriptedServer, oai: openai.OpenAI
) -> None:
    oai.responses.create(
        model=f"rsp/{r.MODEL}",
        input="hi",
        store=True,
        service_tier="flex",
        truncation="auto",
        reasoning={"effort": "low", "summary": "detailed"},
    )
    body = last_request(upstream, "/responses")
    assert body["store"] is True
    assert body["service_tier"] == "flex"
    assert body["truncation"] == "auto"
    assert body["reasoning"] == {"effort": "low", "summary": "detailed"}


def test_unmodelled_responses_members_are_refused_by_another_protocol(
    server: PlumaServer, oai: openai.OpenAI
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.responses.create(model=f"oll/{o.MODEL}", input="hi", truncation="auto")
    assert "truncation" in str(caught.value)
    # What only tunes what OpenAI keeps or shows is accepted and has no effect.
    done = oai.responses.create(model=f"oll/{o.MODEL}", input="hi", store=False)
    assert done.output_text == TEXT


def test_first_run_discovery_offers_a_local_ollama_with_the_native_compat(
    tmp_path: Path, upstream: ScriptedServer
) -> None:
    env = {"PLUMA_DISCOVERY": "1", "PLUMA_DISCOVERY_TARGETS": f"Ollama={upstream.url}/v1"}
    with PlumaServer(tmp_path, env=env) as srv, srv.client() as c:
        offer = c.get("/api/discovery").json()["found"][0]
        assert offer["compat"] == "ollama"
        assert offer["profile"]["compat"] == "ollama"
        assert offer["profile"]["base_url"] == upstream.url  # the server root, not /v1
        made = c.post("/api/connections", json={**offer["profile"], "default_model": o.MODEL})
        assert made.status_code == 201, made.text
        chat = c.post(
            "/v1/chat/completions",
            json={"model": o.MODEL, "messages": [{"role": "user", "content": "hi"}]},
        )
        assert chat.status_code == 200, chat.text
        assert chat.json()["choices"][0]["message"]["content"] == TEXT
    assert any(q.path == "/api/chat" for q in upstream.requests)


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [("oll", "user", "u-1"), ("gem", "metadata", {"a": "b"}), ("rsp", "seed", 7)],
)
def test_a_control_the_native_api_lacks_is_a_400_before_anything_is_sent(
    server: PlumaServer, upstream: ScriptedServer, name: str, field: str, value: object
) -> None:
    before = len(upstream.requests)
    reply = httpx.post(
        server.url + "/api/chat",
        json={
            "model": f"{name}/{KINDS[name][2]}",
            "messages": [{"role": "user", "content": "hi"}],
            field: value,
        },
        headers={"authorization": f"Bearer {server.api_key}"},
    )
    assert reply.status_code == 400, reply.text
    assert field in reply.json()["error"]["message"]
    assert len(upstream.requests) == before
