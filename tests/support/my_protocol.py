""" "my-protocol": a small custom wire protocol and a real adapter for it.

The core tests drive the StreamWriter / EventStream guarantees through this
adapter, talking over real HTTP to :class:`~tests.support.scripted_server.ScriptedServer`,
the way the "Custom protocols" page says a third-party adapter should.

The wire format (invented, but framed as real SSE):

| request                     | ``POST {base_url}/generate`` with JSON            |
|                             | ``{"model", "prompt", "max_tokens", "safety"}``    |
|                             | and ``Authorization: Bearer <key>`` when keyed     |
| ``event: text``             | ``{"text": "..."}`` — a text delta                 |
| ``event: thinking``         | ``{"text": "..."}`` — a reasoning delta            |
| ``event: tool``             | ``{"id", "name"}`` opens a tool call, then        |
| ``event: args``             | ``{"json": "..."}`` — an argument fragment         |
| ``event: done``             | ``{"usage": {"input", "output"}, "stop"}``         |
| ``event: error``            | ``{"message": "..."}``                             |
| ``event: crash`` (test aid) | the adapter raises, like an adapter bug would      |
| ``event: vanish`` (test aid)| the adapter returns without a terminal event      |
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from pluma import llm
from pluma.llm.transport.http import open_stream, read_sse
from tests.support.scripted_server import Reply

PROTOCOL = "my-protocol"


@dataclass
class MyProtocolOptions:
    """Protocol options with a required setting, checked by ``validate``."""

    safety: str = "strict"
    seen_tools: Sequence[llm.Tool] | None = None

    @property
    def protocol(self) -> str:
        return PROTOCOL

    def validate(self, tools: Sequence[llm.Tool]) -> None:
        self.seen_tools = tools
        if self.safety not in ("strict", "relaxed"):
            raise ValueError(f"safety must be 'strict' or 'relaxed', got {self.safety!r}")


class MyProtocolAdapter:
    """A real adapter: builds the request, frames the response, fills the
    message through a :class:`~pluma.llm.StreamWriter`.

    ``explicit_start=False`` leaves the start event to the stream wrapper;
    ``calls`` counts how often ``stream`` ran.
    """

    protocol = PROTOCOL

    def __init__(self, *, explicit_start: bool = True) -> None:
        self.explicit_start = explicit_start
        self.calls = 0
        self.closed = 0

    async def stream(
        self, model: llm.Model, context: llm.Context, options: llm.StreamOptions
    ) -> AsyncIterator[llm.Event | None]:
        self.calls += 1
        message = llm.AssistantMessage(
            protocol=model.protocol, provider=model.provider, model=model.id
        )
        writer = llm.StreamWriter(message)
        prompt = " ".join(
            m.content
            for m in context.messages
            if isinstance(m, llm.UserMessage) and isinstance(m.content, str)
        )
        body: dict[str, Any] = {
            "model": model.id,
            "prompt": prompt,
            "max_tokens": options.max_tokens or model.max_tokens,
        }
        if isinstance(options.protocol_options, MyProtocolOptions):
            body["safety"] = options.protocol_options.safety
        headers = {**model.headers, **options.headers}
        if options.api_key:
            headers["authorization"] = f"Bearer {options.api_key}"
        url = (options.base_url or model.base_url).rstrip("/") + "/generate"
        open_index: int | None = None
        try:
            if self.explicit_start:
                yield writer.start()
            async with open_stream(url, headers=headers, body=body, options=options) as response:
                async for sse in read_sse(response, options.timeouts):
                    data = orjson.loads(sse.data) if sse.data else {}
                    kind = sse.event
                    if kind in ("text", "thinking"):
                        block = message.content[open_index] if open_index is not None else None
                        wanted = llm.TextContent if kind == "text" else llm.ThinkingContent
                        if not isinstance(block, wanted):
                            if open_index is not None:
                                yield writer.end_open_block(open_index)
                            block = wanted()
                            message.content.append(block)
                            open_index = len(message.content) - 1
                            yield (
                                writer.text_start(open_index)
                                if kind == "text"
                                else writer.thinking_start(open_index)
                            )
                        block.append(data["text"])
                        assert open_index is not None
                        yield (
                            writer.text_delta(open_index, data["text"])
                            if kind == "text"
                            else writer.thinking_delta(open_index, data["text"])
                        )
                    elif kind == "tool":
                        if open_index is not None:
                            yield writer.end_open_block(open_index)
                        call = llm.ToolCall(data["id"], data["name"])
                        message.content.append(call)
                        open_index = len(message.content) - 1
                        yield writer.toolcall_start(open_index, call)
                    elif kind == "args":
                        assert open_index is not None
                        call = message.content[open_index]
                        assert isinstance(call, llm.ToolCall)
                        call.append_arguments(data["json"])
                        yield writer.toolcall_delta(open_index, call, data["json"])
                    elif kind == "done":
                        if open_index is not None:
                            yield writer.end_open_block(open_index)
                        usage = data.get("usage", {})
                        message.usage = llm.Usage(
                            input=usage.get("input", 0), output=usage.get("output", 0)
                        )
                        llm.calculate_cost(model, message.usage)
                        yield writer.done(data.get("stop", "stop"))
                        return
                    elif kind == "error":
                        yield writer.fail(llm.ProviderError(data["message"]))
                        return
                    elif kind == "crash":
                        raise RuntimeError("adapter bug: cannot handle 'crash'")
                    elif kind == "vanish":
                        return
        except llm.ProviderError as exc:
            yield writer.fail(exc)
            return
        finally:
            self.closed += 1
        yield writer.fail(llm.ProviderError("the stream ended before its done event"))


def sse(event: str, data: dict[str, Any]) -> str:
    """One SSE event of the protocol."""
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def text_reply(
    *parts: str, usage: tuple[int, int] = (3, 2), stop: str = "stop", **kwargs: Any
) -> Reply:
    """A reply streaming ``parts`` as text deltas, then done."""
    events = [sse("text", {"text": p}) for p in parts]
    events.append(sse("done", {"usage": {"input": usage[0], "output": usage[1]}, "stop": stop}))
    return Reply.sse(events, **kwargs)


def model_at(url: str, **kwargs: Any) -> llm.Model:
    """A model routed to my-protocol at ``url`` (a loopback server)."""
    return llm.Model(id="x", provider="me", protocol=PROTOCOL, base_url=url, **kwargs)
