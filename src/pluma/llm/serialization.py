"""Message JSON for persisting and replaying history.

The wire names match the reference implementations of this vocabulary, so
histories can move between them:

| Python                          | JSON                                                  |
|---------------------------------|-------------------------------------------------------|
| ``UserMessage``                 | ``{"role": "user", "content": str or [blocks]}``     |
| ``AssistantMessage``            | ``{"role": "assistant", "content": [...], "stopReason", "usage", "protocol", "api", "provider", "model", "responseId", "errorMessage"}`` |
| ``ToolResultMessage``           | ``{"role": "toolResult", "toolCallId", "toolName", "content", "isError"}`` |
| ``TextContent``                 | ``{"type": "text", "text", "textSignature"?}``        |
| ``ThinkingContent``             | ``{"type": "thinking", "thinking", "thinkingSignature"?, "redacted"?, "durationMs"?}`` |
| ``ImageContent``                | ``{"type": "image", "data", "mimeType"}``             |
| ``ToolCall``                    | ``{"type": "toolCall", "id", "name", "arguments", "thoughtSignature"?}`` |

``api`` repeats ``protocol`` under the name the reference implementations
use; reading accepts either.

Which blocks each role may hold: user and toolResult — text, image;
assistant — text, thinking, toolCall. Anything else is rejected with the
path of the offending block.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast, get_args

import orjson

from pluma.llm.errors import ConfigurationError
from pluma.llm.types import (
    AssistantContent,
    AssistantMessage,
    Cost,
    Diagnostic,
    ImageContent,
    Message,
    StopReason,
    TextContent,
    ThinkingContent,
    ToolCall,
    ToolResultMessage,
    Usage,
    UserContent,
    UserMessage,
)


class MessageFormatError(ConfigurationError):
    """A message JSON document that does not fit the vocabulary."""


_STOP_REASONS = set(get_args(StopReason))


def content_to_dict(block: Any) -> dict[str, Any]:
    if isinstance(block, TextContent):
        out: dict[str, Any] = {"type": "text", "text": block.text}
        if block.text_signature:
            out["textSignature"] = block.text_signature
        return out
    if isinstance(block, ThinkingContent):
        out = {"type": "thinking", "thinking": block.thinking}
        if block.signature:
            out["thinkingSignature"] = block.signature
        if block.redacted:
            out["redacted"] = True
        if block.duration_ms is not None:
            out["durationMs"] = block.duration_ms
        return out
    if isinstance(block, ImageContent):
        return {"type": "image", "data": block.data, "mimeType": block.mime_type}
    if isinstance(block, ToolCall):
        out = {"type": "toolCall", "id": block.id, "name": block.name, "arguments": block.arguments}
        if block.thought_signature:
            out["thoughtSignature"] = block.thought_signature
        return out
    raise MessageFormatError(f"not a content block: {block!r}")


def usage_to_dict(usage: Usage) -> dict[str, Any]:
    return {
        "input": usage.input,
        "output": usage.output,
        "cacheRead": usage.cache_read,
        "cacheWrite": usage.cache_write,
        "totalTokens": usage.total,
        "cost": {
            "input": usage.cost.input,
            "output": usage.cost.output,
            "cacheRead": usage.cost.cache_read,
            "cacheWrite": usage.cost.cache_write,
            "total": usage.cost.total,
        },
    }


def message_to_dict(message: Message) -> dict[str, Any]:
    if isinstance(message, UserMessage):
        content: Any = (
            message.content
            if isinstance(message.content, str)
            else [content_to_dict(b) for b in message.content]
        )
        return {"role": "user", "content": content, "timestamp": message.timestamp}
    if isinstance(message, AssistantMessage):
        out: dict[str, Any] = {
            "role": "assistant",
            "content": [content_to_dict(b) for b in message.content],
            "protocol": message.protocol,
            "api": message.protocol,
            "provider": message.provider,
            "model": message.model,
            "usage": usage_to_dict(message.usage),
            "stopReason": message.stop_reason,
            "timestamp": message.timestamp,
        }
        if message.error_message is not None:
            out["errorMessage"] = message.error_message
        if message.response_id is not None:
            out["responseId"] = message.response_id
        if message.stop_sequence is not None:
            out["stopSequence"] = message.stop_sequence
        if message.diagnostics:
            out["diagnostics"] = [
                {"kind": d.kind, "message": d.message, "contentIndex": d.content_index}
                for d in message.diagnostics
            ]
        return out
    if isinstance(message, ToolResultMessage):
        return {
            "role": "toolResult",
            "toolCallId": message.tool_call_id,
            "toolName": message.tool_name,
            "content": [content_to_dict(b) for b in message.content],
            "isError": message.is_error,
            "timestamp": message.timestamp,
        }
    raise MessageFormatError(f"not a message: {message!r}")


def _opt_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise MessageFormatError(f"{where}.{key}: expected a string")
    return value


def _opt_ms(obj: dict[str, Any], key: str) -> int | None:
    """A duration in milliseconds; anything but a non-negative number is
    dropped (it only ever labels a block, so a bad one is not worth refusing
    the whole history)."""
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        return None
    return int(value)


def _req(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in obj:
        raise MessageFormatError(f"{where}: missing {key!r}")
    value = obj[key]
    if not isinstance(value, kind):
        raise MessageFormatError(f"{where}.{key}: expected {getattr(kind, '__name__', kind)}")
    return value


_ALLOWED = {
    "user": ("text", "image"),
    "toolResult": ("text", "image"),
    "assistant": ("text", "thinking", "toolCall"),
}


def content_from_dict(obj: Any, role: str, where: str) -> Any:
    if not isinstance(obj, dict):
        raise MessageFormatError(f"{where}: a content block must be an object")
    kind = obj.get("type")
    allowed = _ALLOWED[role]
    if kind not in allowed:
        raise MessageFormatError(
            f"{where}: {role} messages may hold {', '.join(allowed)} content, not {kind!r}"
        )
    if kind == "text":
        return TextContent(_req(obj, "text", str, where), _opt_str(obj, "textSignature", where))
    if kind == "thinking":
        return ThinkingContent(
            _req(obj, "thinking", str, where),
            signature=_opt_str(obj, "thinkingSignature", where),
            redacted=bool(obj.get("redacted", False)),
            duration_ms=_opt_ms(obj, "durationMs"),
        )
    if kind == "image":
        return ImageContent(_req(obj, "data", str, where), _req(obj, "mimeType", str, where))
    arguments = obj.get("arguments", {})
    if not isinstance(arguments, dict):
        raise MessageFormatError(f"{where}.arguments: expected an object")
    return ToolCall(
        _req(obj, "id", str, where),
        _req(obj, "name", str, where),
        arguments,
        thought_signature=_opt_str(obj, "thoughtSignature", where),
    )


def _usage_from_dict(obj: Any, where: str) -> Usage:
    if obj is None:
        return Usage()
    if not isinstance(obj, dict):
        raise MessageFormatError(f"{where}: expected an object")
    cost = obj.get("cost") if isinstance(obj.get("cost"), dict) else {}
    assert isinstance(cost, dict)
    try:
        return _usage(obj, cost)
    except (TypeError, ValueError):
        raise MessageFormatError(f"{where}: token counts and costs must be numbers") from None


def _usage(obj: dict[str, Any], cost: dict[str, Any]) -> Usage:
    return Usage(
        input=int(obj.get("input", 0)),
        output=int(obj.get("output", 0)),
        cache_read=int(obj.get("cacheRead", 0)),
        cache_write=int(obj.get("cacheWrite", 0)),
        cost=Cost(
            input=float(cost.get("input", 0.0)),
            output=float(cost.get("output", 0.0)),
            cache_read=float(cost.get("cacheRead", 0.0)),
            cache_write=float(cost.get("cacheWrite", 0.0)),
        ),
    )


def message_from_dict(obj: Any, where: str = "message") -> Message:
    if not isinstance(obj, dict):
        raise MessageFormatError(f"{where}: a message must be an object")
    role = obj.get("role")
    timestamp = obj.get("timestamp")
    extra: dict[str, Any] = {"timestamp": int(timestamp)} if isinstance(timestamp, int) else {}
    if role == "user":
        content = obj.get("content")
        if isinstance(content, str):
            return UserMessage(content, **extra)
        if not isinstance(content, list):
            raise MessageFormatError(f"{where}.content: expected a string or a list of blocks")
        blocks = [
            cast(UserContent, content_from_dict(b, "user", f"{where}.content[{i}]"))
            for i, b in enumerate(content)
        ]
        return UserMessage(blocks, **extra)
    if role == "assistant":
        content = _req(obj, "content", list, where)
        stop = obj.get("stopReason", "stop")
        if stop not in _STOP_REASONS:
            raise MessageFormatError(
                f"{where}.stopReason: {stop!r} is not one of {sorted(_STOP_REASONS)}"
            )
        return AssistantMessage(
            content=[
                cast(AssistantContent, content_from_dict(b, "assistant", f"{where}.content[{i}]"))
                for i, b in enumerate(content)
            ],
            protocol=str(obj.get("protocol", obj.get("api", ""))),
            provider=str(obj.get("provider", "")),
            model=str(obj.get("model", "")),
            usage=_usage_from_dict(obj.get("usage"), f"{where}.usage"),
            stop_reason=stop,
            error_message=_opt_str(obj, "errorMessage", where),
            response_id=_opt_str(obj, "responseId", where),
            stop_sequence=_opt_str(obj, "stopSequence", where),
            diagnostics=[
                Diagnostic(str(d.get("kind", "")), str(d.get("message", "")), d.get("contentIndex"))
                for d in obj.get("diagnostics", [])
                if isinstance(d, dict)
            ],
            **extra,
        )
    if role == "toolResult":
        content = _req(obj, "content", list, where)
        return ToolResultMessage(
            tool_call_id=_req(obj, "toolCallId", str, where),
            tool_name=str(obj.get("toolName", "")),
            content=[
                cast(UserContent, content_from_dict(b, "toolResult", f"{where}.content[{i}]"))
                for i, b in enumerate(content)
            ],
            is_error=bool(obj.get("isError", False)),
            **extra,
        )
    raise MessageFormatError(
        f"{where}.role: expected 'user', 'assistant' or 'toolResult', got {role!r}"
    )


def messages_to_json(messages: Sequence[Message]) -> str:
    """A JSON array of messages."""
    return orjson.dumps([message_to_dict(m) for m in messages]).decode()


def messages_from_json(text: str | bytes) -> list[Message]:
    """Parse a JSON array of messages, or raise :class:`MessageFormatError`
    naming the offending path."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise MessageFormatError(f"not valid JSON: {exc}") from exc
    if not isinstance(data, list):
        raise MessageFormatError("expected a JSON array of messages")
    return [message_from_dict(m, f"messages[{i}]") for i, m in enumerate(data)]


def to_json(message: Message) -> str:
    return orjson.dumps(message_to_dict(message)).decode()


def from_json(text: str | bytes) -> Message:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise MessageFormatError(f"not valid JSON: {exc}") from exc
    return message_from_dict(data)
