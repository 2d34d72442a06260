"""OpenAI Responses request body (``POST /v1/responses``) → :class:`ChatRequest`.

| body member                                | neutral                                          |
|--------------------------------------------|--------------------------------------------------|
| ``instructions``                           | ``Context.system_prompt``                        |
| ``input`` (a string)                       | one ``UserMessage``                              |
| ``input[]`` message, role system/developer | appended to the system prompt                    |
| ``input[]`` message, role user             | ``UserMessage`` (``input_text``; ``input_image`` |
|                                            | data URLs)                                       |
| ``input[]`` message, role assistant        | ``TextContent`` of an ``AssistantMessage``       |
| ``input[]`` ``reasoning``                  | ``ThinkingContent`` (summary text; signature and |
|                                            | its origin unwrapped from ``encrypted_content``) |
| ``input[]`` ``function_call``              | ``ToolCall`` (``call_id``, ``name``, arguments)  |
| ``input[]`` ``function_call_output``       | ``ToolResultMessage``                            |
| ``tools[]`` of type ``function``           | ``Tool``                                         |
| ``tool_choice``                            | ``auto`` / ``none`` / ``required`` / one function|
| ``max_output_tokens``                      | ``max_tokens``                                   |
| ``temperature``, ``top_p``                 | the same                                         |
| ``reasoning.effort``                       | ``reasoning`` (``none`` → ``off``)               |
| ``text.format``                            | ``response_format``                              |
| ``parallel_tool_calls``, ``user``,         | the same                                         |
| ``metadata``                               |                                                  |
| ``stream``, ``include``                    | how Pluma answers (:class:`ResponsesBody`)       |
| ``store``, ``reasoning.summary``,          | forwarded to a Responses upstream; no effect on  |
| ``text.verbosity``                         | others (Pluma keeps no responses)                |
| any other member                           | forwarded verbatim to a Responses upstream; a    |
|                                            | 400 naming it for any other                      |

Consecutive assistant-side items (reasoning, text, function calls) make one
``AssistantMessage``, as they came from one model turn. What Pluma cannot do
is refused with a 400 naming the member: ``previous_response_id`` and
``conversation`` (Pluma keeps no responses: send the whole history in
``input``), ``background``, ``prompt`` (stored prompts), tools other than
functions, ``input_file`` parts and images given by ``file_id``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

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
from pluma.server.chat.codecs.openai_request import decode_reasoning
from pluma.server.chat.codecs.responses_stream import ResponseEcho, unwrap_signature
from pluma.server.chat.providers.base import ChatRequest, ToolChoice

PROTOCOL = "openai-responses"

# Members Pluma models or answers itself; every other member is forwarded
# verbatim to an upstream speaking Responses and refused (a 400 naming it) by
# any other, never dropped.
HANDLED = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "max_output_tokens",
        "temperature",
        "top_p",
        "reasoning",
        "text",
        "parallel_tool_calls",
        "user",
        "metadata",
        "stream",
        "stream_options",
        "include",
        "store",
    }
)

# Members refused outright, and why (each names what to do instead).
REFUSED: dict[str, str] = {
    "previous_response_id": (
        "Pluma keeps no responses; send the whole conversation in input (with store: false "
        "and include: ['reasoning.encrypted_content'] to carry reasoning across turns)"
    ),
    "conversation": "Pluma keeps no conversations for this API; send the whole history in input",
    "background": "background responses are not supported; leave background out or false",
    "prompt": "stored prompt templates are not supported; send instructions and input instead",
}


# The fate of every documented member (docs/sdk-clients.md renders this; a
# test checks it against the openai SDK's own request type). Members not
# named here (vendor extensions, newer API features) are passed through.
PASSED = "passed through verbatim to an `openai-responses` upstream; 400 for any other"
FIELDS: dict[str, str] = {
    "model": "the model, after connection routing",
    "input": "`Context` messages (message, reasoning, function_call, function_call_output items)",
    "instructions": "`Context.system_prompt`",
    "tools": "`Context.tools` (function tools; hosted tools → 400)",
    "tool_choice": "tool choice (`auto`, `none`, `required`, one function)",
    "max_output_tokens": "`max_tokens`",
    "temperature": "`temperature`",
    "top_p": "`top_p`",
    "reasoning": "`effort` → `reasoning`; `summary` forwarded to a Responses upstream only",
    "text": "`format` → `response_format`; `verbosity` forwarded to a Responses upstream only",
    "parallel_tool_calls": "`parallel_tool_calls`",
    "user": "`user`",
    "metadata": "`metadata`",
    "stream": "edge: how Pluma answers",
    "stream_options": "edge: accepted (Pluma does not obfuscate)",
    "include": "edge: `reasoning.encrypted_content` puts signed reasoning in reasoning items",
    "store": "forwarded to a Responses upstream; no effect elsewhere (Pluma keeps no responses)",
    **{name: f"400: {why}" for name, why in REFUSED.items()},
    **{
        name: PASSED
        for name in (
            "access_programs",
            "background_options",
            "context_management",
            "image",
            "max_tool_calls",
            "moderation",
            "prompt_cache_key",
            "prompt_cache_options",
            "prompt_cache_retention",
            "safety_identifier",
            "service_tier",
            "top_logprobs",
            "truncation",
        )
    },
}


def render_markdown() -> str:
    """The Responses field table of ``docs/sdk-clients.md`` (between its markers)."""
    lines = ["| field | fate |", "|---|---|"]
    lines += [f"| `{name}` | {fate} |" for name, fate in FIELDS.items()]
    lines.append(f"| any other member | {PASSED} |")
    return "\n".join(lines) + "\n"


@dataclass(slots=True)
class ResponsesBody:
    request: ChatRequest
    echo: ResponseEcho
    stream: bool = False
    include: tuple[str, ...] = field(default_factory=tuple)


def decode_responses_request(body: Any) -> ResponsesBody:
    """Validate and decode a request body; raises :class:`RequestError`."""
    body = require_object(body, "body")
    for name, why in REFUSED.items():
        value = body.get(name)
        if value is not None and value is not False:
            raise RequestError(name, why)
    model = opt_str(body, "model", "model") or ""
    if not model:
        raise RequestError("model", "is required (a model id, or <connection>/<model id>)")
    tools, tools_echo = _tools(body.get("tools"))
    context = llm.Context(messages=[], tools=tools)
    instructions = opt_str(body, "instructions", "instructions")
    _input(body.get("input"), context, instructions)
    reasoning_body = body.get("reasoning")
    reasoning = None
    if reasoning_body is not None:
        reasoning_body = require_object(reasoning_body, "reasoning")
        reasoning = decode_reasoning(reasoning_body.get("effort"), "reasoning.effort")
    include: list[str] = []
    for i, item in enumerate(require_list(body.get("include") or [], "include")):
        if not isinstance(item, str):
            raise RequestError(f"include[{i}]", f"expected a string, got {describe(item)}")
        include.append(item)
    stream = bool(opt_bool(body, "stream", "stream"))
    tool_choice = _tool_choice(body.get("tool_choice"))
    if tool_choice not in (None, "none") and not tools:
        raise RequestError("tool_choice", "is set but no tools were given")
    text = body.get("text")
    if text is not None:
        text = require_object(text, "text")
    metadata = _metadata(body.get("metadata"))
    parallel = opt_bool(body, "parallel_tool_calls", "parallel_tool_calls")
    extra = {
        name: value
        for name, value in body.items()
        if name not in HANDLED and name not in REFUSED and value is not None
    }
    # Parts of modelled members that only a Responses upstream understands
    # travel whole (the upstream then gets the client's own object); other
    # upstreams can do without them (see ChatRequest.extra_optional).
    optional: dict[str, Any] = {}
    if reasoning_body is not None and set(reasoning_body) - {"effort"}:
        optional["reasoning"] = reasoning_body
    if text is not None and set(text) - {"format"}:
        optional["text"] = text
    store = opt_bool(body, "store", "store")
    if store is not None:
        optional["store"] = store  # Pluma itself keeps no responses
    request = ChatRequest(
        model=model,
        context=context,
        temperature=opt_number(body, "temperature", "temperature", low=0, high=2),
        max_tokens=opt_positive_int(body, "max_output_tokens", "max_output_tokens"),
        reasoning=reasoning,
        tool_choice=tool_choice,
        top_p=opt_number(body, "top_p", "top_p", low=0, high=1),
        response_format=_text_format(text),
        user=opt_str(body, "user", "user"),
        metadata=metadata,
        parallel_tool_calls=parallel,
        protocol=PROTOCOL,
        extra=extra,
        extra_optional=optional,
    )
    echo = ResponseEcho(
        model=model,
        instructions=instructions,
        tools=tools_echo,
        tool_choice=body.get("tool_choice") or "auto",
        parallel_tool_calls=parallel is not False,
        temperature=request.temperature,
        top_p=request.top_p,
        max_output_tokens=request.max_tokens,
        metadata=metadata or {},
        reasoning=reasoning_body,
        text=text if text is not None else {"format": {"type": "text"}},
        user=request.user,
        store=bool(store),
        include=tuple(include),
    )
    return ResponsesBody(request=request, echo=echo, stream=stream, include=tuple(include))


def _text_format(text: dict[str, Any] | None) -> llm.ResponseFormat | None:
    """``text.format`` (flat, unlike Chat Completions' nested ``json_schema``)."""
    if text is None or text.get("format") is None:
        return None
    fmt = require_object(text["format"], "text.format")
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return llm.ResponseFormat(type="json_object")
    if kind == "json_schema":
        schema = require_object(fmt.get("schema"), "text.format.schema")
        return llm.ResponseFormat(
            type="json_schema",
            schema=schema,
            name=opt_str(fmt, "name", "text.format.name"),
            description=opt_str(fmt, "description", "text.format.description"),
            strict=opt_bool(fmt, "strict", "text.format.strict"),
        )
    raise RequestError(
        "text.format.type", f"expected text, json_object or json_schema, got {kind!r}"
    )


def _metadata(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    metadata = require_object(value, "metadata")
    for key, item in metadata.items():
        if not isinstance(item, str):
            raise RequestError(f"metadata.{key}", f"expected a string, got {describe(item)}")
    return cast(dict[str, str], metadata)


def _tools(value: Any) -> tuple[list[llm.Tool], list[dict[str, Any]]]:
    if value is None:
        return [], []
    tools: list[llm.Tool] = []
    echo: list[dict[str, Any]] = []
    for i, item in enumerate(require_list(value, "tools")):
        path = f"tools[{i}]"
        item = require_object(item, path)
        kind = item.get("type")
        if kind != "function":
            raise RequestError(
                f"{path}.type",
                f"only 'function' tools are supported, got {kind!r} (hosted tools such as "
                "web_search run inside OpenAI, not behind Pluma)",
            )
        name = require_str(item, "name", f"{path}.name")
        if not name:
            raise RequestError(f"{path}.name", "must not be empty")
        parameters = item.get("parameters")
        if parameters is None:
            parameters = {"type": "object", "properties": {}}
        parameters = require_object(parameters, f"{path}.parameters")
        description = opt_str(item, "description", f"{path}.description") or ""
        tools.append(llm.Tool(name=name, description=description, parameters=parameters))
        echo.append(
            {
                "type": "function",
                "name": name,
                "description": description,
                "parameters": parameters,
                "strict": item.get("strict", True),
            }
        )
    return tools, echo


def _tool_choice(value: Any) -> ToolChoice | None:
    if value is None:
        return None
    if value in ("auto", "none", "required"):
        return cast(ToolChoice, value)
    if isinstance(value, dict) and value.get("type") == "function":
        name = value.get("name")
        if isinstance(name, str) and name:
            return {"name": name}
    raise RequestError(
        "tool_choice", 'expected "auto", "none", "required" or {"type": "function", "name": ...}'
    )


def _input(value: Any, context: llm.Context, instructions: str | None) -> None:
    """Fill ``context`` with the system prompt and the history from ``input``."""
    system: list[str] = [instructions] if instructions else []
    if value is None:
        raise RequestError("input", "is required (a string or an array of input items)")
    if isinstance(value, str):
        context.messages.append(llm.UserMessage(value))
    else:
        items = require_list(value, "input")
        if not items:
            raise RequestError("input", "must not be empty")
        _items(items, context, system)
    if system:
        context.system_prompt = "\n\n".join(system)


def _items(items: list[Any], context: llm.Context, system: list[str]) -> None:
    assistant: llm.AssistantMessage | None = None
    tool_names: dict[str, str] = {}

    def turn() -> llm.AssistantMessage:
        nonlocal assistant
        if assistant is None:
            assistant = llm.AssistantMessage()
            context.messages.append(assistant)
        return assistant

    for i, raw in enumerate(items):
        path = f"input[{i}]"
        item = require_object(raw, path)
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role in ("system", "developer"):
                system.append(_text(item.get("content"), f"{path}.content", ("input_text",)))
                continue
            if role == "assistant":
                text = _text(item.get("content"), f"{path}.content", ("output_text", "refusal"))
                if text:
                    turn().content.append(llm.TextContent(text))
                continue
            if role != "user":
                raise RequestError(
                    f"{path}.role", f"expected user, assistant, system or developer, got {role!r}"
                )
            assistant = None
            context.messages.append(llm.UserMessage(_user_content(item.get("content"), path)))
        elif kind == "reasoning":
            summary = require_list(item.get("summary") or [], f"{path}.summary")
            text = "\n\n".join(
                require_str(
                    require_object(part, f"{path}.summary[{j}]"),
                    "text",
                    f"{path}.summary[{j}].text",
                )
                for j, part in enumerate(summary)
            )
            encrypted = opt_str(item, "encrypted_content", f"{path}.encrypted_content")
            message = turn()
            signature = None
            if encrypted:
                # The turn came from the upstream that signed its reasoning.
                origin = unwrap_signature(encrypted)
                message.protocol, message.provider, message.model = (
                    origin.protocol,
                    origin.provider,
                    origin.model,
                )
                signature = origin.signature
            if text or signature:
                message.content.append(llm.ThinkingContent(text, signature=signature))
        elif kind == "function_call":
            call_id = require_str(item, "call_id", f"{path}.call_id")
            name = require_str(item, "name", f"{path}.name")
            tool_names[call_id] = name
            message = turn()
            message.content.append(
                llm.ToolCall(call_id, name, _arguments(item.get("arguments"), f"{path}.arguments"))
            )
            message.stop_reason = "toolUse"
        elif kind == "function_call_output":
            assistant = None
            call_id = require_str(item, "call_id", f"{path}.call_id")
            output = item.get("output")
            blocks: list[llm.UserContent] = (
                [llm.TextContent(output)]
                if isinstance(output, str)
                else _parts(output, f"{path}.output")
            )
            context.messages.append(
                llm.ToolResultMessage(
                    tool_call_id=call_id, tool_name=tool_names.get(call_id, ""), content=blocks
                )
            )
        else:
            raise RequestError(
                f"{path}.type",
                f"expected message, reasoning, function_call or function_call_output, got {kind!r}",
            )


def _arguments(raw: Any, path: str) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, str):
        raise RequestError(path, f"expected a JSON string, got {describe(raw)}")
    try:
        arguments = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(path, f"is not valid JSON ({exc})") from None
    if not isinstance(arguments, dict):
        raise RequestError(path, "must encode a JSON object")
    return arguments


def _text(value: Any, path: str, kinds: tuple[str, ...]) -> str:
    if isinstance(value, str):
        return value
    parts = require_list(value, path)
    texts = []
    for j, part in enumerate(parts):
        part = require_object(part, f"{path}[{j}]")
        if part.get("type") not in kinds:
            raise RequestError(
                f"{path}[{j}].type",
                f"expected {' or '.join(repr(k) for k in kinds)}, got {part.get('type')!r}",
            )
        texts.append(
            require_str(part, "text" if part["type"] != "refusal" else "refusal", f"{path}[{j}]")
        )
    return "".join(texts)


def _user_content(value: Any, path: str) -> str | list[llm.UserContent]:
    if isinstance(value, str):
        return value
    return _parts(value, f"{path}.content")


def _parts(value: Any, path: str) -> list[llm.UserContent]:
    if value is None:
        raise RequestError(path, "is required (a string or an array of content parts)")
    blocks: list[llm.UserContent] = []
    for j, raw in enumerate(require_list(value, path)):
        part = require_object(raw, f"{path}[{j}]")
        kind = part.get("type")
        if kind in ("input_text", "output_text"):
            blocks.append(llm.TextContent(require_str(part, "text", f"{path}[{j}].text")))
        elif kind == "input_image":
            url = part.get("image_url")
            if not isinstance(url, str):
                raise RequestError(
                    f"{path}[{j}].image_url",
                    "only images given inline as data: URLs are supported (not file_id or web URLs)",
                )
            mime, data = parse_data_url(url, f"{path}[{j}].image_url")
            blocks.append(llm.ImageContent(data=data, mime_type=mime))
        else:
            raise RequestError(
                f"{path}[{j}].type", f"expected 'input_text' or 'input_image', got {kind!r}"
            )
    return blocks
