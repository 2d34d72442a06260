"""OpenAI's reasoning models take only their default sampling: OpenAI answers
400 ("Unsupported parameter: 'temperature' is not supported with this model",
or "does not support 0.5 with this model. Only the default (1) value is
supported") to temperature and top_p. Pluma refuses both the same way, with
an UnsupportedControlError naming the field and the model, before any byte
leaves — on Chat Completions and on Responses alike. Other servers of the
Responses protocol keep them."""

from __future__ import annotations

import pytest
from tests.support.openai_streams import model_for
from tests.support.scripted_server import Reply, ScriptedServer

from pluma import llm
from pluma.llm.controls import UnsupportedControlError
from pluma.llm.protocols.openai_completions.adapter import OpenAICompletionsAdapter
from pluma.llm.protocols.openai_responses.adapter import OpenAIResponsesAdapter

HELLO = llm.Context(messages=[llm.UserMessage("hello")])


def check(model: llm.Model, options: llm.StreamOptions) -> None:
    adapters = {
        "openai-completions": OpenAICompletionsAdapter,
        "openai-responses": OpenAIResponsesAdapter,
    }
    adapters[model.protocol]().check(model, HELLO, options)


def responses_model(url: str, provider: str = "openai", reasoning: bool = True) -> llm.Model:
    return llm.Model(
        id="o3", provider=provider, protocol="openai-responses", base_url=url, reasoning=reasoning
    )


@pytest.mark.parametrize("field", ["temperature", "top_p"])
@pytest.mark.parametrize("protocol", ["openai-completions", "openai-responses"])
async def test_openai_reasoning_models_refuse_sampling(protocol: str, field: str) -> None:
    options = llm.StreamOptions(api_key="k", **{field: 0.5})  # type: ignore[arg-type]
    with ScriptedServer() as server:
        if protocol == "openai-completions":
            model = model_for(server.url, id="o3", provider="openai", reasoning=True)
        else:
            model = responses_model(server.url + "/v1")
        with pytest.raises(llm.StreamError) as caught:
            await llm.complete(model, HELLO, options)
        assert server.requests == []  # refused before any byte left
    error = caught.value.cause
    assert isinstance(error, UnsupportedControlError)
    assert error.field == field
    assert "'o3'" in str(error) and field in str(error)


@pytest.mark.parametrize("protocol", ["openai-completions", "openai-responses"])
def test_the_check_refuses_too(protocol: str) -> None:
    """The adapter's ``check`` (what the server's routes call to answer 400 at once)."""
    if protocol == "openai-completions":
        model = model_for(
            "https://api.openai.com/v1", id="gpt-5", provider="openai", reasoning=True
        )
    else:
        model = responses_model("https://api.openai.com/v1", provider="custom")
    with pytest.raises(UnsupportedControlError, match="temperature"):
        check(model, llm.StreamOptions(api_key="k", temperature=0.2))


async def test_non_reasoning_and_other_responses_servers_keep_temperature() -> None:
    for model_of in (
        lambda url: responses_model(url + "/v1", reasoning=False),
        lambda url: responses_model(url + "/v1", provider="openrouter"),
    ):
        with ScriptedServer() as server:
            server.reply(Reply(status=500, body=[b"stop here"]))
            options = llm.StreamOptions(api_key="k", temperature=0.2, top_p=0.9, max_retries=0)
            await llm.stream(model_of(server.url), HELLO, options).result()
            body = server.requests[0].json()
        assert (body["temperature"], body["top_p"]) == (0.2, 0.9)


def test_deepseek_reasoner_refuses_temperature_it_would_ignore() -> None:
    model = model_for(
        "https://api.deepseek.com", id="deepseek-reasoner", provider="deepseek", reasoning=True
    )
    with pytest.raises(UnsupportedControlError, match="'deepseek-reasoner'"):
        check(model, llm.StreamOptions(api_key="k", temperature=0.7))
