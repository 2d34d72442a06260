"""EventParser on its own: Anthropic stream events in, Pluma events out, no HTTP."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.support import anthropic_streams as a

from pluma import llm
from pluma.llm.protocols.anthropic_messages import EventParser

MODEL = llm.Model(
    id="claude-test-1",
    provider="anthropic",
    protocol="anthropic-messages",
    cost=llm.ModelCost(input=1.0, output=2.0, cache_read=0.5, cache_write=4.0),
)


def parse(frames: list[str]) -> tuple[EventParser, llm.StreamWriter, list[llm.Event]]:
    """Feed helper-built SSE frames (name + JSON) straight to a parser."""
    writer = llm.StreamWriter(llm.AssistantMessage(protocol="anthropic-messages"))
    parser = EventParser(writer, MODEL)
    events: list[llm.Event] = []
    for frame in frames:
        name_line, data_line = frame.strip("\n").split("\n")
        data: dict[str, Any] = json.loads(data_line.removeprefix("data: "))
        events.extend(parser.feed(name_line.removeprefix("event: "), data))
    return parser, writer, events


def test_done_once_and_later_events_ignored() -> None:
    parser, writer, events = parse([*a.text_stream("hi"), a.text_delta(0, "late")])
    assert [e.type for e in events][-1] == "done"
    assert writer.message.text == "hi"
    assert parser.finished
    assert parser.finish() == []
    assert parser.feed("message_stop", {"type": "message_stop"}) == []


def test_event_name_missing_falls_back_to_data_type() -> None:
    writer = llm.StreamWriter(llm.AssistantMessage())
    parser = EventParser(writer, MODEL)
    parser.feed("", {"type": "message_start", "message": {"id": "m1", "usage": {}}})
    parser.feed(
        "",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    )
    out = parser.feed(
        "",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}},
    )
    assert [e.type for e in out] == ["text_delta"]
    assert writer.message.response_id == "m1"


def test_finish_without_message_stop_is_one_error() -> None:
    parser, writer, _ = parse([a.message_start(), a.text_start(0), a.text_delta(0, "cut")])
    end = parser.finish()
    assert [e.type for e in end] == ["error"]
    assert writer.message.text == "cut"
    assert parser.finish() == []


def test_deltas_after_input_given_at_start_replace_it() -> None:
    """Same rule as the SDK's accumulator: streamed JSON is the input."""
    _, writer, _ = parse(
        [
            a.message_start(),
            a.tool_start(0, "toolu_1", "f", {"stale": True}),
            a.input_json_delta(0, '{"fresh": 1}'),
            a.block_stop(0),
            a.message_delta("tool_use"),
            a.message_stop(),
        ]
    )
    assert writer.message.tool_calls[0].arguments == {"fresh": 1}


def test_initial_text_in_block_start_is_kept_and_shown() -> None:
    _, writer, events = parse(
        [
            a.message_start(),
            a.block_start(0, {"type": "text", "text": "pre"}),
            a.text_delta(0, "fix"),
            a.block_stop(0),
            a.message_delta(),
            a.message_stop(),
        ]
    )
    assert writer.message.text == "prefix"
    assert [e.delta for e in events if e.type == "text_delta"] == ["pre", "fix"]


def test_open_blocks_are_closed_before_done() -> None:
    _, _, events = parse(
        [
            a.message_start(),
            a.text_start(0),
            a.text_delta(0, "x"),
            a.message_delta(),
            a.message_stop(),
        ]
    )
    assert [e.type for e in events] == ["start", "text_start", "text_delta", "text_end", "done"]


def test_usage_cost_follows_model_prices() -> None:
    _, writer, _ = parse(
        [
            a.message_start(input_tokens=1_000_000, cache_read=2_000_000, cache_write=1_000_000),
            a.message_delta("end_turn", 500_000),
            a.message_stop(),
        ]
    )
    cost = writer.message.usage.cost
    assert (cost.input, cost.output, cost.cache_read, cost.cache_write) == (1.0, 1.0, 1.0, 4.0)


def test_per_delta_cost_does_not_grow_with_message_length() -> None:
    """Time 500-delta blocks at the start and at the end of a 2 MB message.

    Taking the fastest block on each side filters out a busy machine; a
    quadratic implementation (re-copying the text per delta) makes the late
    blocks hundreds of times slower than the early ones, far beyond the bound.
    """
    writer = llm.StreamWriter(llm.AssistantMessage())
    parser = EventParser(writer, MODEL)
    parser.feed("message_start", {"type": "message_start", "message": {"id": "m", "usage": {}}})
    parser.feed(
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    )
    piece = "w" * 200
    delta = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": piece},
    }
    feed = parser.feed
    blocks: list[float] = []
    for _ in range(20):
        started = time.perf_counter()
        for _ in range(500):
            feed("content_block_delta", delta)
        blocks.append(time.perf_counter() - started)
    assert len(writer.message.text) == 200 * 500 * 20
    assert min(blocks[-5:]) < min(blocks[:5]) * 3
