"""OpenAI Chat Completions request body → :class:`ChatRequest`.

| body member                         | neutral                                        |
|-------------------------------------|------------------------------------------------|
| ``messages[].role`` system/developer| ``Context.system_prompt`` (joined by blank lines) |
| ``role: user`` (string or parts)    | ``UserMessage`` (``text``; ``image_url`` data: URLs) |
| ``role: assistant``                 | ``AssistantMessage`` (text, ``reasoning_content``, ``tool_calls``) |
| ``role: tool``                      | ``ToolResultMessage`` (name looked up from the call) |
| ``tools[].function``                | ``Tool``                                       |
| ``tool_choice``                     | ``auto`` / ``none`` / ``required`` / ``{"name"}`` |
| ``max_completion_tokens``/``max_tokens`` | ``max_tokens``                            |
| ``reasoning_effort``                | ``reasoning`` (``none`` → ``off``)             |
| ``stream``, ``stream_options.include_usage`` | :class:`OpenAIChatBody` flags         |
| ``stop`` (string or list), ``top_p``, ``top_k``, ``seed``, the penalties, | the neutral controls |
| ``response_format``, ``user``, ``metadata``, ``parallel_tool_calls`` |                     |

Every other documented member has its fate in
:data:`~pluma.server.chat.codecs.request_fields.CHAT_COMPLETIONS`: refused with a
400 saying why, or (not modelled, and any member the table does not know) kept
in ``ChatRequest.extra`` to be forwarded verbatim to an openai-completions
upstream and refused by any other. Nothing is silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast, get_args

import orjson

from pluma import llm
from pluma.server.chat.codecs.errors import RequestError
from pluma.server.chat.codecs.fields import (
    describe,
    opt_bool,
    opt_number,
    opt_positive_int,
    opt_str,
    parse_data_url,
    require_list,
    require_object,
    require_str,
)
from pluma.server.chat.codecs.request_fields import CHAT_COMPLETIONS, OPENAI, PAGE_ONLY, modelled
from pluma.server.chat.providers.base import ChatRequest, ToolChoice

REASONING_LEVELS: frozenset[str] = frozenset(get_args(llm.ReasoningLevel))
_MODELLED = modelled(CHAT_COMPLETIONS, OPENAI)
_PAGE_MODELLED = _MODELLED | {name for name, _ in PAGE_ONLY}


@dataclass(slots=True)
class OpenAIChatBody:
    request: ChatRequest
    stream: bool = False
    include_usage: bool = False


def decode_chat_completions(
    body: Any, *, require_model: bool = True, page: bool = False, history: bool = True
) -> OpenAIChatBody:
    """Validate and decode a request body; raises :class:`RequestError`.

    ``page`` accepts the page's own members (``/api/chat``) as modelled;
    ``history=False`` leaves ``messages`` out (the page's turn, whose history
    the server reads from its store).
    """
    body = require_object(body, "body")
    model = opt_str(body, "model", "model") or ""
    if require_model and not model:
        raise RequestError("model", "is required (a model id, or <connection>/<model id>)")
    context = llm.Context(messages=[], tools=decode_tools(body.get("tools"), "tools"))
    if history:
        decode_messages(body.get("messages"), context)
    max_tokens = opt_positive_int(body, "max_completion_tokens", "max_completion_tokens")
    if max_tokens is None:
        max_tokens = opt_positive_int(body, "max_tokens", "max_tokens")
    if opt_positive_int(body, "n", "n") not in (None, 1):
        raise RequestError("n", "only one choice per request is supported: leave n out or send 1")
    stream = bool(opt_bool(body, "stream", "stream"))
    include_usage = _stream_options(body.get("stream_options"))
    _refuse_unrelayable(body)
    request = ChatRequest(
        model=model,
        context=context,
        temperature=opt_number(body, "temperature", "temperature", low=0, high=2),
        max_tokens=max_tokens,
        reasoning=decode_reasoning(body.get("reasoning_effort"), "reasoning_effort"),
        tool_choice=decode_tool_choice(body.get("tool_choice"), "tool_choice"),
        stop=decode_stop(body.get("stop"), "stop"),
        top_p=opt_number(body, "top_p", "top_p", low=0, high=1),
        top_k=opt_positive_int(body, "top_k", "top_k"),
        seed=opt_int(body, "seed", "seed"),
        presence_penalty=opt_number(body, "presence_penalty", "presence_penalty", low=-2, high=2),
        frequency_penalty=opt_number(
            body, "frequency_penalty", "frequency_penalty", low=-2, high=2
        ),
        response_format=decode_response_format(body.get("response_format"), "response_format"),
        user=opt_str(body, "user", "user"),
        metadata=decode_metadata(body.get("metadata"), "metadata"),
        parallel_tool_calls=opt_bool(body, "parallel_tool_calls", "parallel_tool_calls"),
        protocol=OPENAI,
        extra=unmodelled(body, _PAGE_MODELLED if page else _MODELLED),
    )
    if request.tool_choice not in (None, "none") and not context.tools:
        raise RequestError("tool_choice", "is set but no tools were given")
    return OpenAIChatBody(request=request, stream=stream, include_usage=include_usage)


def unmodelled(body: dict[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """The members no decoder reads, kept verbatim for pass-through."""
    return {key: value for key, value in body.items() if key not in known}


def _stream_options(value: Any) -> bool:
    """``include_usage``; other members are refused, not ignored."""
    if value is None:
        return False
    options = require_object(value, "stream_options")
    for key in options:
        if key not in ("include_usage", "include_obfuscation"):
            raise RequestError(f"stream_options.{key}", "is not supported (only include_usage is)")
    if opt_bool(options, "include_obfuscation", "stream_options.include_obfuscation"):
        raise RequestError(
            "stream_options.include_obfuscation",
            "Pluma's stream carries no obfuscation padding; send false or leave it out",
        )
    return bool(opt_bool(options, "include_usage", "stream_options.include_usage"))


def _refuse_unrelayable(body: dict[str, Any]) -> None:
    """Members asking for something Pluma's answer could not carry back."""
    if opt_bool(body, "logprobs", "logprobs"):
        raise RequestError(
            "logprobs", "Pluma's replies carry no log probabilities; send false or leave it out"
        )
    if body.get("top_logprobs") is not None:
        raise RequestError("top_logprobs", "Pluma's replies carry no log probabilities")
    if body.get("audio") is not None:
        raise RequestError("audio", "audio output cannot be relayed; ask for text")
    modalities = body.get("modalities")
    if modalities is not None and require_list(modalities, "modalities") != ["text"]:
        raise RequestError("modalities", 'only ["text"] output can be relayed')
    if body.get("functions") is not None:
        raise RequestError("functions", "is deprecated and not supported; send tools")
    if body.get("function_call") is not None:
        raise RequestError("function_call", "is deprecated and not supported; send tool_choice")


def opt_int(body: dict[str, Any], key: str, path: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(path, f"expected an integer, got {describe(value)}")
    return value


def decode_stop(value: Any, path: str) -> list[str] | None:
    """A string or an array of strings (empty strings are refused)."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else require_list(value, path)
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item:
            where = path if isinstance(value, str) else f"{path}[{i}]"
            raise RequestError(where, f"expected a non-empty string, got {describe(item)}")
    return list(items) or None


def decode_metadata(value: Any, path: str) -> dict[str, str] | None:
    if value is None:
        return None
    metadata = require_object(value, path)
    for key, item in metadata.items():
        if not isinstance(item, str):
            raise RequestError(f"{path}.{key}", f"expected a string, got {describe(item)}")
    return dict(metadata)


def decode_response_format(value: Any, path: str) -> llm.ResponseFormat | None:
    """``{"type": "text" | "json_object"}`` or ``{"type": "json_schema", "json_schema": {…}}``."""
    if value is None:
        return None
    fmt = require_object(value, path)
    kind = fmt.get("type")
    if kind in ("text", "json_object"):
        return llm.ResponseFormat(type=kind)
    if kind != "json_schema":
        raise RequestError(
            f"{path}.type", f"expected text, json_object or json_schema, got {kind!r}"
        )
    spec = require_object(fmt.get("json_schema"), f"{path}.json_schema")
    schema = spec.get("schema")
    return llm.ResponseFormat(
        type="json_schema",
        schema=require_object(schema, f"{path}.json_schema.schema")
        if schema is not None
        else {"type": "object"},
        name=opt_str(spec, "name", f"{path}.json_schema.name"),
        description=opt_str(spec, "description", f"{path}.json_schema.description"),
        strict=opt_bool(spec, "strict", f"{path}.json_schema.strict"),
    )


def decode_reasoning(value: Any, path: str) -> llm.ReasoningLevel | None:
    if value is None:
        return None
    if value == "none":
        return "off"
    if not isinstance(value, str) or value not in REASONING_LEVELS:
        levels = ", ".join(sorted(REASONING_LEVELS | {"none"}))
        raise RequestError(path, f"expected one of {levels}, got {value!r}")
    return cast(llm.ReasoningLevel, value)


def decode_tools(value: Any, path: str) -> list[llm.Tool]:
    if value is None:
        return []
    tools: list[llm.Tool] = []
    for i, item in enumerate(require_list(value, path)):
        item_path = f"{path}[{i}]"
        item = require_object(item, item_path)
        kind = item.get("type", "function")
        if kind != "function":
            raise RequestError(
                f"{item_path}.type", f"only 'function' tools are supported, got {kind!r}"
            )
        function = require_object(item.get("function"), f"{item_path}.function")
        name = require_str(function, "name", f"{item_path}.function.name")
        if not name:
            raise RequestError(f"{item_path}.function.name", "must not be empty")
        parameters = function.get("parameters")
        if parameters is None:
            parameters = {"type": "object", "properties": {}}
        parameters = require_object(parameters, f"{item_path}.function.parameters")
        description = opt_str(function, "description", f"{item_path}.function.description")
        tools.append(llm.Tool(name=name, description=description or "", parameters=parameters))
    return tools


def decode_tool_choice(value: Any, path: str) -> ToolChoice | None:
    if value is None:
        return None
    if value in ("auto", "none", "required"):
        return cast(ToolChoice, value)
    if isinstance(value, dict):
        function = value.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            return {"name": function["name"]}
    raise RequestError(
        path,
        'expected "auto", "none", "required" or {"type": "function", "function": {"name": ...}}',
    )


def decode_messages(value: Any, context: llm.Context) -> None:
    """Fill ``context`` with the system prompt and history from ``messages``."""
    if value is None:
        raise RequestError("messages", "is required (a non-empty array of messages)")
    items = require_list(value, "messages")
    if not items:
        raise RequestError("messages", "must not be empty")
    system: list[str] = []
    tool_names: dict[str, str] = {}
    for i, item in enumerate(items):
        path = f"messages[{i}]"
        item = require_object(item, path)
        role = item.get("role")
        if role in ("system", "developer"):
            system.append(_text_only(item.get("content"), f"{path}.content"))
        elif role == "user":
            context.messages.append(
                llm.UserMessage(_user_content(item.get("content"), f"{path}.content"))
            )
        elif role == "assistant":
            message = _assistant(item, path)
            for call in message.tool_calls:
                tool_names[call.id] = call.name
            context.messages.append(message)
        elif role == "tool":
            call_id = require_str(item, "tool_call_id", f"{path}.tool_call_id")
            content = _user_content(item.get("content"), f"{path}.content")
            blocks: list[llm.UserContent] = (
                [llm.TextContent(content)] if isinstance(content, str) else content
            )
            context.messages.append(
                llm.ToolResultMessage(
                    tool_call_id=call_id, tool_name=tool_names.get(call_id, ""), content=blocks
                )
            )
        else:
            raise RequestError(
                f"{path}.role",
                f"expected system, developer, user, assistant or tool, got {role!r}",
            )
    if system:
        context.system_prompt = "\n\n".join(system)


def _parts(value: Any, path: str) -> list[dict[str, Any]]:
    parts = require_list(value, path)
    return [require_object(part, f"{path}[{j}]") for j, part in enumerate(parts)]


def _text_only(value: Any, path: str) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        raise RequestError(path, "is required")
    texts = []
    for j, part in enumerate(_parts(value, path)):
        if part.get("type") != "text":
            raise RequestError(f"{path}[{j}].type", f"expected 'text', got {part.get('type')!r}")
        texts.append(require_str(part, "text", f"{path}[{j}].text"))
    return "".join(texts)


def _user_content(value: Any, path: str) -> str | list[llm.UserContent]:
    if isinstance(value, str):
        return value
    if value is None:
        raise RequestError(path, "is required (a string or an array of content parts)")
    if not isinstance(value, list):
        raise RequestError(
            path, f"expected a string or an array of content parts, got {describe(value)}"
        )
    blocks: list[llm.UserContent] = []
    for j, part in enumerate(_parts(value, path)):
        kind = part.get("type")
        if kind == "text":
            blocks.append(llm.TextContent(require_str(part, "text", f"{path}[{j}].text")))
        elif kind == "image_url":
            image = part.get("image_url")
            url_path = f"{path}[{j}].image_url.url"
            url = (
                image
                if isinstance(image, str)
                else require_str(require_object(image, f"{path}[{j}].image_url"), "url", url_path)
            )
            mime, data = parse_data_url(url, url_path)
            blocks.append(llm.ImageContent(data=data, mime_type=mime))
        else:
            raise RequestError(f"{path}[{j}].type", f"expected 'text' or 'image_url', got {kind!r}")
    return blocks


def _assistant(item: dict[str, Any], path: str) -> llm.AssistantMessage:
    message = llm.AssistantMessage()
    reasoning = item.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        message.content.append(llm.ThinkingContent(reasoning))
    content = item.get("content")
    if content is not None:
        text = _text_only(content, f"{path}.content")
        if text:
            message.content.append(llm.TextContent(text))
    calls = item.get("tool_calls")
    if calls is not None:
        for k, call in enumerate(require_list(calls, f"{path}.tool_calls")):
            call_path = f"{path}.tool_calls[{k}]"
            call = require_object(call, call_path)
            call_id = require_str(call, "id", f"{call_path}.id")
            function = require_object(call.get("function"), f"{call_path}.function")
            name = require_str(function, "name", f"{call_path}.function.name")
            raw = function.get("arguments") or "{}"
            if not isinstance(raw, str):
                raise RequestError(
                    f"{call_path}.function.arguments",
                    f"expected a JSON string, got {describe(raw)}",
                )
            try:
                arguments = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise RequestError(
                    f"{call_path}.function.arguments", f"is not valid JSON ({exc})"
                ) from None
            if not isinstance(arguments, dict):
                raise RequestError(f"{call_path}.function.arguments", "must encode a JSON object")
            message.content.append(llm.ToolCall(call_id, name, arguments))
    if calls:
        message.stop_reason = "toolUse"
    return message
