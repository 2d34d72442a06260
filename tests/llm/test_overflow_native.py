"""Context overflow through the native protocols, and Anthropic's
``model_context_window_exceeded`` stop reason.

Bodies and events are written from each vendor's published references:

- OpenAI Responses: the 400 error object (``code: "context_length_exceeded"``)
  before the stream, and a ``response.failed`` event whose ``error`` carries
  the same code inside it;
- Gemini: the 400 ``INVALID_ARGUMENT`` status error;
- Ollama: ``{"error": "…"}`` as the HTTP error body and as an NDJSON line;
- Anthropic: ``stop_reason: "model_context_window_exceeded"`` on a valid
  reply (models that stop at the context window instead of refusing the
  request), which is ``length`` plus a diagnostic, not an error.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.support import anthropic_streams as a
from tests.support import gemini_streams as g
from tests.support import ollama_streams as o
from tests.support import responses_streams as r
from tests.support.scripted_server import Reply, ScriptedServer

from pluma import llm

HELLO = llm.Context(messages=[llm.UserMessage("hello")])
KEY = llm.StreamOptions(api_key="k", max_retries=2)


def model(protocol: str, url: str) -> llm.Model:
    if protocol == "openai-responses":
        return llm.Model(id=r.MODEL, provider="openai", protocol=protocol, base_url=url + "/v1")
    if protocol == "google-generative-ai":
        return llm.Model(id=g.MODEL, provider="google", protocol=protocol, base_url=url + "/v1beta")
    return llm.Model(id=o.MODEL, provider="ollama", protocol=protocol, base_url=url)


BEFORE_THE_STREAM: dict[str, tuple[int, dict[str, Any]]] = {
    "openai-responses": (
        400,
        {
            "error": {
                "message": "Your input exceeds the context window of this model. Please adjust "
                "your input and try again.",
                "type": "invalid_request_error",
                "param": "input",
                "code": "context_length_exceeded",
            }
        },
    ),
    "google-generative-ai": (
        400,
        {
            "error": {
                "code": 400,
                "message": "The input token count (1196265) exceeds the maximum number of tokens "
                "allowed (1048576).",
                "status": "INVALID_ARGUMENT",
            }
        },
    ),
    "ollama": (400, {"error": "the input length exceeds the context length"}),
}


@pytest.mark.parametrize("protocol", sorted(BEFORE_THE_STREAM))
async def test_overflow_before_the_stream_native(protocol: str) -> None:
    status, body = BEFORE_THE_STREAM[protocol]
    with ScriptedServer() as server:
        server.reply(Reply.json(body, status=status))
        with pytest.raises(llm.StreamError) as caught:
            await llm.complete(model(protocol, server.url), HELLO, KEY)
        requests = len(server.requests)
    cause = caught.value.cause
    assert isinstance(cause, llm.ContextOverflowError), cause
    assert cause.status == status and not cause.retryable
    assert requests == 1  # the same prompt cannot fit: not retried


@pytest.mark.parametrize("protocol", sorted(BEFORE_THE_STREAM))
async def test_an_ordinary_400_is_not_overflow_native(protocol: str) -> None:
    body: dict[str, Any] = {"error": "model 'nope' not found"}
    if protocol != "ollama":
        body = {"error": {"message": "Invalid value for 'temperature'.", "code": 400}}
    with ScriptedServer() as server:
        server.reply(Reply.json(body, status=400))
        with pytest.raises(llm.StreamError) as caught:
            await llm.complete(model(protocol, server.url), HELLO, KEY)
    assert isinstance(caught.value.cause, llm.ProviderError)
    assert not isinstance(caught.value.cause, llm.ContextOverflowError)


async def test_responses_failed_with_context_length_exceeded() -> None:
    transcript = r.Transcript()
    transcript.message(["Partial ", "answer"], finish=False)
    transcript.failed(
        "context_length_exceeded",
        "Your input exceeds the context window of this model. Please adjust your input and "
        "try again.",
    )
    with ScriptedServer() as server:
        server.reply(Reply.sse(transcript.frames()))
        stream = llm.stream(model("openai-responses", server.url), HELLO, KEY)
        events = [event async for event in stream]
    last = events[-1]
    assert last.type == "error" and isinstance(last.error, llm.ContextOverflowError)
    assert last.error.code == "context_length_exceeded"
    assert last.message is not None and last.message.stop_reason == "error"
    assert "Partial answer" in last.message.text  # the partial reply is kept


async def test_ollama_error_line_mid_stream_is_overflow() -> None:
    lines = [o.line("Hel"), o.line("lo"), {"error": "the input length exceeds the context length"}]
    with ScriptedServer() as server:
        server.reply(Reply(headers={"content-type": "application/x-ndjson"}, body=o.frames(lines)))
        stream = llm.stream(model("ollama", server.url), HELLO, KEY)
        events = [event async for event in stream]
    last = events[-1]
    assert last.type == "error" and isinstance(last.error, llm.ContextOverflowError)
    assert last.message is not None and last.message.text == "Hello"


def anthropic_model(url: str) -> llm.Model:
    return llm.Model(
        id="claude-sonnet-4-5", provider="anthropic", protocol="anthropic-messages", base_url=url
    )


async def test_anthropic_model_context_window_exceeded_streamed() -> None:
    # As the Messages API streams a reply that filled the context window: a
    # normal stream whose message_delta carries the new stop reason.
    stream = [
        a.message_start(),
        a.text_start(0),
        a.text_delta(0, "The long answer, cut where the window ended"),
        a.block_stop(0),
        a.message_delta("model_context_window_exceeded", output_tokens=5000),
        a.message_stop(),
    ]
    with ScriptedServer() as server:
        server.reply(Reply.sse(stream))
        message = await llm.complete(anthropic_model(server.url + "/v1"), HELLO, KEY)
    assert message.stop_reason == "length"
    assert message.text == "The long answer, cut where the window ended"
    assert [d.kind for d in message.diagnostics] == ["context_window_exceeded"]
    assert "compact" in message.diagnostics[0].message


async def test_anthropic_model_context_window_exceeded_whole_message() -> None:
    body = {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "Cut at the window"}],
        "stop_reason": "model_context_window_exceeded",
        "stop_sequence": None,
        "usage": {"input_tokens": 195000, "output_tokens": 5000},
    }
    with ScriptedServer() as server:
        server.reply(Reply.json(body))
        message = await llm.complete(anthropic_model(server.url + "/v1"), HELLO, KEY)
    assert message.stop_reason == "length"
    assert [d.kind for d in message.diagnostics] == ["context_window_exceeded"]


async def test_anthropic_max_tokens_has_no_context_diagnostic() -> None:
    with ScriptedServer() as server:
        server.reply(Reply.sse(a.text_stream("cut", stop_reason="max_tokens")))
        message = await llm.complete(anthropic_model(server.url + "/v1"), HELLO, KEY)
    assert message.stop_reason == "length" and message.diagnostics == []
