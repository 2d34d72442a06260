"""Anthropic Messages request body → :class:`ChatRequest`.

| body member                                | neutral                                     |
|--------------------------------------------|---------------------------------------------|
| ``system`` (string or text blocks)         | ``Context.system_prompt``                   |
| ``messages[].role: user`` text / image     | ``UserMessage``                             |
| user ``tool_result`` blocks                | one ``ToolResultMessage`` each (in order)   |
| ``role: assistant`` text / thinking / redacted_thinking / tool_use | ``AssistantMessage`` |
| ``tools[]`` ``{name, description, input_schema}`` | ``Tool``                             |
| ``tool_choice`` auto / any / tool / none   | ``auto`` / ``required`` / ``{"name"}`` / ``none`` |
| ``thinking: {type: enabled, budget_tokens}`` | ``reasoning`` level by budget (table below) |
| ``max_tokens`` (required), ``temperature``, ``stream`` | as named                        |
| ``top_p``, ``top_k``, ``stop_sequences``   | ``top_p``, ``top_k``, ``stop``              |
| ``metadata.user_id``                       | ``user`` (other members: 400)               |
| ``tool_choice.disable_parallel_tool_use``  | ``parallel_tool_calls: false``              |
| ``output_config.format`` (json_schema)     | ``response_format``; the other members of   |
|                                            | ``output_config`` stay in ``extra``         |

Every other documented member has its fate in
:data:`~pluma.server.chat.codecs.request_fields.MESSAGES`; members Pluma does not
model (and any the table does not know) are kept in ``ChatRequest.extra``,
forwarded verbatim to an anthropic-messages upstream and refused (400) by any
other. Nothing is silently ignored.

Thinking budget → level: < 2048 ``minimal``, < 8192 ``low``, < 24576
``medium``, else ``high``; ``type: disabled`` → ``off``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pluma import llm
from pluma.server.chat.codecs.errors import RequestError
from pluma.server.chat.codecs.fields import (
    describe,
    opt_bool,
    opt_number,
    opt_positive_int,
    opt_str,
    require_list,
    require_object,
    require_str,
)
from pluma.server.chat.codecs.openai_request import decode_stop, unmodelled
from pluma.server.chat.codecs.request_fields import ANTHROPIC, MESSAGES, modelled
from pluma.server.chat.providers.base import ChatRequest, ToolChoice

_BUDGETS: list[tuple[int, llm.ReasoningLevel]] = [
    (2048, "minimal"),
    (8192, "low"),
    (24576, "medium"),
]


_MODELLED = modelled(MESSAGES, ANTHROPIC)


@dataclass(slots=True)
class AnthropicBody:
    request: ChatRequest
    stream: bool = False


def decode_messages_request(body: Any) -> AnthropicBody:
    """Validate and decode a Messages request body; raises :class:`RequestError`."""
    body = require_object(body, "body")
    model = require_str(body, "model", "model")
    if not model:
        raise RequestError("model", "must not be empty")
    max_tokens = opt_positive_int(body, "max_tokens", "max_tokens")
    if max_tokens is None:
        raise RequestError("max_tokens", "is required (a positive integer)")
    context = llm.Context(
        system_prompt=_system(body.get("system")),
        tools=_tools(body.get("tools")),
    )
    _messages(body.get("messages"), context)
    extra = unmodelled(body, _MODELLED)
    response_format, output_rest = _output_config(body.get("output_config"))
    if output_rest:
        extra["output_config"] = output_rest
    request = ChatRequest(
        model=model,
        context=context,
        temperature=opt_number(body, "temperature", "temperature", low=0, high=1),
        max_tokens=max_tokens,
        reasoning=_thinking(body.get("thinking")),
        tool_choice=_tool_choice(body.get("tool_choice")),
        stop=decode_stop(body.get("stop_sequences"), "stop_sequences"),
        top_p=opt_number(body, "top_p", "top_p", low=0, high=1),
        top_k=opt_positive_int(body, "top_k", "top_k"),
        response_format=response_format,
        user=_user_id(body.get("metadata")),
        parallel_tool_calls=_parallel(body.get("tool_choice")),
        protocol=ANTHROPIC,
        extra=extra,
    )
    return AnthropicBody(request=request, stream=bool(opt_bool(body, "stream", "stream")))


def _user_id(value: Any) -> str | None:
    if value is None:
        return None
    metadata = require_object(value, "metadata")
    for key in metadata:
        if key != "user_id":
            raise RequestError(f"metadata.{key}", "is not a Messages API field (only user_id is)")
    return opt_str(metadata, "user_id", "metadata.user_id")


def _parallel(value: Any) -> bool | None:
    """``tool_choice.disable_parallel_tool_use: true`` → ``parallel_tool_calls: false``."""
    if not isinstance(value, dict):
        return None
    disable = opt_bool(value, "disable_parallel_tool_use", "tool_choice.disable_parallel_tool_use")
    return None if disable is None else not disable


def _output_config(value: Any) -> tuple[llm.ResponseFormat | None, dict[str, Any]]:
    """``format`` as the neutral response format; the other members, unmodelled."""
    if value is None:
        return None, {}
    config = require_object(value, "output_config")
    rest = {key: item for key, item in config.items() if key != "format"}
    fmt = config.get("format")
    if fmt is None:
        return None, rest
    fmt = require_object(fmt, "output_config.format")
    if fmt.get("type") != "json_schema":
        raise RequestError(
            "output_config.format.type", f"expected json_schema, got {fmt.get('type')!r}"
        )
    schema = require_object(fmt.get("schema"), "output_config.format.schema")
    return llm.ResponseFormat(type="json_schema", schema=schema), rest


def _system(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    texts = []
    for i, block in enumerate(require_list(value, "system")):
        block = require_object(block, f"system[{i}]")
        if block.get("type") != "text":
            raise RequestError(f"system[{i}].type", f"expected 'text', got {block.get('type')!r}")
        texts.append(require_str(block, "text", f"system[{i}].text"))
    return "\n\n".join(texts) or None


def _tools(value: Any) -> list[llm.Tool]:
    if value is None:
        return []
    tools = []
    for i, tool in enumerate(require_list(value, "tools")):
        path = f"tools[{i}]"
        tool = require_object(tool, path)
        kind = tool.get("type", "custom")
        if kind not in ("custom", None):
            raise RequestError(
                f"{path}.type",
                f"only custom tools (name, description, input_schema) are supported, got "
                f"{kind!r}: server tools' results cannot be relayed",
            )
        name = require_str(tool, "name", f"{path}.name")
        if not name:
            raise RequestError(f"{path}.name", "must not be empty")
        schema = require_object(tool.get("input_schema"), f"{path}.input_schema")
        description = opt_str(tool, "description", f"{path}.description") or ""
        tools.append(llm.Tool(name=name, description=description, parameters=schema))
    return tools


def _tool_choice(value: Any) -> ToolChoice | None:
    if value is None:
        return None
    choice = require_object(value, "tool_choice")
    kind = choice.get("type")
    if kind == "auto":
        return "auto"
    if kind == "any":
        return "required"
    if kind == "none":
        return "none"
    if kind == "tool":
        return {"name": require_str(choice, "name", "tool_choice.name")}
    raise RequestError("tool_choice.type", f"expected auto, any, tool or none, got {kind!r}")


def _thinking(value: Any) -> llm.ReasoningLevel | None:
    if value is None:
        return None
    thinking = require_object(value, "thinking")
    kind = thinking.get("type")
    if kind == "disabled":
        return "off"
    if kind == "adaptive":
        return "medium"
    if kind != "enabled":
        raise RequestError("thinking.type", f"expected enabled or disabled, got {kind!r}")
    budget = opt_positive_int(thinking, "budget_tokens", "thinking.budget_tokens")
    if budget is None:
        raise RequestError("thinking.budget_tokens", "is required when thinking is enabled")
    for limit, level in _BUDGETS:
        if budget < limit:
            return level
    return "high"


def _messages(value: Any, context: llm.Context) -> None:
    if value is None:
        raise RequestError("messages", "is required (a non-empty array of messages)")
    items = require_list(value, "messages")
    if not items:
        raise RequestError("messages", "must not be empty")
    tool_names: dict[str, str] = {}
    for i, item in enumerate(items):
        path = f"messages[{i}]"
        item = require_object(item, path)
        role = item.get("role")
        content = item.get("content")
        if content is None:
            raise RequestError(f"{path}.content", "is required")
        if role == "user":
            context.messages.extend(_user(content, f"{path}.content", tool_names))
        elif role == "assistant":
            message = _assistant(content, f"{path}.content")
            for call in message.tool_calls:
                tool_names[call.id] = call.name
            context.messages.append(message)
        else:
            raise RequestError(f"{path}.role", f"expected user or assistant, got {role!r}")


def _blocks(value: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise RequestError(
            path, f"expected a string or an array of content blocks, got {describe(value)}"
        )
    return [require_object(block, f"{path}[{j}]") for j, block in enumerate(value)]


def _image(block: dict[str, Any], path: str) -> llm.ImageContent:
    source = require_object(block.get("source"), f"{path}.source")
    if source.get("type") != "base64":
        raise RequestError(
            f"{path}.source.type",
            "only base64 images are supported (type: base64, media_type, data)",
        )
    return llm.ImageContent(
        data=require_str(source, "data", f"{path}.source.data"),
        mime_type=require_str(source, "media_type", f"{path}.source.media_type"),
    )


def _user(value: Any, path: str, tool_names: dict[str, str]) -> list[llm.Message]:
    if isinstance(value, str):
        return [llm.UserMessage(value)]
    out: list[llm.Message] = []
    pending: list[llm.UserContent] = []
    for j, block in enumerate(_blocks(value, path)):
        block_path = f"{path}[{j}]"
        kind = block.get("type")
        if kind == "text":
            pending.append(llm.TextContent(require_str(block, "text", f"{block_path}.text")))
        elif kind == "image":
            pending.append(_image(block, block_path))
        elif kind == "tool_result":
            if pending:
                out.append(llm.UserMessage(pending))
                pending = []
            call_id = require_str(block, "tool_use_id", f"{block_path}.tool_use_id")
            result = block.get("content", "")
            parts: list[llm.UserContent]
            if isinstance(result, str):
                parts = [llm.TextContent(result)]
            else:
                parts = []
                for k, part in enumerate(_blocks(result, f"{block_path}.content")):
                    part_path = f"{block_path}.content[{k}]"
                    if part.get("type") == "text":
                        parts.append(
                            llm.TextContent(require_str(part, "text", f"{part_path}.text"))
                        )
                    elif part.get("type") == "image":
                        parts.append(_image(part, part_path))
                    else:
                        raise RequestError(
                            f"{part_path}.type", f"expected text or image, got {part.get('type')!r}"
                        )
            out.append(
                llm.ToolResultMessage(
                    tool_call_id=call_id,
                    tool_name=tool_names.get(call_id, ""),
                    content=parts,
                    is_error=bool(block.get("is_error", False)),
                )
            )
        else:
            raise RequestError(
                f"{block_path}.type", f"expected text, image or tool_result, got {kind!r}"
            )
    if pending or not out:
        out.append(llm.UserMessage(pending))
    return out


def _assistant(value: Any, path: str) -> llm.AssistantMessage:
    message = llm.AssistantMessage()
    if isinstance(value, str):
        if value:
            message.content.append(llm.TextContent(value))
        return message
    for j, block in enumerate(_blocks(value, path)):
        block_path = f"{path}[{j}]"
        kind = block.get("type")
        if kind == "text":
            message.content.append(
                llm.TextContent(require_str(block, "text", f"{block_path}.text"))
            )
        elif kind == "thinking":
            message.content.append(
                llm.ThinkingContent(
                    require_str(block, "thinking", f"{block_path}.thinking"),
                    signature=opt_str(block, "signature", f"{block_path}.signature"),
                )
            )
        elif kind == "redacted_thinking":
            data = require_str(block, "data", f"{block_path}.data")
            message.content.append(llm.ThinkingContent("", signature=data, redacted=True))
        elif kind == "tool_use":
            arguments = block.get("input", {})
            if not isinstance(arguments, dict):
                raise RequestError(
                    f"{block_path}.input", f"expected an object, got {describe(arguments)}"
                )
            message.content.append(
                llm.ToolCall(
                    require_str(block, "id", f"{block_path}.id"),
                    require_str(block, "name", f"{block_path}.name"),
                    arguments,
                )
            )
        else:
            raise RequestError(
                f"{block_path}.type",
                f"expected text, thinking, redacted_thinking or tool_use, got {kind!r}",
            )
    if message.tool_calls:
        message.stop_reason = "toolUse"
    return message
