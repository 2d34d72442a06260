"""The stream contract (StreamWriter + EventStream), proven through a real
custom adapter talking HTTP to a scripted upstream on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from tests.support.my_protocol import MyProtocolAdapter, model_at, sse, text_reply
from tests.support.scripted_server import Reply, ScriptedServer

from pluma import llm


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as s:
        yield s


def client_with(adapter: MyProtocolAdapter) -> llm.Client:
    return llm.Client(llm.AdapterRegistry([adapter]))


CTX = llm.Context(messages=[llm.UserMessage("Hello")])


def assert_contract(events: list[llm.Event]) -> None:
    """One start first, partial on every non-terminal event, exactly one
    terminal event and it is last."""
    assert events[0].type == "start"
    assert [e.type for e in events].count("start") == 1
    terminals = [e for e in events if e.is_terminal]
    assert len(terminals) == 1 and events[-1] is terminals[0]
    for e in events[:-1]:
        assert e.partial is not None, e.type
    assert events[-1].message is not None


async def test_text_stream_full_lifecycle(server: ScriptedServer) -> None:
    server.reply(text_reply("Hel", "lo ", "world", usage=(7, 3)))
    adapter = MyProtocolAdapter()
    stream = client_with(adapter).stream(model_at(server.url), CTX, llm.StreamOptions())
    events = [e async for e in stream]
    assert_contract(events)
    assert [e.type for e in events] == [
        "start",
        "text_start",
        "text_delta",
        "text_delta",
        "text_delta",
        "text_end",
        "done",
    ]
    assert [e.delta for e in events if e.type == "text_delta"] == ["Hel", "lo ", "world"]
    assert events[5].content == "Hello world"
    final = events[-1].message
    assert final is not None
    assert final.text == "Hello world"
    assert final.stop_reason == "stop"
    assert (final.usage.input, final.usage.output, final.usage.total) == (7, 3, 10)
    assert (final.protocol, final.provider, final.model) == ("my-protocol", "me", "x")
    # partial is the live message: the same object all along, ending as the final one
    assert all(e.partial is final for e in events[:-1])
    body = server.requests[0].json()
    assert body["prompt"] == "Hello" and server.requests[0].path == "/generate"
    assert await stream.result() is final
    assert adapter.closed == 1


async def test_partial_grows_with_each_delta(server: ScriptedServer) -> None:
    server.reply(text_reply("a", "b", "c"))
    seen = []
    async for e in client_with(MyProtocolAdapter()).stream(model_at(server.url), CTX):
        if e.type == "text_delta":
            assert e.partial is not None
            seen.append(e.partial.text)
    assert seen == ["a", "ab", "abc"]


async def test_start_is_inserted_when_adapter_skips_it(server: ScriptedServer) -> None:
    server.reply(text_reply("hi"))
    adapter = MyProtocolAdapter(explicit_start=False)
    events = [e async for e in client_with(adapter).stream(model_at(server.url), CTX)]
    assert_contract(events)
    assert [e.type for e in events][:2] == ["start", "text_start"]


async def test_thinking_and_tool_call_blocks(server: ScriptedServer) -> None:
    server.reply(
        Reply.sse(
            [
                sse("thinking", {"text": "Let me "}),
                sse("thinking", {"text": "look."}),
                sse("tool", {"id": "call_1", "name": "weather"}),
                sse("args", {"json": '{"city": "Par'}),
                sse("args", {"json": 'is", "days": 3}'}),
                sse("done", {"usage": {"input": 1, "output": 1}, "stop": "toolUse"}),
            ]
        )
    )
    events = [e async for e in client_with(MyProtocolAdapter()).stream(model_at(server.url), CTX)]
    assert_contract(events)
    assert [e.type for e in events] == [
        "start",
        "thinking_start",
        "thinking_delta",
        "thinking_delta",
        "thinking_end",
        "toolcall_start",
        "toolcall_delta",
        "toolcall_delta",
        "toolcall_end",
        "done",
    ]
    assert events[4].content == "Let me look."
    # live partial arguments on the first delta, final ones at the end
    first_delta = events[6]
    assert first_delta.tool_call is not None
    end = events[8].tool_call
    assert end is not None and end.arguments == {"city": "Paris", "days": 3}
    final = events[-1].message
    assert final is not None and final.stop_reason == "toolUse"
    assert final.tool_calls == [llm.ToolCall("call_1", "weather", {"city": "Paris", "days": 3})]
    assert final.diagnostics == []
    # the end event hands out a copy: mutating it cannot corrupt the message
    end.arguments["city"] = "Rome"
    assert final.tool_calls[0].arguments["city"] == "Paris"


async def test_cut_tool_arguments_are_recovered_with_a_diagnostic(server: ScriptedServer) -> None:
    server.reply(
        Reply.sse(
            [
                sse("tool", {"id": "c", "name": "f"}),
                sse("args", {"json": '{"a": 1, "b": "unfinish'}),
                sse("done", {}),
            ]
        )
    )
    final = await client_with(MyProtocolAdapter()).complete(model_at(server.url), CTX)
    assert final.tool_calls[0].arguments == {"a": 1, "b": "unfinish"}
    assert [d.kind for d in final.diagnostics] == ["tool_arguments_partial"]
    assert final.diagnostics[0].content_index == 0


async def test_upstream_error_event_keeps_partial_content(server: ScriptedServer) -> None:
    server.reply(
        Reply.sse([sse("text", {"text": "Partial"}), sse("error", {"message": "overloaded"})])
    )
    events = [e async for e in client_with(MyProtocolAdapter()).stream(model_at(server.url), CTX)]
    assert_contract(events)
    last = events[-1]
    assert last.type == "error" and last.message is not None
    assert last.message.stop_reason == "error"
    assert last.message.error_message == "overloaded"
    assert last.message.text == "Partial"
    assert isinstance(last.error, llm.ProviderError)


async def test_exception_inside_adapter_becomes_error_event(server: ScriptedServer) -> None:
    server.reply(Reply.sse([sse("text", {"text": "So far"}), sse("crash", {})]))
    adapter = MyProtocolAdapter()
    events = [e async for e in client_with(adapter).stream(model_at(server.url), CTX)]
    assert_contract(events)
    last = events[-1]
    assert last.type == "error" and isinstance(last.error, RuntimeError)
    assert last.message is not None
    assert last.message.text == "So far"
    assert last.message.stop_reason == "error"
    assert "adapter bug" in (last.message.error_message or "")
    assert adapter.closed == 1


async def test_adapter_returning_without_terminal_gets_an_error(server: ScriptedServer) -> None:
    server.reply(Reply.sse([sse("text", {"text": "Half"}), sse("vanish", {})]))
    events = [e async for e in client_with(MyProtocolAdapter()).stream(model_at(server.url), CTX)]
    assert_contract(events)
    last = events[-1]
    assert last.type == "error" and last.message is not None
    assert last.message.text == "Half"
    assert "without a terminal event" in (last.message.error_message or "")


async def test_stream_cut_before_done_is_an_error_with_partial(server: ScriptedServer) -> None:
    server.reply(
        Reply.sse([sse("text", {"text": "Cut "}), sse("text", {"text": "here"})], cut=True)
    )
    events = [e async for e in client_with(MyProtocolAdapter()).stream(model_at(server.url), CTX)]
    assert_contract(events)
    last = events[-1]
    assert last.type == "error" and last.message is not None
    assert last.message.text == "Cut here"


class _RawAdapter:
    """Yields hand-made events, to check what EventStream enforces on
    adapters that ignore the writer's rules."""

    protocol = "raw"

    def __init__(self, events: list[llm.Event | list[llm.Event]]) -> None:
        self.events = events
        self.finished = False
        self.resumed = 0

    async def stream(
        self, model: llm.Model, context: llm.Context, options: llm.StreamOptions
    ) -> AsyncIterator[llm.Event | list[llm.Event] | None]:
        try:
            for e in self.events:
                self.resumed += 1
                yield e
        finally:
            self.finished = True


def _raw_stream(
    events: list[llm.Event | list[llm.Event]],
) -> tuple[llm.EventStream, _RawAdapter]:
    adapter = _RawAdapter(events)
    client = llm.Client(llm.AdapterRegistry([adapter]))
    model = llm.Model(id="m", provider="local", protocol="raw", base_url="http://127.0.0.1:1")
    return client.stream(model, CTX), adapter


async def test_only_the_first_terminal_event_and_one_start_get_through() -> None:
    msg = llm.AssistantMessage()
    stream, adapter = _raw_stream(
        [
            llm.Event("start", partial=msg),
            llm.Event("start", partial=msg),
            llm.Event("text_start", content_index=0),
            llm.Event("done", message=msg),
            llm.Event("text_delta", content_index=0, delta="late"),
            llm.Event("done", message=msg),
        ]
    )
    events = [e async for e in stream]
    assert [e.type for e in events] == ["start", "text_start", "done"]
    assert events[1].partial is msg  # filled in by the stream
    assert adapter.finished  # the adapter was closed after the terminal event
    assert [e async for e in stream] == []


async def test_a_non_event_from_an_adapter_becomes_an_error() -> None:
    msg = llm.AssistantMessage(content=[llm.TextContent("so far")])
    stream, adapter = _raw_stream(
        [llm.Event("start", partial=msg), "oops", llm.Event("done", message=msg)]  # type: ignore[list-item]
    )
    events = [e async for e in stream]
    assert [e.type for e in events] == ["start", "error"]
    assert isinstance(events[-1].error, TypeError)
    assert events[-1].message is msg and msg.text == "so far"
    assert "yielded str, not an llm.Event" in (msg.error_message or "")
    assert adapter.finished


async def test_a_batch_of_events_is_handed_out_in_order_without_resuming() -> None:
    msg = llm.AssistantMessage()
    deltas = [llm.Event("text_delta", content_index=0, delta=d) for d in ("a", "b", "c")]
    stream, adapter = _raw_stream(
        [
            [llm.Event("text_start", content_index=0), *deltas],  # start is inserted first
            [],  # an empty batch is skipped
            [llm.Event("text_end", content_index=0), llm.Event("done", message=msg)],
        ]
    )
    seen: list[tuple[str, int]] = []
    async for event in stream:
        seen.append((event.type, adapter.resumed))
    assert [t for t, _ in seen] == [
        "start", "text_start", "text_delta", "text_delta", "text_delta", "text_end", "done"
    ]  # fmt: skip
    # The adapter ran once per batch: the whole first batch came out of one resume.
    assert [n for _, n in seen[:5]] == [1, 1, 1, 1, 1]
    assert [e.delta for e in deltas] == ["a", "b", "c"]
    assert all(e.partial is not None for e in deltas)
    assert adapter.finished


async def test_events_after_a_terminal_in_a_batch_are_dropped_and_abort_cuts_a_batch() -> None:
    msg = llm.AssistantMessage()
    stream, adapter = _raw_stream(
        [[llm.Event("done", message=msg), llm.Event("text_delta", content_index=0, delta="x")]]
    )
    assert [e.type for e in [e async for e in stream]] == ["start", "done"]
    assert adapter.finished

    batch = [llm.Event("text_start", content_index=0)]
    batch += [llm.Event("text_delta", content_index=0, delta="x") for _ in range(3)]
    stream, adapter = _raw_stream([llm.Event("start", partial=msg), batch])
    seen = []
    async for event in stream:
        seen.append(event.type)
        if event.type == "text_delta":
            stream.abort("enough")  # the rest of the batch is not delivered
    assert seen == ["start", "text_start", "text_delta", "error"]
    assert adapter.finished


async def test_a_non_event_inside_a_batch_becomes_an_error() -> None:
    msg = llm.AssistantMessage()
    stream, _ = _raw_stream([[llm.Event("start", partial=msg), "oops"]])  # type: ignore[list-item]
    events = [e async for e in stream]
    assert [e.type for e in events] == ["start", "error"]
    assert isinstance(events[-1].error, TypeError)


async def test_terminal_only_stream_still_starts() -> None:
    stream, _ = _raw_stream([llm.Event("done", message=llm.AssistantMessage())])
    assert [e.type for e in [e async for e in stream]] == ["start", "done"]


def test_writer_ignores_calls_after_the_terminal_event() -> None:
    message = llm.AssistantMessage(content=[llm.TextContent("x")])
    writer = llm.StreamWriter(message)
    assert writer.start() is not None
    assert writer.start() is None
    done = writer.done("length")
    assert done is not None and done.type == "done" and done.message is message
    assert message.stop_reason == "length"
    assert writer.text_delta(0, "late") is None
    assert writer.fail("boom") is None
    assert writer.abort() is None
    assert writer.done() is None
    assert message.stop_reason == "length" and message.error_message is None


def test_writer_fail_and_abort_keep_content() -> None:
    message = llm.AssistantMessage(content=[llm.TextContent("kept")])
    writer = llm.StreamWriter(message)
    event = writer.abort("user left")
    assert event is not None and event.type == "error"
    assert isinstance(event.error, llm.AbortedError)
    assert message.stop_reason == "aborted" and message.error_message == "user left"
    assert message.text == "kept"
    other = llm.StreamWriter(llm.AssistantMessage())
    failed = other.fail("")
    assert failed is not None and failed.message is not None
    assert failed.message.error_message == "unknown error"
    assert isinstance(failed.error, llm.ProviderError)


def test_writer_masks_the_calls_secrets_in_failures() -> None:
    key = "sk-secret-0123456789"
    message = llm.AssistantMessage(content=[llm.TextContent("kept")])
    writer = llm.StreamWriter(message, secrets=[key])
    upstream = llm.ProviderError(f"bad key {key}", status=401, code="invalid_api_key")
    event = writer.fail(upstream)
    assert event is not None and event.error is upstream  # same error, fields kept
    assert message.error_message == "bad key sk-…*** (HTTP 401)"
    assert upstream.status == 401 and upstream.code == "invalid_api_key"
    assert key not in str(upstream) and key not in repr(upstream)
    other = llm.StreamWriter(llm.AssistantMessage(), secrets=[key])
    failed = other.fail(RuntimeError(f"echo {key}"))
    assert failed is not None and isinstance(failed.error, llm.ProviderError)
    assert failed.error.__cause__ is None and key not in repr(failed.error)
    assert other.message.error_message == "echo sk-…***"
    plain = llm.StreamWriter(llm.AssistantMessage())
    untouched = RuntimeError("nothing secret")
    assert (ev := plain.fail(untouched)) is not None and ev.error is untouched


# -- cancellation ------------------------------------------------------------


def _stalling_reply() -> Reply:
    return Reply.sse(
        [sse("text", {"text": "Hello"}), sse("text", {"text": " world"}), 30.0, sse("done", {})]
    )


async def test_abort_from_another_task_while_upstream_stalls(server: ScriptedServer) -> None:
    server.reply(_stalling_reply())
    adapter = MyProtocolAdapter()
    stream = client_with(adapter).stream(model_at(server.url), CTX)
    two_deltas = asyncio.Event()

    async def consume() -> list[llm.Event]:
        out = []
        async for e in stream:
            out.append(e)
            if e.type == "text_delta" and e.delta == " world":
                two_deltas.set()
        return out

    consumer = asyncio.create_task(consume())
    await two_deltas.wait()
    started = time.monotonic()
    stream.abort()
    events = await asyncio.wait_for(consumer, 5)
    took = time.monotonic() - started
    assert_contract(events)
    last = events[-1]
    assert last.type == "error" and isinstance(last.error, llm.AbortedError)
    assert last.message is not None
    assert last.message.stop_reason == "aborted"
    assert last.message.text == "Hello world"
    assert took < 1.0
    assert await asyncio.to_thread(server.wait_disconnect, 1.0)
    assert adapter.closed == 1
    stream.abort()  # a second abort is a no-op
    assert await stream.result() is last.message


async def test_abort_from_another_thread(server: ScriptedServer) -> None:
    server.reply(_stalling_reply())
    stream = client_with(MyProtocolAdapter()).stream(model_at(server.url), CTX)
    got_delta = asyncio.Event()

    async def consume() -> list[llm.Event]:
        out = []
        async for e in stream:
            out.append(e)
            if e.type == "text_delta":
                got_delta.set()
        return out

    consumer = asyncio.create_task(consume())
    await got_delta.wait()
    await asyncio.to_thread(stream.abort, "stopped from a GUI thread")
    events = await asyncio.wait_for(consumer, 5)
    assert_contract(events)
    assert events[-1].message is not None
    assert events[-1].message.stop_reason == "aborted"
    assert events[-1].message.error_message == "stopped from a GUI thread"
    assert await asyncio.to_thread(server.wait_disconnect, 1.0)


async def test_abort_from_the_consumer_itself(server: ScriptedServer) -> None:
    server.reply(_stalling_reply())
    stream = client_with(MyProtocolAdapter()).stream(model_at(server.url), CTX)
    events = []
    async for e in stream:
        events.append(e)
        if e.type == "text_delta":
            stream.abort("enough")
    assert_contract(events)
    assert [e.type for e in events] == ["start", "text_start", "text_delta", "error"]
    assert events[-1].message is not None
    assert events[-1].message.error_message == "enough"
    assert events[-1].message.text == "Hello"
    assert await asyncio.to_thread(server.wait_disconnect, 1.0)


async def test_abort_before_iteration_sends_nothing(server: ScriptedServer) -> None:
    server.reply(text_reply("never"))
    adapter = MyProtocolAdapter()
    stream = client_with(adapter).stream(model_at(server.url), CTX)
    stream.abort()
    events = [e async for e in stream]
    assert [e.type for e in events] == ["start", "error"]
    assert server.requests == []


async def test_leaving_async_with_releases_the_connection(server: ScriptedServer) -> None:
    server.reply(_stalling_reply())
    adapter = MyProtocolAdapter()
    async with client_with(adapter).stream(model_at(server.url), CTX) as stream:
        async for e in stream:
            if e.type == "text_delta":
                break
    assert await asyncio.to_thread(server.wait_disconnect, 1.0)
    assert adapter.closed == 1
    assert stream.terminal is not None and stream.terminal.message is not None
    assert stream.terminal.message.stop_reason == "aborted"
    # the consumer left before the end; iterating again hands out the end, once
    assert [e async for e in stream] == [stream.terminal]
    assert [e async for e in stream] == []


async def test_aclose_releases_the_connection(server: ScriptedServer) -> None:
    server.reply(_stalling_reply())
    adapter = MyProtocolAdapter()
    stream = client_with(adapter).stream(model_at(server.url), CTX)
    async for e in stream:
        if e.type == "text_delta":
            break
    await stream.aclose()
    assert await asyncio.to_thread(server.wait_disconnect, 1.0)
    assert adapter.closed == 1
    message = await stream.result()
    assert message.stop_reason == "aborted" and message.text == "Hello"


async def test_aclose_from_another_task_while_waiting(server: ScriptedServer) -> None:
    server.reply(_stalling_reply())
    stream = client_with(MyProtocolAdapter()).stream(model_at(server.url), CTX)
    got_delta = asyncio.Event()

    async def consume() -> list[llm.Event]:
        out = []
        async for e in stream:
            out.append(e)
            if e.type == "text_delta":
                got_delta.set()
        return out

    consumer = asyncio.create_task(consume())
    await got_delta.wait()
    await asyncio.sleep(0)  # let the consumer go back to waiting on the upstream
    started = time.monotonic()
    await stream.aclose()
    events = await asyncio.wait_for(consumer, 5)
    assert time.monotonic() - started < 1.0
    assert_contract(events)
    assert events[-1].message is not None and events[-1].message.stop_reason == "aborted"
    assert await asyncio.to_thread(server.wait_disconnect, 1.0)


async def test_aclose_from_another_task_while_the_consumer_is_busy(
    server: ScriptedServer,
) -> None:
    server.reply(_stalling_reply())
    stream = client_with(MyProtocolAdapter()).stream(model_at(server.url), CTX)
    got_delta, closed = asyncio.Event(), asyncio.Event()

    async def consume() -> list[llm.Event]:
        out = []
        async for e in stream:
            out.append(e)
            if e.type == "text_delta" and not got_delta.is_set():
                got_delta.set()
                await closed.wait()  # busy with its own work, not reading the stream
        return out

    consumer = asyncio.create_task(consume())
    await got_delta.wait()
    await stream.aclose()
    assert await asyncio.to_thread(server.wait_disconnect, 1.0)
    closed.set()
    events = await asyncio.wait_for(consumer, 5)
    assert_contract(events)
    assert [e.type for e in events] == ["start", "text_start", "text_delta", "error"]
    assert events[-1].message is not None and events[-1].message.stop_reason == "aborted"


async def test_cancelling_the_consumer_propagates_and_closes(server: ScriptedServer) -> None:
    server.reply(_stalling_reply())
    adapter = MyProtocolAdapter()
    stream = client_with(adapter).stream(model_at(server.url), CTX)

    async def consume() -> None:
        async for _ in stream:
            pass

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(consume(), 0.5)
    assert await asyncio.to_thread(server.wait_disconnect, 1.0)
    assert adapter.closed == 1
    assert stream.terminal is not None and stream.terminal.message is not None
    assert stream.terminal.message.stop_reason == "aborted"
    # the task that ran it is not left in a cancelled state
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


# -- result / complete --------------------------------------------------------


async def test_result_drains_and_returns_error_messages_too(server: ScriptedServer) -> None:
    server.reply(Reply.sse([sse("text", {"text": "p"}), sse("error", {"message": "bad"})]))
    stream = client_with(MyProtocolAdapter()).stream(model_at(server.url), CTX)
    message = await stream.result()
    assert message.stop_reason == "error" and message.text == "p"
    assert await stream.result() is message


async def test_complete_returns_the_final_message(server: ScriptedServer) -> None:
    server.reply(text_reply("Fine", ", thanks"))
    message = await client_with(MyProtocolAdapter()).complete(model_at(server.url), CTX)
    assert message.text == "Fine, thanks" and message.stop_reason == "stop"


async def test_complete_raises_stream_error_with_partial(server: ScriptedServer) -> None:
    server.reply(Reply.sse([sse("text", {"text": "Half an"}), sse("error", {"message": "gone"})]))
    with pytest.raises(llm.StreamError) as info:
        await client_with(MyProtocolAdapter()).complete(model_at(server.url), CTX)
    assert info.value.message.text == "Half an"
    assert info.value.message.stop_reason == "error"
    assert str(info.value) == "gone"
    assert isinstance(info.value.cause, llm.ProviderError)


async def test_module_level_functions_use_the_default_client(server: ScriptedServer) -> None:
    server.reply(text_reply("default"))
    llm.register(MyProtocolAdapter())
    try:
        assert (await llm.complete(model_at(server.url), CTX)).text == "default"
        events = [e async for e in llm.stream(model_at(server.url), CTX)]
        assert events[-1].type == "done"
    finally:
        llm.default_client.registry.unregister("my-protocol")


@pytest.mark.parametrize("how", ["abort", "aclose"])
async def test_stopping_at_any_moment_keeps_the_contract(server: ScriptedServer, how: str) -> None:
    """Stop from another task at many different points of a live stream
    (before the request, mid-headers, between and during reads, after the
    end): every stream still ends with exactly one terminal event, never
    hangs, and leaves the consuming task uncancelled."""
    body: list[str | float] = []
    for i in range(15):
        body += [sse("text", {"text": f"t{i} "}), 0.002]
    body.append(sse("done", {}))
    server.reply(Reply.sse(body))  # type: ignore[arg-type]
    adapter = MyProtocolAdapter()
    client = client_with(adapter)
    outcomes = set()
    for attempt in range(24):
        stream = client.stream(model_at(server.url), CTX)

        async def consume(s: llm.EventStream = stream) -> list[llm.Event]:
            return [e async for e in s]

        consumer = asyncio.create_task(consume())
        await asyncio.sleep(attempt * 0.003)
        if how == "abort":
            stream.abort()
        else:
            await stream.aclose()
        events = await asyncio.wait_for(consumer, 5)
        assert_contract(events)
        final = events[-1].message
        assert final is not None and final.stop_reason in ("aborted", "stop")
        if final.stop_reason == "aborted":
            assert final.text == "".join(e.delta for e in events if e.type == "text_delta")
        outcomes.add(final.stop_reason)
        assert consumer.cancelling() == 0
    assert adapter.closed == adapter.calls  # every adapter run was closed
    assert "aborted" in outcomes
