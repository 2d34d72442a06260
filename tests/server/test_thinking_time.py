"""The chat server times each reasoning block of a reply as it streams
(:mod:`pluma.server.chat.thinking_time`)."""

from __future__ import annotations

from pluma import llm
from pluma.server.chat.thinking_time import ThinkingClock


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_each_block_is_timed_from_its_start_to_its_end() -> None:
    time = FakeTime()
    clock = ThinkingClock(now=time)
    message = llm.AssistantMessage(
        content=[llm.ThinkingContent("a"), llm.TextContent("b"), llm.ThinkingContent("c")]
    )
    seen: list[str] = []
    encode = clock.watching(lambda event: seen.append(event.type) or [event.type])

    def emit(kind: llm.events.EventType, index: int) -> None:
        assert encode(llm.Event(kind, content_index=index, partial=message)) == [kind]

    emit("thinking_start", 0)
    time.now += 4.2104
    emit("thinking_delta", 0)
    emit("thinking_end", 0)
    emit("text_start", 1)
    time.now += 1.0
    emit("text_end", 1)
    emit("thinking_start", 2)
    time.now += 0.25
    emit("thinking_end", 2)
    assert [b.duration_ms for b in message.content if isinstance(b, llm.ThinkingContent)] == [
        4210,
        250,
    ]
    assert len(seen) == 7  # every event still reaches the encoder


def test_a_block_left_open_is_timed_up_to_the_end_of_the_reply() -> None:
    time = FakeTime()
    clock = ThinkingClock(now=time)
    message = llm.AssistantMessage(content=[llm.ThinkingContent("still thinking")])
    encode = clock.watching(lambda event: [])
    encode(llm.Event("thinking_start", content_index=0, partial=message))
    time.now += 2.0
    clock.finish(message)  # the client pressed Stop
    block = message.content[0]
    assert isinstance(block, llm.ThinkingContent) and block.duration_ms == 2000
    clock.finish(message)  # once only
    assert block.duration_ms == 2000


def test_an_index_that_is_not_a_thinking_block_is_left_alone() -> None:
    clock = ThinkingClock(now=FakeTime())
    message = llm.AssistantMessage(content=[llm.TextContent("x")])
    encode = clock.watching(lambda event: [])
    encode(llm.Event("thinking_start", content_index=0, partial=message))
    encode(llm.Event("thinking_end", content_index=0, partial=message))
    encode(llm.Event("thinking_start", content_index=5, partial=message))
    clock.finish(message)
    assert message.content == [llm.TextContent("x")]
