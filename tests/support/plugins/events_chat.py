"""A test chat plugin that hands over neutral events (``StreamEvents``):
signed thinking, text, a tool call with streamed arguments, usage — what
OpenAI-shaped lines would lose."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from pluma import llm
from pluma.plugin import serve_chat
from pluma.server.chat.providers.base import ChatRequest, ModelInfo
from pluma.server.profiles import ConnectionProfile


class EventsProvider:
    def __init__(self, profile: ConnectionProfile, http: httpx.AsyncClient) -> None:
        self.profile = profile

    @property
    def id(self) -> str:
        return "events"

    @property
    def upstream(self) -> str:
        return self.profile.base_url

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("thinker")]

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[str]:
        raise NotImplementedError("this plugin streams events")
        yield ""

    def stream_events(self, request: ChatRequest) -> llm.EventStream:
        model = llm.Model(id=request.model, provider="events", protocol="events")
        return llm.EventStream(self._events(request), model)

    async def _events(self, request: ChatRequest) -> AsyncIterator[llm.Event | None]:
        message = llm.AssistantMessage(protocol="events", provider="events", model=request.model)
        writer = llm.StreamWriter(message)
        yield writer.start()
        thinking = llm.ThinkingContent()
        message.content.append(thinking)
        yield writer.thinking_start(0)
        for piece in ("Let me ", "think."):
            thinking.append(piece)
            yield writer.thinking_delta(0, piece)
        thinking.signature = "sig-from-plugin"
        yield writer.thinking_end(0)
        text = llm.TextContent()
        message.content.append(text)
        yield writer.text_start(1)
        text.append("Calling the tool.")
        yield writer.text_delta(1, "Calling the tool.")
        yield writer.text_end(1)
        call = llm.ToolCall("toolu_1", "lookup")
        message.content.append(call)
        yield writer.toolcall_start(2, call)
        for piece in ('{"q": ', '"pluma"}'):
            call.append_arguments(piece)
            yield writer.toolcall_delta(2, call, piece)
        yield writer.toolcall_end(2, call)
        message.usage.input = 11
        message.usage.output = 22
        yield writer.done("toolUse")


if __name__ == "__main__":
    serve_chat(EventsProvider, id="events", version="2.0.0")
