"""Ways to cut one response body into network writes, from the whole body in
one write to one byte per write, so a test can serve the same transcript in
every framing a real upstream (or a proxy) might produce."""

from __future__ import annotations

import random

SPLIT_MODES = ("whole", "per-event", "random", "7-bytes", "one-byte")


def split(frames: list[bytes], mode: str, seed: int = 0) -> list[bytes]:
    """``frames`` (one per event or line) as the writes of ``mode``."""
    body = b"".join(frames)
    if mode == "whole":
        return [body]
    if mode == "per-event":
        return list(frames)
    if mode == "one-byte":
        return [body[i : i + 1] for i in range(len(body))]
    if mode == "7-bytes":
        return [body[i : i + 7] for i in range(0, len(body), 7)]
    if mode == "random":
        r = random.Random(seed)
        cuts = sorted(r.sample(range(1, len(body)), min(len(body) - 1, 25)))
        return [body[i:j] for i, j in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    raise ValueError(f"unknown split mode {mode!r}")


def assert_deltas_build_the_message(events: list[object], message: object) -> None:
    """What a consumer of the events saw (the deltas of each text and thinking
    block, each tool call's argument text) adds up to the final message."""
    from pluma import llm

    assert isinstance(message, llm.AssistantMessage)
    seen: dict[int, list[str]] = {}
    for event in events:
        assert isinstance(event, llm.Event)
        if event.type in ("text_delta", "thinking_delta", "toolcall_delta"):
            seen.setdefault(event.content_index, []).append(event.delta)
    for index, block in enumerate(message.content):
        streamed = "".join(seen.get(index, []))
        if isinstance(block, llm.TextContent):
            assert streamed == block.text, index
        elif isinstance(block, llm.ThinkingContent):
            assert streamed == block.thinking, index
        elif isinstance(block, llm.ToolCall):
            assert llm.parse_tool_arguments(streamed).arguments == block.arguments, index
