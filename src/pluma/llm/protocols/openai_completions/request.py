"""Context → Chat Completions request body.

| neutral                                  | wire                                                       |
|------------------------------------------|------------------------------------------------------------|
| ``system_prompt``                        | first message, role ``developer`` (OpenAI reasoning models)|
|                                          | or ``system``                                              |
| ``UserMessage`` text                     | ``{"role": "user", "content": "…"}`` (one text block)       |
| ``UserMessage`` text + images            | content parts ``text`` / ``image_url`` (base64 data URL)   |
| image, model without image input         | a text part saying the image was left out                  |
| ``AssistantMessage`` text                | ``content`` (text blocks joined)                           |
| ``AssistantMessage`` thinking            | dropped, or ``compat.reasoning_field`` when set            |
| ``AssistantMessage`` tool calls          | ``tool_calls[{id, type: function, function{name, arguments}}]`` |
| errored / aborted assistant message      | its text only (its tool calls never got results)           |
| ``ToolResultMessage``                    | ``{"role": "tool", "tool_call_id", "content"}`` (+ ``name``)|
| tool call ids                            | rewritten where the upstream limits them (compat)          |
| images in tool results                   | one user message after the run of tool messages            |
| ``Tool``                                 | ``{"type": "function", "function": {name, description, parameters}}`` |
| ``StreamOptions.max_tokens``             | ``max_tokens`` or ``max_completion_tokens`` (compat)       |
| ``StreamOptions.temperature``            | ``temperature``; refused (:class:`UnsupportedControlError`)|
|                                          | for a model that rejects it (``supports_temperature``)     |
| ``StreamOptions.reasoning``              | ``reasoning_effort`` / OpenRouter ``reasoning.effort``;    |
|                                          | ``off`` or a non-reasoning model: nothing                  |
| ``StreamOptions.stop``                   | ``stop`` (a list of strings)                               |
| ``top_p``, ``top_k``                     | ``top_p``, ``top_k`` (``top_k`` is a vendor extension)     |
| ``seed``                                 | ``seed`` (Mistral: ``random_seed``)                        |
| ``presence_penalty``/``frequency_penalty``| as named                                                  |
| ``response_format`` text / json_object   | ``response_format: {"type": …}``                           |
| ``response_format`` json_schema          | ``{"type": "json_schema", "json_schema": {name (default    |
|                                          | ``response``), description, schema, strict}}``             |
| ``user``, ``metadata``                   | as named                                                   |
| ``parallel_tool_calls``                  | as named, with tools only (without tools it means nothing, |
|                                          | and OpenAI refuses it)                                     |
| a control the vendor lacks (compat)      | :class:`UnsupportedControlError` before anything is sent   |
| ``OpenAICompletionsOptions.extra_body``  | merged last: its members replace anything built above      |
| always                                   | ``stream: true``; ``stream_options.include_usage`` (compat)|
"""

from __future__ import annotations

from typing import Any

import orjson

from pluma.llm.controls import UnsupportedControlError, controls_set
from pluma.llm.errors import ConfigurationError
from pluma.llm.options import StreamOptions
from pluma.llm.protocols.openai_completions.compat import Compat, effort_for, wire_tool_call_id
from pluma.llm.protocols.openai_completions.options import OpenAICompletionsOptions
from pluma.llm.types import (
    AssistantMessage,
    Context,
    ImageContent,
    Model,
    TextContent,
    ThinkingContent,
    ToolCall,
    ToolResultMessage,
    UserContent,
    UserMessage,
)

IMAGE_OMITTED = "(an image was left out: this model does not accept images)"
# Mistral refuses a user turn straight after tool results; this bridges them.
TOOL_RESULTS_BRIDGE = "I have the tool results."

Wire = dict[str, Any]


def build_request(model: Model, context: Context, options: StreamOptions, compat: Compat) -> Wire:
    """The JSON body for ``POST {base_url}/chat/completions``."""
    body: Wire = {
        "model": model.id,
        "messages": build_messages(model, context, compat),
        "stream": True,
    }
    if compat.supports_usage_in_streaming:
        body["stream_options"] = {"include_usage": True}
    if context.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                },
            }
            for tool in context.tools
        ]
    if options.max_tokens is not None:
        body[compat.max_tokens_field] = options.max_tokens
    if options.temperature is not None:
        body["temperature"] = options.temperature  # check_controls refused it where unsupported
    if options.reasoning is not None and model.reasoning:
        effort = effort_for(options.reasoning, compat)
        if effort is not None:
            if compat.reasoning_param == "openrouter":
                body["reasoning"] = {"effort": effort}
            else:
                body["reasoning_effort"] = effort
    check_controls(options, compat, model.id)
    _add_controls(body, context, options, compat)
    protocol_options = options.protocol_options
    if isinstance(protocol_options, OpenAICompletionsOptions):
        choice = protocol_options.wire_tool_choice()
        if choice is not None and context.tools:
            body["tool_choice"] = choice
        parallel = protocol_options.parallel_tool_calls
        if parallel is not None and context.tools:
            body["parallel_tool_calls"] = parallel
        body.update(protocol_options.extra_body)
    return body


def check_controls(options: StreamOptions, compat: Compat, model_id: str | None = None) -> None:
    """Refuse the controls this vendor (or this model, ``model_id``) lacks,
    and contradicting settings.

    ``temperature`` on a model that rejects it (OpenAI's reasoning models,
    which answer 400 to any value but the default) is refused like
    ``top_p`` is, not left out: a caller never gets a reply made without a
    setting it asked for."""
    unsupported = compat.unsupported_controls
    upstream = f"{compat.vendor} (openai-completions)"
    if model_id:
        upstream = f"model {model_id!r} on {upstream}"
    if options.temperature is not None and not compat.supports_temperature:
        raise UnsupportedControlError(
            "temperature", upstream, "the model takes only its default sampling"
        )
    for name in controls_set(options):
        if name in unsupported:
            raise UnsupportedControlError(name, upstream)
    fmt = options.response_format
    if fmt is not None and f"response_format.{fmt.type}" in unsupported:
        raise UnsupportedControlError(f"response_format {fmt.type}", upstream)
    protocol_options = options.protocol_options
    if (
        isinstance(protocol_options, OpenAICompletionsOptions)
        and protocol_options.parallel_tool_calls is not None
        and options.parallel_tool_calls not in (None, protocol_options.parallel_tool_calls)
    ):
        raise ConfigurationError(
            "parallel_tool_calls is set twice with different values (StreamOptions and "
            "OpenAICompletionsOptions); set it in one place"
        )


def _add_controls(body: Wire, context: Context, options: StreamOptions, compat: Compat) -> None:
    """The sampling and output controls (:func:`check_controls` refused the rest)."""
    if options.stop is not None:
        body["stop"] = list(options.stop)
    if options.top_p is not None:
        body["top_p"] = options.top_p
    if options.top_k is not None:
        body["top_k"] = options.top_k
    if options.seed is not None:
        body[compat.seed_field] = options.seed
    if options.presence_penalty is not None:
        body["presence_penalty"] = options.presence_penalty
    if options.frequency_penalty is not None:
        body["frequency_penalty"] = options.frequency_penalty
    fmt = options.response_format
    if fmt is not None:
        if fmt.type == "json_schema":
            spec: Wire = {"name": fmt.name or "response", "schema": fmt.schema}
            if fmt.description:
                spec["description"] = fmt.description
            if fmt.strict is not None:
                spec["strict"] = fmt.strict
            body["response_format"] = {"type": "json_schema", "json_schema": spec}
        else:
            body["response_format"] = {"type": fmt.type}
    if options.user is not None:
        body["user"] = options.user
    if options.metadata is not None:
        body["metadata"] = dict(options.metadata)
    if options.parallel_tool_calls is not None and context.tools:
        body["parallel_tool_calls"] = options.parallel_tool_calls


def build_messages(model: Model, context: Context, compat: Compat) -> list[Wire]:
    """The ``messages`` array, in order, following the module's table."""
    out: list[Wire] = []
    if context.system_prompt:
        role = "developer" if compat.supports_developer_role and model.reasoning else "system"
        out.append({"role": role, "content": context.system_prompt})
    accepts_images = "image" in model.input
    pending_images: list[Wire] = []  # images from the current run of tool results

    def flush_tool_images() -> None:
        if pending_images:
            out.append({"role": "user", "content": list(pending_images)})
            pending_images.clear()

    for message in context.messages:
        if isinstance(message, ToolResultMessage):
            out.append(_tool_result(message, compat, accepts_images, pending_images))
            continue
        flush_tool_images()
        if isinstance(message, UserMessage):
            if compat.requires_assistant_after_tool_result and out and out[-1]["role"] == "tool":
                out.append({"role": "assistant", "content": TOOL_RESULTS_BRIDGE})
            out.append({"role": "user", "content": _user_content(message.content, accepts_images)})
        elif isinstance(message, AssistantMessage):
            wire = _assistant(message, compat)
            if wire is not None:
                out.append(wire)
    flush_tool_images()
    return out


def _image_part(image: ImageContent) -> Wire:
    return {
        "type": "image_url",
        "image_url": {"url": f"data:{image.mime_type};base64,{image.data}"},
    }


def _user_content(content: str | list[UserContent], accepts_images: bool) -> str | list[Wire]:
    if isinstance(content, str):
        return content
    if len(content) == 1 and isinstance(content[0], TextContent):
        return content[0].text
    parts: list[Wire] = []
    for block in content:
        if isinstance(block, TextContent):
            parts.append({"type": "text", "text": block.text})
        elif accepts_images:
            parts.append(_image_part(block))
        else:
            parts.append({"type": "text", "text": IMAGE_OMITTED})
    return parts


def _assistant(message: AssistantMessage, compat: Compat) -> Wire | None:
    text: list[str] = []
    thinking: list[str] = []
    calls: list[Wire] = []
    failed = message.stop_reason in ("error", "aborted")
    for block in message.content:
        if isinstance(block, TextContent):
            text.append(block.text)
        elif isinstance(block, ThinkingContent):
            if not block.redacted:
                thinking.append(block.thinking)
        elif isinstance(block, ToolCall) and not failed:
            calls.append(
                {
                    "id": wire_tool_call_id(block.id, compat),
                    "type": "function",
                    "function": {
                        "name": block.name,
                        "arguments": orjson.dumps(block.arguments).decode(),
                    },
                }
            )
    joined = "".join(text)
    if not joined and not calls:
        return None  # nothing the upstream could use (e.g. aborted before any text)
    wire: Wire = {"role": "assistant", "content": joined if joined else None}
    if calls:
        wire["tool_calls"] = calls
    if compat.reasoning_field and thinking:
        wire[compat.reasoning_field] = "".join(thinking)
    return wire


def _tool_result(
    message: ToolResultMessage, compat: Compat, accepts_images: bool, pending_images: list[Wire]
) -> Wire:
    texts = [b.text for b in message.content if isinstance(b, TextContent)]
    images = [b for b in message.content if isinstance(b, ImageContent)]
    text = "\n".join(texts)
    if images:
        if accepts_images:
            if not pending_images:
                pending_images.append(
                    {"type": "text", "text": "Images returned by the tool calls above:"}
                )
            pending_images.append(
                {"type": "text", "text": f"From {message.tool_name} ({message.tool_call_id}):"}
            )
            pending_images.extend(_image_part(image) for image in images)
            note = "(the images follow in the next user message)"
        else:
            note = IMAGE_OMITTED
        text = f"{text}\n{note}" if text else note
    wire: Wire = {
        "role": "tool",
        "tool_call_id": wire_tool_call_id(message.tool_call_id, compat),
        "content": text or "(no output)",
    }
    if compat.requires_tool_result_name:
        wire["name"] = message.tool_name
    return wire
