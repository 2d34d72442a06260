"""A subprocess plugin behind the chat ``Provider`` contract.

:class:`PluginChatProvider` is what the registry's factory builds for a
plugin's compat: routes, codecs and the connection manager call it exactly
like a built-in provider. Streams read the plugin with the profile's
first-byte and idle timeouts, cancel the RPC when the client leaves (closing
the generator cancels the call, which the plugin sees as its context ending),
and turn a plugin that dies mid-stream into one error event that keeps the
text already streamed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc

from pluma import llm
from pluma.llm.errors import ProviderError
from pluma.llm.redact import mask, secrets_of
from pluma.plugin import convert
from pluma.plugin.v1 import chat_pb2, common_pb2
from pluma.server.chat.providers.base import ChatRequest, ModelInfo
from pluma.server.chat.providers.bridge import events_for
from pluma.server.profiles import ConnectionProfile

if TYPE_CHECKING:
    from pluma.server.plugins.host import Plugin

UNARY_TIMEOUT = 30.0
SERVICE = "/pluma.plugin.v1.ChatProvider/"


def _method(channel: grpc.aio.Channel, name: str, response: Any, stream: bool) -> Any:
    make = channel.unary_stream if stream else channel.unary_unary
    return make(
        SERVICE + name,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response.FromString,
    )


async def read_stream(
    plugin: Plugin, call: Any, first_byte: float | None, idle: float | None
) -> AsyncIterator[Any]:
    """The messages of a server stream, with Pluma's first-byte and idle
    timeouts; always cancels the call when left early."""
    loop = asyncio.get_running_loop()
    which = "first"
    try:
        # One timeout scope rescheduled per message: cheaper than a
        # wait_for (a task) per message at tens of thousands of lines/s.
        async with asyncio.timeout(
            None if first_byte is None else loop.time() + first_byte
        ) as scope:
            while True:
                try:
                    message = await call.read()
                except grpc.aio.AioRpcError as exc:
                    raise plugin.rpc_error(exc) from None
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        raise  # we are being cancelled: the client left
                    # gRPC raises CancelledError for a call its channel
                    # cancelled (the channel of a plugin that died was closed)
                    raise plugin.lost_error() from None
                if message is grpc.aio.EOF:
                    return
                which = "next"
                # Off while the consumer holds the message: a slow client is
                # not a silent plugin (and a timeout must never fire into
                # the consumer's code).
                scope.reschedule(None)
                yield message
                scope.reschedule(None if idle is None else loop.time() + idle)
    except TimeoutError:
        timeout = first_byte if which == "first" else idle
        raise ProviderError(
            f"plugin {plugin.name!r} sent no {which} message for {timeout:g} s "
            "(the connection's timeout); the call was cancelled",
            retryable=True,
        ) from None
    finally:
        if not call.done():
            call.cancel()


class PluginChatProvider:
    """A chat provider served by a plugin process, for one connection profile."""

    def __init__(self, plugin: Plugin, profile: ConnectionProfile) -> None:
        self._plugin = plugin
        self._profile = profile
        self._id = plugin.key
        # The plugin gets the key; whatever its upstream quotes back is masked
        # here, by the same rule as the built-in adapters.
        self._secrets = secrets_of(profile.api_key, profile.headers)

    @property
    def id(self) -> str:
        return self._id

    @property
    def upstream(self) -> str:
        return self._profile.base_url

    def _connection(self) -> common_pb2.Connection:
        p = self._profile
        return convert.connection_pb(
            id=p.id,
            name=p.name,
            base_url=p.base_url,
            api_key=p.api_key,
            headers=p.headers,
            default_model=p.default_model,
        )

    async def list_models(self) -> list[ModelInfo]:
        channel = await self._plugin.channel()
        call = _method(channel, "ListModels", chat_pb2.ListModelsResponse, stream=False)
        try:
            answer = await call(
                chat_pb2.ListModelsRequest(connection=self._connection()), timeout=UNARY_TIMEOUT
            )
        except grpc.aio.AioRpcError as exc:
            error = self._plugin.rpc_error(exc)
            error.message = mask(error.message, self._secrets)
            error.args = (error.message,)
            raise error from None
        return convert.models_from_pb(answer)

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[str]:
        channel = await self._plugin.channel()
        method = _method(channel, "StreamChat", chat_pb2.ChatLine, stream=True)
        call = method(convert.chat_request_pb(request, self._connection()))
        timeouts = self._profile.timeouts
        async for item in read_stream(self._plugin, call, timeouts.first_byte, timeouts.idle):
            if item.HasField("error"):
                raise convert.chat_error(item.error, self._plugin.name)
            yield item.line

    def stream_events(self, request: ChatRequest) -> llm.EventStream:
        """Neutral events: straight from ``StreamEvents`` when the plugin has
        the ``events`` capability, else its lines through the same parser
        plain providers go through."""
        if "events" not in self._plugin.capabilities:
            return events_for(_Lines(self), request, self._secrets)
        model = llm.Model(
            id=request.model, provider=self.id, protocol="plugin", base_url=self.upstream
        )
        return llm.EventStream(self._events(request, model), model)

    async def _events(
        self, request: ChatRequest, model: llm.Model
    ) -> AsyncIterator[llm.Event | None]:
        message = llm.AssistantMessage(protocol="plugin", provider=self.id, model=model.id)
        writer = llm.StreamWriter(message, secrets=self._secrets)
        yield writer.start()
        blocks: dict[int, int] = {}  # the plugin's index -> ours
        open_index: int | None = None

        def opened(index: int, block: llm.AssistantContent) -> list[llm.Event | None]:
            nonlocal open_index
            events: list[llm.Event | None] = []
            if open_index is not None:
                events.append(writer.end_open_block(open_index))
            message.content.append(block)
            ours = blocks[index] = open_index = len(message.content) - 1
            if isinstance(block, llm.TextContent):
                events.append(writer.text_start(ours))
            elif isinstance(block, llm.ThinkingContent):
                events.append(writer.thinking_start(ours))
            elif isinstance(block, llm.ToolCall):
                events.append(writer.toolcall_start(ours, block))
            return events

        try:
            channel = await self._plugin.channel()
            method = _method(channel, "StreamEvents", chat_pb2.ChatEvent, stream=True)
            call = method(convert.chat_request_pb(request, self._connection()))
            timeouts = self._profile.timeouts
            async for event in read_stream(self._plugin, call, timeouts.first_byte, timeouts.idle):
                kind = event.WhichOneof("kind")
                if kind == "text":
                    if event.text.index not in blocks:
                        for e in opened(event.text.index, llm.TextContent()):
                            yield e
                    i = blocks[event.text.index]
                    text_block = message.content[i]
                    assert isinstance(text_block, llm.TextContent)
                    text_block.append(event.text.delta)
                    yield writer.text_delta(i, event.text.delta)
                elif kind == "thinking":
                    if event.thinking.index not in blocks:
                        for e in opened(event.thinking.index, llm.ThinkingContent()):
                            yield e
                    i = blocks[event.thinking.index]
                    thinking_block = message.content[i]
                    assert isinstance(thinking_block, llm.ThinkingContent)
                    if event.thinking.signature:
                        thinking_block.signature = event.thinking.signature
                    if event.thinking.delta:
                        thinking_block.append(event.thinking.delta)
                        yield writer.thinking_delta(i, event.thinking.delta)
                elif kind == "tool_call":
                    delta = event.tool_call
                    if delta.index not in blocks:
                        for e in opened(delta.index, llm.ToolCall(delta.id, delta.name)):
                            yield e
                    i = blocks[delta.index]
                    call_block = message.content[i]
                    assert isinstance(call_block, llm.ToolCall)
                    if delta.arguments_delta:
                        call_block.append_arguments(delta.arguments_delta)
                        yield writer.toolcall_delta(i, call_block, delta.arguments_delta)
                elif kind == "usage":
                    u = event.usage
                    message.usage.input = u.input_tokens
                    message.usage.output = u.output_tokens
                    message.usage.cache_read = u.cache_read_tokens
                    message.usage.cache_write = u.cache_write_tokens
                elif kind == "done":
                    if open_index is not None:
                        yield writer.end_open_block(open_index)
                    reason = event.done.stop_reason
                    yield writer.done(reason if reason in ("stop", "length", "toolUse") else "stop")
                    return
                elif kind == "error":
                    yield writer.fail(convert.chat_error(event.error, self._plugin.name))
                    return
            yield writer.fail(
                ProviderError(f"plugin {self._plugin.name!r} ended the stream without 'done'")
            )
        except Exception as exc:
            yield writer.fail(exc)


class _Lines:
    """The plugin seen as a plain lines-out provider, for the bridge's parser."""

    def __init__(self, provider: PluginChatProvider) -> None:
        self._provider = provider
        self.id = provider.id
        self.upstream = provider.upstream

    async def list_models(self) -> list[ModelInfo]:
        return await self._provider.list_models()

    def stream_chat(self, request: ChatRequest) -> AsyncIterator[str]:
        return self._provider.stream_chat(request)
