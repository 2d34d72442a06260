"""Context + StreamOptions → OpenAI Responses request body.

| neutral                                  | wire                                                       |
|------------------------------------------|------------------------------------------------------------|
| ``system_prompt``                        | ``instructions``                                           |
| ``UserMessage`` text                     | ``{"role": "user", "content": "…"}``                       |
| ``UserMessage`` text + images            | ``input_text`` / ``input_image`` parts (base64 data URL)   |
| image, model without image input         | an ``input_text`` part saying the image was left out       |
| ``AssistantMessage`` text                | ``{"role": "assistant", "content": "…"}``                  |
| ``ThinkingContent`` with a signature,    | ``{"type": "reasoning", "summary": [...],                  |
| from an ``openai-responses`` message     | "encrypted_content": signature}`` (replayed, no id, so it  |
|                                          | works with ``store: false``)                               |
| other thinking                           | dropped (the API takes back only its own reasoning)        |
| ``ToolCall``                             | ``{"type": "function_call", "call_id", "name", "arguments"}``|
| errored / aborted assistant message      | its text only (its tool calls never got results)           |
| ``ToolResultMessage``                    | ``{"type": "function_call_output", "call_id", "output"}``; |
|                                          | with images, ``output`` is a list of text/image parts      |
| ``Tool``                                 | ``{"type": "function", "name", "description",              |
|                                          | "parameters", "strict": false}``                           |
| ``max_tokens``                           | ``max_output_tokens`` (at least 16, checked before sending)|
| ``temperature`` / ``top_p``              | ``temperature`` / ``top_p``; refused for OpenAI's reasoning|
|                                          | models (OpenAI answers 400 to anything but the default)    |
| ``reasoning`` (reasoning models)         | ``reasoning: {effort, summary}``; ``off``: no ``reasoning``|
|                                          | member (the model's default applies)                       |
| reasoning models, always                 | ``include: ["reasoning.encrypted_content"]``               |
| ``response_format``                      | ``text.format``: ``json_object``, or ``json_schema`` with  |
|                                          | ``name`` (default ``response``), ``schema``, ``strict``    |
| ``user`` / ``metadata``                  | ``user`` / ``metadata`` (≤ 16 pairs, keys ≤ 64 and values  |
|                                          | ≤ 512 characters, checked before sending)                  |
| ``parallel_tool_calls``                  | ``parallel_tool_calls`` (with tools)                       |
| ``stop``, ``top_k``, ``seed``,           | refused: the Responses API has none of them                |
| ``presence_penalty``, ``frequency_penalty``|                                                          |
| always                                   | ``stream: true``, ``store`` (False unless the options say) |
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson

from pluma.llm.controls import UnsupportedControlError
from pluma.llm.errors import ConfigurationError
from pluma.llm.options import StreamOptions
from pluma.llm.protocols.controls import refuse_unsupported
from pluma.llm.protocols.openai_responses.options import PROTOCOL, OpenAIResponsesOptions
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
UNSUPPORTED = ("stop", "top_k", "seed", "presence_penalty", "frequency_penalty")
REASONING_REFUSES = ("temperature", "top_p")
"""Refused for OpenAI's reasoning models (provider ``openai``/``azure`` or
their hosts), which reject any value but the default."""
ENCRYPTED_REASONING = "reasoning.encrypted_content"

Wire = dict[str, Any]
_DEFAULTS = OpenAIResponsesOptions()


def protocol_options(options: StreamOptions) -> OpenAIResponsesOptions:
    """The Responses options of a call (defaults when none were given)."""
    found = options.protocol_options
    return found if isinstance(found, OpenAIResponsesOptions) else _DEFAULTS


def check_request(model: Model, context: Context, options: StreamOptions) -> None:
    """Raise :class:`~pluma.llm.errors.ConfigurationError` for what the API
    would refuse (a neutral control it has no equivalent for, a limit), without
    building the body."""
    refuse_unsupported(options, UNSUPPORTED, PROTOCOL)
    if model.reasoning and _is_openai(model, options):
        for name in REASONING_REFUSES:
            if getattr(options, name) is not None:
                raise UnsupportedControlError(
                    name,
                    f"model {model.id!r} on OpenAI ({PROTOCOL})",
                    "OpenAI's reasoning models take only their default sampling",
                )
    _check_limits(options)


def _is_openai(model: Model, options: StreamOptions) -> bool:
    """Whether the upstream is OpenAI's own API (or Azure's copy of it), whose
    reasoning models answer 400 to ``temperature`` and ``top_p``; other
    servers of this protocol decide for themselves."""
    if model.provider in ("openai", "azure"):
        return True
    host = (urlsplit(options.base_url or model.base_url).hostname or "").lower()
    return host == "api.openai.com" or host.endswith(".openai.azure.com")


def build_request(model: Model, context: Context, options: StreamOptions) -> Wire:
    """The JSON body for ``POST {base_url}/responses``; raises as
    :func:`check_request` does."""
    check_request(model, context, options)
    extra = protocol_options(options)
    body: Wire = {
        "model": model.id,
        "input": build_input(model, context),
        "stream": True,
        "store": extra.store,
    }
    if context.system_prompt:
        body["instructions"] = context.system_prompt
    if context.tools:
        body["tools"] = [
            {
                "type": "function",
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
                "strict": False,
            }
            for tool in context.tools
        ]
        choice = extra.wire_tool_choice()
        if choice is not None:
            body["tool_choice"] = choice
        if options.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = options.parallel_tool_calls
    if options.max_tokens is not None:
        body["max_output_tokens"] = options.max_tokens
    if options.temperature is not None:
        body["temperature"] = options.temperature
    if options.top_p is not None:
        body["top_p"] = options.top_p
    if model.reasoning and options.reasoning != "off":
        reasoning: Wire = {}
        if options.reasoning is not None:
            reasoning["effort"] = options.reasoning
        if extra.reasoning_summary is not None:
            reasoning["summary"] = extra.reasoning_summary
        if reasoning:
            body["reasoning"] = reasoning
        body["include"] = [ENCRYPTED_REASONING]
    response_format = options.response_format
    if response_format is not None and response_format.type != "text":
        fmt: Wire = {"type": response_format.type}
        if response_format.type == "json_schema":
            fmt["name"] = response_format.name or "response"
            fmt["schema"] = response_format.schema or {"type": "object"}
            if response_format.description:
                fmt["description"] = response_format.description
            if response_format.strict is not None:
                fmt["strict"] = response_format.strict
        body["text"] = {"format": fmt}
    if options.user is not None:
        body["user"] = options.user
    if options.metadata is not None:
        body["metadata"] = dict(options.metadata)
    if extra.service_tier is not None:
        body["service_tier"] = extra.service_tier
    if extra.prompt_cache_key is not None:
        body["prompt_cache_key"] = extra.prompt_cache_key
    body.update(extra.extra_body)
    return body


MIN_OUTPUT_TOKENS = 16
"""The smallest ``max_output_tokens`` the Responses API accepts."""


def _check_limits(options: StreamOptions) -> None:
    """Limits the API enforces with a 400, reported before sending instead."""
    if options.max_tokens is not None and options.max_tokens < MIN_OUTPUT_TOKENS:
        raise ConfigurationError(
            f"max_tokens must be at least {MIN_OUTPUT_TOKENS} for the Responses API "
            f"(max_output_tokens), got {options.max_tokens}"
        )
    metadata = options.metadata
    if metadata is not None:
        if len(metadata) > 16:
            raise ConfigurationError(
                f"metadata may hold at most 16 pairs for the Responses API, got {len(metadata)}"
            )
        for key, value in metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ConfigurationError("metadata keys and values must be strings")
            if len(key) > 64 or len(value) > 512:
                raise ConfigurationError(
                    f"metadata key {key[:64]!r}: keys may be at most 64 characters and "
                    "values at most 512 for the Responses API"
                )


def build_input(model: Model, context: Context) -> list[Wire]:
    """The ``input`` items, in order, following the module's table."""
    out: list[Wire] = []
    images = "image" in model.input
    for message in context.messages:
        if isinstance(message, UserMessage):
            out.append({"role": "user", "content": _user_content(message.content, images)})
        elif isinstance(message, AssistantMessage):
            out.extend(_assistant_items(message))
        elif isinstance(message, ToolResultMessage):
            out.append(_tool_output(message, images))
    return out


def _image_part(image: ImageContent) -> Wire:
    return {
        "type": "input_image",
        "image_url": f"data:{image.mime_type};base64,{image.data}",
        "detail": "auto",
    }


def _parts(content: list[UserContent], images: bool) -> list[Wire]:
    parts: list[Wire] = []
    for block in content:
        if isinstance(block, TextContent):
            parts.append({"type": "input_text", "text": block.text})
        elif images:
            parts.append(_image_part(block))
        else:
            parts.append({"type": "input_text", "text": IMAGE_OMITTED})
    return parts


def _user_content(content: str | list[UserContent], images: bool) -> str | list[Wire]:
    if isinstance(content, str):
        return content
    if len(content) == 1 and isinstance(content[0], TextContent):
        return content[0].text
    return _parts(content, images)


def _assistant_items(message: AssistantMessage) -> list[Wire]:
    failed = message.stop_reason in ("error", "aborted")
    ours = message.protocol == PROTOCOL
    items: list[Wire] = []
    for block in message.content:
        if isinstance(block, TextContent):
            if block.text:
                items.append({"role": "assistant", "content": block.text})
        elif isinstance(block, ThinkingContent):
            if ours and block.signature and not failed:
                summary = (
                    [{"type": "summary_text", "text": block.thinking}] if block.thinking else []
                )
                items.append(
                    {
                        "type": "reasoning",
                        "summary": summary,
                        "encrypted_content": block.signature,
                    }
                )
        elif isinstance(block, ToolCall) and not failed:
            items.append(
                {
                    "type": "function_call",
                    "call_id": block.id,
                    "name": block.name,
                    "arguments": orjson.dumps(block.arguments).decode(),
                }
            )
    return items


def _tool_output(message: ToolResultMessage, images: bool) -> Wire:
    output: str | list[Wire]
    if any(isinstance(block, ImageContent) for block in message.content):
        output = _parts(message.content, images)
    else:
        output = "\n".join(b.text for b in message.content if isinstance(b, TextContent))
    return {
        "type": "function_call_output",
        "call_id": message.tool_call_id,
        "output": output or "(no output)",
    }
