"""The openai-completions adapter against a real local HTTP server serving
Chat Completions stream bytes, with the official ``openai`` SDK reading the
same bytes as the judge of the final message."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest
from tests.support.openai_streams import (
    MODEL_NAME,
    RESPONSE_ID,
    SDKResult,
    assert_agrees,
    chunk,
    model_for,
    sdk_accumulate,
    sse,
    text_stream,
    tool_fragment,
    usage,
)
from tests.support.scripted_server import Reply, ScriptedServer

from pluma import llm

CONTEXT = llm.Context(system_prompt="Be brief.", messages=[llm.UserMessage("Hello")])


@pytest.fixture
def server() -> Any:
    with ScriptedServer() as s:
        yield s


async def run_pluma(
    server: ScriptedServer, options: llm.StreamOptions | None = None, **model: Any
) -> tuple[list[llm.Event], llm.AssistantMessage]:
    stream = llm.stream(
        model_for(server.url, **model), CONTEXT, options or llm.StreamOptions(max_retries=0)
    )
    events = [event async for event in stream]
    message = events[-1].message
    assert message is not None
    return events, message


async def both(
    server: ScriptedServer, body: list[str | bytes], **reply: Any
) -> tuple[list[llm.Event], llm.AssistantMessage, SDKResult]:
    """Serve ``body`` to Pluma and then to the openai SDK."""
    server.reply(Reply.sse(body, **reply))
    events, message = await run_pluma(server)
    return events, message, await sdk_accumulate(server.url)


def check_lifecycle(events: list[llm.Event]) -> None:
    """One start first, one terminal last, every block started before its
    deltas and ended once, partial on every non-terminal event."""
    assert events[0].type == "start"
    assert events[-1].is_terminal
    assert sum(e.is_terminal for e in events) == 1
    started: set[int] = set()
    ended: set[int] = set()
    for event in events[1:-1]:
        assert event.partial is not None
        kind = event.type.rsplit("_", 1)[-1]
        if kind == "start":
            assert event.content_index not in started
            started.add(event.content_index)
        elif kind == "delta":
            assert event.content_index in started and event.content_index not in ended
        elif kind == "end":
            assert event.content_index in started and event.content_index not in ended
            ended.add(event.content_index)
    if events[-1].type == "done":
        assert started == ended


def text_of(events: list[llm.Event]) -> str:
    return "".join(e.delta for e in events if e.type == "text_delta")


# -- text, framing ------------------------------------------------------------


async def test_text_stream_with_usage_chunk(server: ScriptedServer) -> None:
    parts = ["Hel", "lo", ", wor", "ld!"]
    events, message, sdk = await both(server, sse(text_stream(parts)))
    check_lifecycle(events)
    assert [e.type for e in events] == [
        "start",
        "text_start",
        *["text_delta"] * 4,
        "text_end",
        "done",
    ]
    assert text_of(events) == "Hello, world!"
    assert events[-2].content == "Hello, world!"
    assert message.text == "Hello, world!"
    assert message.stop_reason == "stop"
    assert message.response_id == RESPONSE_ID
    assert message.model == MODEL_NAME
    assert (message.usage.input, message.usage.cache_read, message.usage.output) == (8, 4, 4)
    # $1/M input, $0.5/M cache read, $2/M output
    assert message.usage.cost.total == pytest.approx((8 * 1.0 + 4 * 0.5 + 4 * 2.0) / 1e6)
    assert_agrees(message, sdk)
    assert sdk.response_id == message.response_id


async def test_crlf_line_endings(server: ScriptedServer) -> None:
    events, message, sdk = await both(server, sse(text_stream(["a", "b\r\nc"]), eol="\r\n"))
    check_lifecycle(events)
    assert message.text == "ab\r\nc"
    assert_agrees(message, sdk)


async def test_keep_alive_comments_are_ignored(server: ScriptedServer) -> None:
    chunks: list[dict[str, Any] | str] = [": keep-alive\n\n", ": OPENROUTER PROCESSING\n\n"]
    for item in text_stream(["x", "y"]):
        chunks += [item, ":\n\n"]
    events, message, sdk = await both(server, sse(chunks))
    check_lifecycle(events)
    assert message.text == "xy"
    assert_agrees(message, sdk)


async def test_one_byte_per_read(server: ScriptedServer) -> None:
    body = "".join(sse(text_stream(["héllo ", "wörld ", "🎉"]))).encode()
    events, message, sdk = await both(server, [body[i : i + 1] for i in range(len(body))])
    check_lifecycle(events)
    assert message.text == "héllo wörld 🎉"
    assert_agrees(message, sdk)


async def test_split_at_every_byte_position(server: ScriptedServer) -> None:
    """The same stream split into two reads at each position: the result never changes."""
    body = "".join(sse([chunk({"content": "añ🎉"}, finish_reason="stop")])).encode()
    server.reply(*[Reply(body=[body[:i], body[i:]]) for i in range(1, len(body))])
    for position in range(1, len(body)):
        _, message = await run_pluma(server)
        assert (message.stop_reason, message.text) == ("stop", "añ🎉"), position
    assert len(server.requests) == len(body) - 1


async def test_multibyte_character_split_across_reads(server: ScriptedServer) -> None:
    body = "".join(sse(text_stream(["日本語 ", "ok"]))).encode()
    cut = body.index("本".encode()) + 1  # inside the 3-byte character
    events, message, sdk = await both(server, [body[:cut], 0.02, body[cut:]])
    assert message.text == "日本語 ok"
    assert "\ufffd" not in text_of(events)
    assert_agrees(message, sdk)


async def test_multi_line_data_field(server: ScriptedServer) -> None:
    """A JSON chunk spread over several ``data:`` lines is joined with newlines."""
    spread = 'data: {"id": "chatcmpl-test123", "object": "chat.completion.chunk",\ndata: "created": 1, "model": "m", "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]}\n\n'
    _events, message, sdk = await both(server, sse([spread]))
    assert message.text == "hi"
    assert_agrees(message, sdk, usage=False)


# -- reasoning ----------------------------------------------------------------


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_reasoning_then_text(server: ScriptedServer, field: str) -> None:
    chunks = [
        chunk({"role": "assistant", "content": None, field: "Let me "}),
        chunk({field: "think."}),
        chunk({"content": "Answer."}),
        chunk({}, finish_reason="stop"),
        chunk(no_choices=True, usage=usage(10, 30, reasoning=20)),
    ]
    events, message, sdk = await both(server, sse(chunks))
    check_lifecycle(events)
    assert [e.type for e in events] == [
        "start",
        "thinking_start",
        "thinking_delta",
        "thinking_delta",
        "thinking_end",
        "text_start",
        "text_delta",
        "text_end",
        "done",
    ]
    assert message.thinking == "Let me think."
    assert message.text == "Answer."
    assert message.usage.output == 30  # reasoning tokens are part of the output
    assert_agrees(message, sdk)


async def test_openrouter_reasoning_details_not_doubled(server: ScriptedServer) -> None:
    """OpenRouter sends the same text in ``reasoning`` and ``reasoning_details``."""
    chunks = [
        chunk(
            {
                "reasoning": "Hmm.",
                "reasoning_details": [{"type": "reasoning.text", "text": "Hmm.", "index": 0}],
            }
        ),
        chunk({"content": "Yes."}, finish_reason="stop"),
    ]
    _, message, sdk = await both(server, sse(chunks))
    assert message.thinking == "Hmm."
    assert message.text == "Yes."
    assert_agrees(message, sdk, usage=False)


# -- tool calls ---------------------------------------------------------------


async def test_interleaved_parallel_tool_calls(server: ScriptedServer) -> None:
    chunks = [
        chunk({"role": "assistant", "content": "Checking both."}),
        chunk({"tool_calls": [tool_fragment(0, id="call_a", name="weather", arguments="")]}),
        chunk({"tool_calls": [tool_fragment(1, id="call_b", name="time", arguments='{"tz"')]}),
        chunk({"tool_calls": [tool_fragment(0, arguments='{"city": "Pa')]}),
        chunk({"tool_calls": [tool_fragment(1, arguments=': "CET"}')]}),
        chunk({"tool_calls": [tool_fragment(0, arguments='ris"}')]}),
        chunk({}, finish_reason="tool_calls"),
        chunk(no_choices=True, usage=usage(50, 20)),
    ]
    events, message, sdk = await both(server, sse(chunks))
    check_lifecycle(events)
    assert message.stop_reason == "toolUse"
    calls = message.tool_calls
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("call_a", "weather", {"city": "Paris"}),
        ("call_b", "time", {"tz": "CET"}),
    ]
    ends = [e for e in events if e.type == "toolcall_end"]
    assert [e.tool_call.arguments for e in ends if e.tool_call] == [
        {"city": "Paris"},
        {"tz": "CET"},
    ]
    # the text block ended before the first call started
    types = [e.type for e in events]
    assert types.index("text_end") < types.index("toolcall_start")
    assert not message.diagnostics
    assert_agrees(message, sdk)


async def test_live_partial_arguments_on_each_toolcall_delta(server: ScriptedServer) -> None:
    """What a UI sees while a call streams: on every ``toolcall_delta`` the
    call's arguments parsed best-effort from the JSON received so far."""
    pieces = ['{"city": "Pa', 'ris", "days"', ": 3, ", '"units": ["c"]}']
    chunks = [chunk({"tool_calls": [tool_fragment(0, id="call_w", name="weather")]})]
    chunks += [chunk({"tool_calls": [tool_fragment(0, arguments=p)]}) for p in pieces]
    chunks.append(chunk({}, finish_reason="tool_calls"))
    server.reply(Reply.sse(sse(chunks)))
    live: list[tuple[str, dict[str, Any]]] = []
    async for event in llm.stream(model_for(server.url), CONTEXT, llm.StreamOptions()):
        if event.type == "toolcall_delta":
            assert event.tool_call is not None
            live.append((event.delta, dict(event.tool_call.arguments)))
    assert live == [
        (pieces[0], {"city": "Pa"}),
        (pieces[1], {"city": "Paris"}),
        (pieces[2], {"city": "Paris", "days": 3}),
        (pieces[3], {"city": "Paris", "days": 3, "units": ["c"]}),
    ]


async def test_tool_fragments_keyed_only_by_id(server: ScriptedServer) -> None:
    """Some servers never send ``index``; every fragment repeats the call's id.
    The openai SDK cannot accumulate these (it requires ``index``)."""
    chunks = [
        chunk(
            {
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "a", "arguments": '{"x":'},
                    }
                ]
            }
        ),
        chunk(
            {
                "tool_calls": [
                    {
                        "id": "c2",
                        "type": "function",
                        "function": {"name": "b", "arguments": '{"y":'},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"id": "c1", "function": {"arguments": " 1}"}}]}),
        chunk({"tool_calls": [{"id": "c2", "function": {"arguments": " 2}"}}]}),
        chunk({}, finish_reason="tool_calls"),
    ]
    _, message, sdk = await both(server, sse(chunks))
    assert [(c.id, c.name, c.arguments) for c in message.tool_calls] == [
        ("c1", "a", {"x": 1}),
        ("c2", "b", {"y": 2}),
    ]
    assert message.stop_reason == "toolUse"
    # the SDK fails on the first fragment without ``index``
    assert isinstance(sdk.error, TypeError | RuntimeError)
    assert sdk.tool_calls == []


async def test_whole_arguments_in_one_fragment(server: ScriptedServer) -> None:
    args = {"query": "pluma", "limit": 3, "tags": ["a", "b"]}
    chunks = [
        chunk(
            {
                "role": "assistant",
                "tool_calls": [
                    tool_fragment(0, id="call_1", name="search", arguments=json.dumps(args))
                ],
            }
        ),
        chunk({}, finish_reason="tool_calls"),
        chunk(no_choices=True, usage=usage(5, 5)),
    ]
    events, message, sdk = await both(server, sse(chunks))
    check_lifecycle(events)
    assert message.tool_calls[0].arguments == args
    assert [e.type for e in events].count("toolcall_delta") == 1
    assert_agrees(message, sdk)


async def test_tool_call_with_stop_finish_reason_is_tool_use(server: ScriptedServer) -> None:
    """Some servers end a tool-calling reply with ``stop``; the caller still has
    to run the tools, so the stop reason is toolUse."""
    chunks = [
        chunk({"tool_calls": [tool_fragment(0, id="t", name="f", arguments="{}")]}),
        chunk({}, finish_reason="stop"),
    ]
    _, message, sdk = await both(server, sse(chunks))
    assert message.stop_reason == "toolUse"
    assert sdk.finish_reason == "stop"
    assert_agrees(message, sdk, usage=False)


# -- usage --------------------------------------------------------------------


async def test_usage_inside_the_choice(server: ScriptedServer) -> None:
    """Some servers put usage in ``choices[].usage``; the openai SDK ignores it."""
    chunks = [
        chunk({"content": "ok"}),
        chunk({}, finish_reason="stop", choice_usage=usage(7, 3, cached=2)),
    ]
    _, message, sdk = await both(server, sse(chunks))
    assert (message.usage.input, message.usage.cache_read, message.usage.output) == (5, 2, 3)
    assert_agrees(message, sdk, usage=False)
    assert sdk.usage is None


async def test_no_usage_at_all(server: ScriptedServer) -> None:
    _events, message, sdk = await both(server, sse(text_stream(["a"], with_usage=False)))
    assert message.usage.total == 0
    assert message.stop_reason == "stop"
    assert_agrees(message, sdk, usage=False)


# -- endings and faults -------------------------------------------------------


async def test_error_object_after_200(server: ScriptedServer) -> None:
    chunks = [
        chunk({"content": "Partial "}),
        chunk({"content": "answer"}),
        {
            "error": {
                "message": "The server had an error while processing your request.",
                "type": "server_error",
                "code": "overloaded",
            }
        },
    ]
    events, message, sdk = await both(server, sse(chunks, done=False))
    check_lifecycle(events)
    assert events[-1].type == "error"
    assert message.stop_reason == "error"
    assert message.text == "Partial answer"
    assert "The server had an error while processing your request." in (message.error_message or "")
    error = events[-1].error
    assert isinstance(error, llm.ProviderError) and error.code == "overloaded"
    assert isinstance(sdk.error, openai.APIError)
    assert_agrees(message, sdk, usage=False)


@pytest.mark.parametrize("where", ["api_key", "header"])
async def test_a_key_quoted_inside_the_stream_is_masked(server: ScriptedServer, where: str) -> None:
    """An upstream (or proxy) that quotes the rejected key in an error chunk,
    or a malformed chunk that echoes it: the message never carries it."""
    key = "sk-proj-0123456789abcdefXYZ"
    error = {"error": {"message": f"Incorrect API key provided: {key}.", "code": "invalid_key"}}
    server.reply(
        Reply.sse(sse([chunk({"content": "a"}), error], done=False)),
        Reply.sse(sse([chunk({"content": "b"}), f"data: {{bad {key}\n\n"], done=False)),
    )
    options = (
        llm.StreamOptions(max_retries=0, api_key=key)
        if where == "api_key"
        else llm.StreamOptions(max_retries=0, headers={"Authorization": f"Bearer {key}"})
    )
    for _ in range(2):
        events, message = await run_pluma(server, options)
        assert events[-1].type == "error"
        assert message.error_message and "sk-…***" in message.error_message
        assert key not in message.error_message
        assert key not in str(events[-1].error) and key not in repr(events[-1].error)
    assert server.requests[0].headers["authorization"] == f"Bearer {key}"


async def test_vllm_error_object_after_200(server: ScriptedServer) -> None:
    """vLLM reports a failure mid-stream as a chunk of its ``ErrorResponse``
    shape (``object: "error"``) and may still end with ``[DONE]``: an error,
    not an empty success."""
    vllm_error = {
        "object": "error",
        "message": "This model's maximum context length is 4096 tokens.",
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }
    server.reply(Reply.sse(sse([chunk({"content": "Par"}), vllm_error])))
    events, message = await run_pluma(server)
    check_lifecycle(events)
    assert events[-1].type == "error"
    assert message.text == "Par"
    assert message.error_message == "This model's maximum context length is 4096 tokens."
    error = events[-1].error
    assert isinstance(error, llm.ProviderError) and error.code == "400"


async def test_cut_stream_keeps_partial_content(server: ScriptedServer) -> None:
    chunks = [chunk({"content": "Half a "}), chunk({"content": "sentence"})]
    events, message, sdk = await both(server, sse(chunks, done=False), cut=True)
    check_lifecycle(events)
    assert events[-1].type == "error"
    assert message.stop_reason == "error"
    assert message.text == "Half a sentence"
    assert message.error_message
    assert sdk.error is not None
    assert_agrees(message, sdk, usage=False)


async def test_stream_ending_without_finish_or_done_is_an_error(server: ScriptedServer) -> None:
    """A server that closes cleanly but early: no finish_reason, no [DONE]."""
    events, message, sdk = await both(server, sse([chunk({"content": "so far"})], done=False))
    assert events[-1].type == "error"
    assert message.text == "so far"
    assert "ended before the reply was finished" in (message.error_message or "")
    # the SDK accepts the early end silently; the text so far agrees
    assert_agrees(message, sdk, usage=False)


async def test_finish_reason_without_done_is_complete(server: ScriptedServer) -> None:
    body = sse([chunk({"content": "fine"}, finish_reason="stop")], done=False)
    events, message, sdk = await both(server, body)
    assert events[-1].type == "done"
    assert message.text == "fine"
    assert_agrees(message, sdk, usage=False)


async def test_done_without_finish_reason_is_complete(server: ScriptedServer) -> None:
    events, message, sdk = await both(server, sse([chunk({"content": "fine"})]))
    assert events[-1].type == "done"
    assert message.stop_reason == "stop"
    assert_agrees(message, sdk, usage=False)


async def test_malformed_chunk_is_an_error(server: ScriptedServer) -> None:
    events, message, sdk = await both(server, sse([chunk({"content": "a"}), "data: {not json\n\n"]))
    assert events[-1].type == "error"
    assert message.text == "a"
    assert "malformed chunk" in (message.error_message or "")
    assert sdk.error is not None
    assert_agrees(message, sdk, usage=False)


async def test_abort_mid_stream(server: ScriptedServer) -> None:
    body = sse([chunk({"content": "Before "}), chunk({"content": "abort"})], done=False)
    server.reply(Reply(body=[*(e.encode() for e in body), 30.0, b"data: [DONE]\n\n"]))
    stream = llm.stream(model_for(server.url), CONTEXT, llm.StreamOptions(max_retries=0))
    seen: list[llm.Event] = []
    got_text = asyncio.Event()

    async def consume() -> None:
        async for event in stream:
            seen.append(event)
            if event.type == "text_delta" and event.delta == "abort":
                got_text.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_text.wait(), 5)
    stream.abort()
    await asyncio.wait_for(task, 5)
    last = seen[-1]
    assert last.type == "error"
    assert last.message is not None
    assert last.message.stop_reason == "aborted"
    assert last.message.text == "Before abort"
    assert await asyncio.to_thread(server.wait_disconnect, 1.0)


async def test_429_with_retry_after_is_retried(server: ScriptedServer) -> None:
    server.reply(
        Reply.json(
            {"error": {"message": "Rate limit reached", "type": "requests"}},
            status=429,
            headers={"retry-after": "1"},
        ),
        Reply.sse(sse(text_stream(["after retry"]))),
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    events, message = await run_pluma(server, llm.StreamOptions(max_retries=2))
    assert events[-1].type == "done"
    assert message.text == "after retry"
    assert len(server.requests) == 2
    assert loop.time() - started >= 0.9  # Retry-After was honoured


async def test_400_is_not_retried(server: ScriptedServer) -> None:
    server.reply(
        Reply.json(
            {
                "error": {
                    "message": "Invalid value for 'tool_choice'.",
                    "type": "invalid_request_error",
                    "code": None,
                }
            },
            status=400,
        )
    )
    events, message = await run_pluma(server, llm.StreamOptions(max_retries=3))
    assert [e.type for e in events] == ["start", "error"]
    assert len(server.requests) == 1
    assert "Invalid value for 'tool_choice'." in (message.error_message or "")
    error = events[-1].error
    assert isinstance(error, llm.ProviderError) and error.status == 400
    sdk = await sdk_accumulate(server.url)
    assert isinstance(sdk.error, openai.BadRequestError)
    assert sdk.error.body == {  # the SDK's view of the same upstream error
        "message": "Invalid value for 'tool_choice'.",
        "type": "invalid_request_error",
        "code": None,
    }
    assert len(server.requests) == 2


async def test_a_401_without_a_key_says_why_none_was_sent(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """provider "openai" at another server: OPENAI_API_KEY is not sent there
    (keys.py), and the 401 says so instead of leaving the user guessing."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-0123456789")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    server.reply(
        Reply.json({"error": {"message": "Missing bearer token", "type": "auth"}}, status=401)
    )
    _, message = await run_pluma(server, provider="openai")
    assert "authorization" not in server.requests[0].headers
    assert message.error_message == (
        "Missing bearer token — no API key was sent (OPENAI_API_KEY is only sent to "
        f"openai's own endpoint or to OPENAI_BASE_URL, not to {server.url}/v1) (HTTP 401)"
    )
    # with a key sent, the upstream's words stand alone
    _, message = await run_pluma(server, llm.StreamOptions(max_retries=0, api_key="k"))
    assert message.error_message == "Missing bearer token (HTTP 401)"
    _, message = await run_pluma(server, provider="acme")
    assert message.error_message == "Missing bearer token — no API key was sent (HTTP 401)"


async def test_non_streaming_json_answer_is_accepted(server: ScriptedServer) -> None:
    """A server that ignores ``stream: true`` and sends one chat.completion."""
    server.reply(
        Reply.json(
            {
                "id": "chatcmpl-json",
                "object": "chat.completion",
                "created": 1,
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": "whole",
                            "tool_calls": [
                                {
                                    "id": "c",
                                    "type": "function",
                                    "function": {"name": "f", "arguments": '{"a": 1}'},
                                }
                            ],
                        },
                        "finish_reason": "tool_calls",
                    }
                ],
                "usage": usage(3, 2),
            }
        )
    )
    events, message = await run_pluma(server)
    check_lifecycle(events)
    assert message.text == "whole"
    assert message.tool_calls[0].arguments == {"a": 1}
    assert message.stop_reason == "toolUse"
    assert message.usage.output == 2


async def test_non_streaming_json_answer_that_stalls_times_out(server: ScriptedServer) -> None:
    """The whole-JSON answer is read under the same idle timeout as a stream."""
    server.reply(Reply(headers={"content-type": "application/json"}, body=[b'{"id": "x", ', 30.0]))
    options = llm.StreamOptions(max_retries=0, timeouts=llm.Timeouts(first_byte=5, idle=0.3))
    events, message = await asyncio.wait_for(run_pluma(server, options), 5)
    assert events[-1].type == "error"
    assert isinstance(events[-1].error, llm.UpstreamTimeout)
    assert "idle timeout" in (message.error_message or "")
    assert await asyncio.to_thread(server.wait_disconnect, 1.0)


async def test_gzip_compressed_stream(server: ScriptedServer) -> None:
    """A proxy that compresses the event stream although Pluma asks for
    ``identity``: decoded like the SDK does."""
    import gzip

    packed = gzip.compress("".join(sse(text_stream(["Zip", "pé"]))).encode())
    events, message, sdk = await both(
        server,
        [packed[:20], packed[20:]],
        headers={"content-type": "text/event-stream", "content-encoding": "gzip"},
    )
    check_lifecycle(events)
    assert message.text == "Zippé"
    assert_agrees(message, sdk)
    assert server.requests[0].headers["accept-encoding"] == "identity"


async def test_complete_raises_with_partial_message(server: ScriptedServer) -> None:
    server.reply(Reply.sse(sse([chunk({"content": "part"})], done=False), cut=True))
    with pytest.raises(llm.StreamError) as caught:
        await llm.complete(model_for(server.url), CONTEXT, llm.StreamOptions(max_retries=0))
    assert caught.value.message.text == "part"


async def test_named_error_event_with_plain_text(server: ScriptedServer) -> None:
    body = sse([chunk({"content": "so "}), "event: error\ndata: upstream exploded\n\n"])
    events, message, sdk = await both(server, body)
    assert events[-1].type == "error"
    assert message.text == "so "
    assert message.error_message == "upstream exploded"
    assert sdk.error is not None
    assert_agrees(message, sdk, usage=False)


async def test_named_error_event_with_error_object(server: ScriptedServer) -> None:
    """What Pluma's own server sends mid-stream (DESIGN.md, OpenAI chunks out)."""
    body = 'event: error\ndata: {"error": {"message": "boom", "type": "upstream_error"}}\n\n'
    events, message, sdk = await both(server, sse([chunk({"content": "a"}), body], done=False))
    assert events[-1].type == "error"
    assert message.error_message == "boom"
    assert isinstance(sdk.error, openai.APIError) and "boom" in str(sdk.error)
    assert_agrees(message, sdk, usage=False)


async def test_cut_after_finish_reason_is_done_with_diagnostic(server: ScriptedServer) -> None:
    chunks = [chunk({"content": "complete"}), chunk({}, finish_reason="stop")]
    events, message, sdk = await both(server, sse(chunks, done=False), cut=True)
    assert events[-1].type == "done"
    assert message.text == "complete"
    assert [d.kind for d in message.diagnostics] == ["stream_cut_after_finish"]
    assert sdk.error is not None  # the SDK fails on the broken connection
    assert_agrees(message, sdk, usage=False)


async def test_groq_usage_location(server: ScriptedServer) -> None:
    last = chunk({}, finish_reason="stop")
    last["x_groq"] = {"id": "req_1", "usage": usage(20, 5)}
    _, message, sdk = await both(server, sse([chunk({"content": "g"}), last]))
    assert (message.usage.input, message.usage.output) == (20, 5)
    assert sdk.usage is None  # the SDK does not know this place
    assert_agrees(message, sdk, usage=False)
