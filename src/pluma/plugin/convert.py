"""Pluma's neutral types ↔ the contract's protobuf messages, both ways.

The host encodes requests and decodes results; the Python kit does the
reverse; both use this one module so the two sides cannot drift apart.
"""

from __future__ import annotations

import json
from typing import Any

from pluma import llm
from pluma.llm.errors import ProviderError
from pluma.plugin.errors import PluginError, code_for_status
from pluma.plugin.v1 import chat_pb2, common_pb2, image_pb2
from pluma.server.chat.providers.base import ChatRequest, ModelInfo
from pluma.server.images.base import (
    GeneratedImage,
    ImageBackendError,
    ImageRequest,
    ImageResult,
    Progress,
)

# -- connections ----------------------------------------------------------------


def connection_pb(
    *,
    id: str,
    name: str,
    base_url: str,
    api_key: str | None,
    headers: dict[str, str],
    default_model: str = "",
) -> common_pb2.Connection:
    return common_pb2.Connection(
        id=id,
        name=name,
        base_url=base_url,
        api_key=api_key or "",
        headers=headers,
        default_model=default_model,
    )


# -- errors ---------------------------------------------------------------------


def error_pb(exc: BaseException) -> common_pb2.PluginError:
    """Any exception a plugin raised, as the contract's error."""
    if isinstance(exc, PluginError):
        return common_pb2.PluginError(
            code=exc.code, message=exc.message, upstream_status=exc.upstream_status
        )
    if isinstance(exc, ProviderError):
        return common_pb2.PluginError(
            code=code_for_status(exc.status), message=exc.message, upstream_status=exc.status or 0
        )
    if isinstance(exc, ImageBackendError):
        return common_pb2.PluginError(code=exc.code, message=exc.message)
    if isinstance(exc, ValueError):
        return common_pb2.PluginError(code="invalid", message=str(exc))
    return common_pb2.PluginError(code="internal", message=f"{type(exc).__name__}: {exc}")


def chat_error(error: common_pb2.PluginError, plugin: str) -> ProviderError:
    message = error.message or f"plugin {plugin!r} failed ({error.code or 'no code'})"
    return ProviderError(message, status=error.upstream_status or None, code=error.code or None)


def image_error(error: common_pb2.PluginError, plugin: str) -> ImageBackendError:
    message = error.message or f"plugin {plugin!r} failed ({error.code or 'no code'})"
    code = error.code or "upstream"
    return ImageBackendError(message, code=code, status=400 if code == "invalid" else 502)


# -- chat requests --------------------------------------------------------------


def _user_parts(content: str | list[llm.UserContent]) -> list[chat_pb2.Part]:
    if isinstance(content, str):
        return [chat_pb2.Part(text=content)]
    parts = []
    for block in content:
        if isinstance(block, llm.ImageContent):
            parts.append(
                chat_pb2.Part(image=chat_pb2.Image(data=block.data, mime_type=block.mime_type))
            )
        else:
            parts.append(chat_pb2.Part(text=block.text))
    return parts


def _assistant_parts(message: llm.AssistantMessage) -> list[chat_pb2.Part]:
    parts = []
    for block in message.content:
        if isinstance(block, llm.TextContent):
            parts.append(chat_pb2.Part(text=block.text))
        elif isinstance(block, llm.ThinkingContent):
            thinking = chat_pb2.Thinking(
                text=block.thinking, signature=block.signature or "", redacted=block.redacted
            )
            parts.append(chat_pb2.Part(thinking=thinking))
        else:
            call = chat_pb2.ToolCall(
                id=block.id, name=block.name, arguments_json=json.dumps(block.arguments)
            )
            parts.append(chat_pb2.Part(tool_call=call))
    return parts


def message_pb(message: llm.Message) -> chat_pb2.Message:
    if isinstance(message, llm.UserMessage):
        return chat_pb2.Message(role="user", parts=_user_parts(message.content))
    if isinstance(message, llm.AssistantMessage):
        return chat_pb2.Message(role="assistant", parts=_assistant_parts(message))
    return chat_pb2.Message(
        role="tool",
        parts=_user_parts(message.content),
        tool_call_id=message.tool_call_id,
        tool_name=message.tool_name,
        is_error=message.is_error,
    )


def chat_request_pb(
    request: ChatRequest, connection: common_pb2.Connection
) -> chat_pb2.ChatRequest:
    """The neutral request as the contract's message (host side)."""
    context = request.context
    tool_choice = request.tool_choice
    if isinstance(tool_choice, dict):
        tool_choice_text = f"tool:{tool_choice.get('name', '')}"
    else:
        tool_choice_text = tool_choice or ""
    pb = chat_pb2.ChatRequest(
        connection=connection,
        model=request.model,
        system_prompt=context.system_prompt or "",
        messages=[message_pb(m) for m in context.messages],
        tools=[
            chat_pb2.Tool(
                name=t.name, description=t.description, parameters_json=json.dumps(t.parameters)
            )
            for t in context.tools
        ],
        reasoning=request.reasoning or "",
        tool_choice=tool_choice_text,
        extra_json=json.dumps(request.extra) if request.extra else "",
        stop=request.stop or [],
        response_format_json=_response_format_json(request.response_format),
        user=request.user or "",
        metadata=request.metadata or {},
        client_protocol=request.protocol,
    )
    if request.temperature is not None:
        pb.temperature.value = request.temperature
    if request.max_tokens is not None:
        pb.max_tokens.value = request.max_tokens
    # Every neutral control crosses the boundary: the plugin decides what its
    # upstream can honour (and refuses the rest), as a built-in adapter does.
    for name in ("top_p", "top_k", "seed", "presence_penalty", "frequency_penalty"):
        value = getattr(request, name)
        if value is not None:
            getattr(pb, name).value = value
    if request.parallel_tool_calls is not None:
        pb.parallel_tool_calls.value = request.parallel_tool_calls
    return pb


def _response_format_json(fmt: llm.ResponseFormat | None) -> str:
    if fmt is None or fmt.type == "text":
        return ""
    body: dict[str, Any] = {"type": fmt.type}
    for name in ("schema", "name", "description", "strict"):
        value = getattr(fmt, name)
        if value is not None:
            body[name] = value
    return json.dumps(body)


def _response_format(text: str) -> llm.ResponseFormat | None:
    if not text:
        return None
    body = json.loads(text)
    return llm.ResponseFormat(
        type=body.get("type", "text"),
        schema=body.get("schema"),
        name=body.get("name"),
        description=body.get("description"),
        strict=body.get("strict"),
    )


def _user_content(parts: Any) -> list[llm.UserContent]:
    content: list[llm.UserContent] = []
    for part in parts:
        if part.WhichOneof("kind") == "image":
            content.append(llm.ImageContent(data=part.image.data, mime_type=part.image.mime_type))
        elif part.WhichOneof("kind") == "text":
            content.append(llm.TextContent(part.text))
    return content


def _assistant_content(parts: Any) -> list[llm.AssistantContent]:
    content: list[llm.AssistantContent] = []
    for part in parts:
        kind = part.WhichOneof("kind")
        if kind == "text":
            content.append(llm.TextContent(part.text))
        elif kind == "thinking":
            content.append(
                llm.ThinkingContent(
                    part.thinking.text, part.thinking.signature or None, part.thinking.redacted
                )
            )
        elif kind == "tool_call":
            args = json.loads(part.tool_call.arguments_json or "{}")
            content.append(llm.ToolCall(part.tool_call.id, part.tool_call.name, args))
    return content


def message_from_pb(pb: chat_pb2.Message) -> llm.Message:
    if pb.role == "assistant":
        return llm.AssistantMessage(content=_assistant_content(pb.parts))
    if pb.role == "tool":
        return llm.ToolResultMessage(
            tool_call_id=pb.tool_call_id,
            tool_name=pb.tool_name,
            content=_user_content(pb.parts),
            is_error=pb.is_error,
        )
    content = _user_content(pb.parts)
    if len(content) == 1 and isinstance(content[0], llm.TextContent):
        return llm.UserMessage(content[0].text)
    return llm.UserMessage(content)


def chat_request_from_pb(pb: chat_pb2.ChatRequest) -> ChatRequest:
    """The contract's message as the neutral request (kit side)."""
    context = llm.Context(
        messages=[message_from_pb(m) for m in pb.messages],
        system_prompt=pb.system_prompt or None,
        tools=[
            llm.Tool(t.name, t.description, json.loads(t.parameters_json or "{}")) for t in pb.tools
        ],
    )
    tool_choice: Any = pb.tool_choice or None
    if tool_choice and tool_choice.startswith("tool:"):
        tool_choice = {"name": tool_choice[5:]}
    return ChatRequest(
        model=pb.model,
        context=context,
        temperature=pb.temperature.value if pb.HasField("temperature") else None,
        max_tokens=pb.max_tokens.value if pb.HasField("max_tokens") else None,
        reasoning=pb.reasoning or None,  # type: ignore[arg-type]
        tool_choice=tool_choice,
        extra=json.loads(pb.extra_json) if pb.extra_json else {},
        stop=list(pb.stop) or None,
        top_p=pb.top_p.value if pb.HasField("top_p") else None,
        top_k=pb.top_k.value if pb.HasField("top_k") else None,
        seed=pb.seed.value if pb.HasField("seed") else None,
        presence_penalty=pb.presence_penalty.value if pb.HasField("presence_penalty") else None,
        frequency_penalty=pb.frequency_penalty.value if pb.HasField("frequency_penalty") else None,
        response_format=_response_format(pb.response_format_json),
        user=pb.user or None,
        metadata=dict(pb.metadata) or None,
        parallel_tool_calls=(
            pb.parallel_tool_calls.value if pb.HasField("parallel_tool_calls") else None
        ),
        protocol=pb.client_protocol,
    )


def models_pb(models: list[ModelInfo]) -> chat_pb2.ListModelsResponse:
    return chat_pb2.ListModelsResponse(
        models=[chat_pb2.ModelInfo(id=m.id, display=m.display, family=m.family) for m in models]
    )


def models_from_pb(pb: chat_pb2.ListModelsResponse) -> list[ModelInfo]:
    return [ModelInfo(m.id, m.display, m.family) for m in pb.models]


# -- chat events (StreamEvents) ------------------------------------------------------


def event_pb(event: llm.Event) -> chat_pb2.ChatEvent | None:
    """A neutral event as a ChatEvent, or None for the ones the contract
    leaves implicit (start, *_start, *_end: blocks are opened by their
    first delta and closed by the next block or the end)."""
    kind = event.type
    index = event.content_index
    if kind == "text_delta":
        return chat_pb2.ChatEvent(text=chat_pb2.TextDelta(index=index, delta=event.delta))
    if kind == "thinking_delta":
        return chat_pb2.ChatEvent(thinking=chat_pb2.ThinkingDelta(index=index, delta=event.delta))
    if kind == "thinking_end" and event.partial is not None:
        block = event.partial.content[index]
        if isinstance(block, llm.ThinkingContent) and block.signature:
            delta = chat_pb2.ThinkingDelta(index=index, signature=block.signature)
            return chat_pb2.ChatEvent(thinking=delta)
        return None
    if kind == "toolcall_start" and event.tool_call is not None:
        call = event.tool_call
        first = chat_pb2.ToolCallDelta(index=index, id=call.id, name=call.name)
        return chat_pb2.ChatEvent(tool_call=first)
    if kind == "toolcall_delta":
        return chat_pb2.ChatEvent(
            tool_call=chat_pb2.ToolCallDelta(index=index, arguments_delta=event.delta)
        )
    if kind == "done" and event.message is not None:
        return chat_pb2.ChatEvent(done=chat_pb2.Done(stop_reason=event.message.stop_reason))
    if kind == "error" and event.message is not None:
        error = event.error or ProviderError(event.message.error_message or "failed")
        return chat_pb2.ChatEvent(error=error_pb(error))
    return None


def usage_pb(usage: llm.Usage) -> chat_pb2.ChatEvent:
    return chat_pb2.ChatEvent(
        usage=chat_pb2.Usage(
            input_tokens=usage.input,
            output_tokens=usage.output,
            cache_read_tokens=usage.cache_read,
            cache_write_tokens=usage.cache_write,
        )
    )


# -- images -----------------------------------------------------------------------


def image_request_pb(
    request: ImageRequest, connection: common_pb2.Connection, seed: int
) -> image_pb2.GenerateRequest:
    return image_pb2.GenerateRequest(
        connection=connection,
        prompt=request.prompt,
        negative_prompt=request.negative_prompt,
        width=request.width,
        height=request.height,
        steps=request.steps,
        cfg_scale=request.cfg_scale,
        sampler=request.sampler,
        scheduler=request.scheduler,
        seed=seed,
        batch_size=request.batch_size,
        checkpoint=request.checkpoint,
        denoise=request.denoise,
    )


def image_request_from_pb(pb: image_pb2.GenerateRequest) -> ImageRequest:
    return ImageRequest(
        prompt=pb.prompt,
        negative_prompt=pb.negative_prompt,
        width=pb.width,
        height=pb.height,
        steps=pb.steps,
        cfg_scale=pb.cfg_scale,
        sampler=pb.sampler,
        scheduler=pb.scheduler,
        seed=pb.seed,
        batch_size=pb.batch_size,
        checkpoint=pb.checkpoint,
        denoise=pb.denoise,
    )


def progress_pb(progress: Progress) -> image_pb2.GenerateUpdate:
    pb = image_pb2.Progress(
        fraction=progress.fraction, step=progress.step or 0, steps=progress.steps or 0
    )
    if progress.preview is not None:
        pb.preview.CopyFrom(
            image_pb2.GeneratedImage(
                data=progress.preview.data, mime_type=progress.preview.mime_type
            )
        )
    return image_pb2.GenerateUpdate(progress=pb)


def progress_from_pb(pb: image_pb2.Progress) -> Progress:
    preview = None
    if pb.HasField("preview"):
        preview = GeneratedImage(pb.preview.data, pb.preview.mime_type or "image/png")
    return Progress(pb.fraction, pb.step or None, pb.steps or None, preview)


def result_pb(result: ImageResult) -> image_pb2.GenerateUpdate:
    return image_pb2.GenerateUpdate(
        result=image_pb2.GenerateResult(
            images=[
                image_pb2.GeneratedImage(data=i.data, mime_type=i.mime_type) for i in result.images
            ],
            parameters_json=json.dumps(result.parameters),
            info_json=json.dumps(result.info),
        )
    )


def result_from_pb(pb: image_pb2.GenerateResult) -> ImageResult:
    return ImageResult(
        images=[GeneratedImage(i.data, i.mime_type or "image/png") for i in pb.images],
        parameters=json.loads(pb.parameters_json or "{}"),
        info=json.loads(pb.info_json or "{}"),
    )
