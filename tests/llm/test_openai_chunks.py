"""ChunkParser on its own, as the server uses it: decoded chunks or ``data:``
payloads in, events out, no HTTP involved."""

from __future__ import annotations

import time
from typing import Any

import pytest
from tests.support.openai_streams import chunk, model_for, tool_fragment, usage

from pluma import llm
from pluma.llm.protocols.openai_completions import ChunkParser


def new_parser() -> ChunkParser:
    model = model_for("http://127.0.0.1:1")
    message = llm.AssistantMessage(protocol="openai-completions", provider="p", model="m")
    return ChunkParser(llm.StreamWriter(message), model)


def feed_all(parser: ChunkParser, chunks: list[dict[str, Any]]) -> list[llm.Event]:
    events: list[llm.Event] = []
    for item in chunks:
        events += parser.feed(item)
    return events + parser.finish()


@pytest.mark.parametrize(
    ("reason", "stop", "needle"),
    [
        ("stop", "stop", None),
        ("length", "length", None),
        ("tool_calls", "toolUse", None),
        ("function_call", "toolUse", None),
        ("content_filter", "error", "content filter"),
        ("weird_reason", "error", "unknown finish_reason 'weird_reason'"),
    ],
)
def test_finish_reason_mapping(reason: str, stop: str, needle: str | None) -> None:
    parser = new_parser()
    events = feed_all(parser, [chunk({"content": "x"}), chunk({}, finish_reason=reason)])
    message = events[-1].message
    assert message is not None
    assert message.stop_reason == stop
    assert message.text == "x"
    if needle is None:
        assert events[-1].type == "done"
    else:
        assert events[-1].type == "error"
        assert needle in (message.error_message or "")
    assert parser.finished
    assert parser.feed(chunk({"content": "late"})) == []
    assert parser.finish() == []


def test_feed_data_handles_done_and_text() -> None:
    parser = new_parser()
    events = parser.feed_data(
        '{"id":"r1","model":"m1","choices":[{"index":0,"delta":{"content":"a"}}]}'
    )
    assert [e.type for e in events] == ["text_start", "text_delta"]
    assert parser.feed_data("") == []
    events = parser.feed_data("[DONE]")
    assert [e.type for e in events] == ["text_end", "done"]
    assert parser.message.response_id == "r1"
    assert parser.message.model == "m1"


def test_cut_input_keeps_partial_tool_call() -> None:
    parser = new_parser()
    events = feed_all(
        parser,
        [chunk({"tool_calls": [tool_fragment(0, id="c", name="f", arguments='{"a": 1, "b": "x')]})],
    )
    assert events[-1].type == "error"
    message = events[-1].message
    assert message is not None
    assert message.tool_calls[0].name == "f"
    assert message.tool_calls[0].arguments.get("a") == 1


def test_legacy_function_call() -> None:
    parser = new_parser()
    events = feed_all(
        parser,
        [
            chunk({"function_call": {"name": "lookup", "arguments": '{"q":'}}),
            chunk({"function_call": {"arguments": ' "x"}'}}),
            chunk({}, finish_reason="function_call"),
        ],
    )
    message = events[-1].message
    assert message is not None
    assert [(c.name, c.arguments) for c in message.tool_calls] == [("lookup", {"q": "x"})]
    assert message.stop_reason == "toolUse"


def test_all_calls_numbered_zero_but_distinct_ids() -> None:
    """Servers that give every parallel call index 0 and tell them apart by id."""
    parser = new_parser()
    events = feed_all(
        parser,
        [
            chunk({"tool_calls": [tool_fragment(0, id="a", name="f", arguments='{"n": 1}')]}),
            chunk({"tool_calls": [tool_fragment(0, id="b", name="g", arguments='{"n": 2}')]}),
            chunk({}, finish_reason="tool_calls"),
        ],
    )
    message = events[-1].message
    assert message is not None
    assert [(c.id, c.name, c.arguments) for c in message.tool_calls] == [
        ("a", "f", {"n": 1}),
        ("b", "g", {"n": 2}),
    ]


def test_call_without_any_id_gets_one() -> None:
    parser = new_parser()
    events = feed_all(
        parser,
        [
            chunk({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": "{}"}}]}),
            chunk({}, finish_reason="tool_calls"),
        ],
    )
    message = events[-1].message
    assert message is not None
    assert message.tool_calls[0].id
    assert message.tool_calls[0].name == "f"


def test_deepseek_cache_hit_usage() -> None:
    parser = new_parser()
    raw = {
        "prompt_tokens": 100,
        "completion_tokens": 10,
        "total_tokens": 110,
        "prompt_cache_hit_tokens": 60,
        "prompt_cache_miss_tokens": 40,
    }
    events = feed_all(
        parser, [chunk({"content": "x"}, finish_reason="stop"), chunk(no_choices=True, usage=raw)]
    )
    message = events[-1].message
    assert message is not None
    assert (message.usage.input, message.usage.cache_read, message.usage.output) == (40, 60, 10)


def test_usage_before_done_is_kept() -> None:
    parser = new_parser()
    parser.feed(chunk({"content": "x"}, finish_reason="stop"))
    parser.feed(chunk(no_choices=True, usage=usage(9, 1)))
    events = parser.feed_data("[DONE]")
    assert events[-1].type == "done"
    assert parser.message.usage.total == 10


def _segment_times(segments: int, size: int) -> list[float]:
    """Seconds taken by each run of ``size`` deltas, fed one after another
    into one growing message (text and tool arguments alternating)."""
    parser = new_parser()
    delta = chunk({"content": "word " * 20})
    arg = chunk({"tool_calls": [tool_fragment(0, arguments='"xxxxxxxxxxxxxxxxxxxx", ' * 4)]})
    parser.feed(chunk({"tool_calls": [tool_fragment(0, id="c", name="f", arguments="[")]}))
    times: list[float] = []
    for _ in range(segments):
        started = time.perf_counter()
        for i in range(size):
            parser.feed(delta if i % 2 else arg)
        times.append(time.perf_counter() - started)
    return times


def test_per_delta_cost_does_not_grow_with_length() -> None:
    """The last deltas of a 2 MB message cost what the first ones did.

    The fastest of several segments from the same run keeps a busy machine's
    pauses out (they only ever add time); re-copying the text per delta would
    make every late segment ~20x slower than the early ones.
    """
    times = _segment_times(40, 1_000)
    early = min(times[1:11])
    late = min(times[-10:])
    assert late < early * 3, (early, late)
