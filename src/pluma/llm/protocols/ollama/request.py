"""Context + StreamOptions → Ollama ``/api/chat`` request body.

| neutral                                  | wire                                                     |
|------------------------------------------|----------------------------------------------------------|
| ``system_prompt``                        | first message, role ``system``                           |
| ``UserMessage`` text / images            | ``{role: "user", content, images: [base64, …]}``         |
| image, model without image input         | a line in ``content`` saying the image was left out      |
| ``AssistantMessage``                     | ``{role: "assistant", content, thinking, tool_calls:     |
|                                          | [{function: {name, arguments}}]}`` (arguments as an      |
|                                          | object; thinking from any origin, as plain text)         |
| errored / aborted assistant message      | its text only (its tool calls never got results)         |
| ``ToolResultMessage``                    | ``{role: "tool", content, tool_name, tool_call_id}``     |
|                                          | (+ ``images``)                                           |
| ``Tool``                                 | ``{type: "function", function: {name, description,      |
|                                          | parameters}}``                                           |
| ``temperature``, ``top_p``, ``top_k``,   | ``options.temperature``, ``top_p``, ``top_k``, ``seed``, |
| ``seed``, ``stop``, penalties            | ``stop``, ``presence_penalty``, ``frequency_penalty``    |
| ``max_tokens``                           | ``options.num_predict``                                  |
| ``response_format`` ``json_object``      | ``format: "json"``                                       |
| ``response_format`` ``json_schema``      | ``format: <schema>``                                     |
| ``reasoning`` (reasoning models)         | ``think``: ``off`` → false; gpt-oss → ``"low"`` /        |
|                                          | ``"medium"`` / ``"high"``; other models → true           |
| ``user``, ``metadata``,                  | refused: Ollama has no equivalent                        |
| ``parallel_tool_calls``                  |                                                          |
| always                                   | ``stream: true``                                         |
"""

from __future__ import annotations

from typing import Any

from pluma.llm.errors import ConfigurationError
from pluma.llm.options import StreamOptions
from pluma.llm.protocols.controls import refuse_unsupported
from pluma.llm.protocols.ollama.options import PROTOCOL, OllamaOptions, Think
from pluma.llm.types import (
    AssistantMessage,
    Context,
    ImageContent,
    Model,
    ReasoningLevel,
    TextContent,
    ThinkingContent,
    ToolCall,
    ToolResultMessage,
    UserContent,
    UserMessage,
)

IMAGE_OMITTED = "(an image was left out: this model does not accept images)"

Wire = dict[str, Any]
_DEFAULTS = OllamaOptions()

# StreamOptions field → key in Ollama's ``options``.
NEUTRAL_OPTIONS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "seed": "seed",
    "stop": "stop",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "max_tokens": "num_predict",
}


def protocol_options(options: StreamOptions) -> OllamaOptions:
    """The Ollama options of a call (defaults when none were given)."""
    found = options.protocol_options
    return found if isinstance(found, OllamaOptions) else _DEFAULTS


def think_value(model: Model, level: ReasoningLevel) -> Think:
    """``think`` for a neutral level: gpt-oss takes a level, others a switch."""
    if level == "off":
        return False
    if "gpt-oss" in model.id:
        if level in ("minimal", "low"):
            return "low"
        return "medium" if level == "medium" else "high"
    return True


def check_request(model: Model, context: Context, options: StreamOptions) -> None:
    """Raise :class:`~pluma.llm.errors.ConfigurationError` for a neutral control
    the API has no equivalent for, or one set twice (as a control and in
    ``OllamaOptions.options``), without building the body."""
    refuse_unsupported(options, ("user", "metadata", "parallel_tool_calls"), PROTOCOL)
    extra = protocol_options(options)
    for name, wire in NEUTRAL_OPTIONS.items():
        if getattr(options, name) is not None and wire in extra.options:
            raise ConfigurationError(
                f"StreamOptions.{name} and OllamaOptions.options[{wire!r}] both set the "
                "same parameter; keep one"
            )


def build_request(model: Model, context: Context, options: StreamOptions) -> Wire:
    """The JSON body for ``POST {base}/api/chat``; raises as
    :func:`check_request` does."""
    check_request(model, context, options)
    extra = protocol_options(options)
    body: Wire = {"model": model.id, "messages": build_messages(model, context), "stream": True}
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
    parameters: Wire = {}
    for name, wire in NEUTRAL_OPTIONS.items():
        value = getattr(options, name)
        if value is None:
            continue
        parameters[wire] = list(value) if name == "stop" else value
    parameters.update(extra.options)
    if parameters:
        body["options"] = parameters
    response_format = options.response_format
    if response_format is not None and response_format.type != "text":
        body["format"] = (
            "json"
            if response_format.type == "json_object"
            else response_format.schema or {"type": "object"}
        )
    if extra.think is not None:
        body["think"] = extra.think
    elif model.reasoning and options.reasoning is not None:
        body["think"] = think_value(model, options.reasoning)
    if extra.keep_alive is not None:
        body["keep_alive"] = extra.keep_alive
    body.update(extra.extra_body)
    return body


def build_messages(model: Model, context: Context) -> list[Wire]:
    """The ``messages`` array, in order, following the module's table."""
    out: list[Wire] = []
    images = "image" in model.input
    if context.system_prompt:
        out.append({"role": "system", "content": context.system_prompt})
    for message in context.messages:
        if isinstance(message, UserMessage):
            out.append({"role": "user", **_content(message.content, images)})
        elif isinstance(message, AssistantMessage):
            wire = _assistant(message)
            if wire is not None:
                out.append(wire)
        elif isinstance(message, ToolResultMessage):
            out.append(
                {
                    "role": "tool",
                    **_content(message.content, images, empty="(no output)"),
                    "tool_name": message.tool_name,
                    "tool_call_id": message.tool_call_id,
                }
            )
    return out


def _content(content: str | list[UserContent], images: bool, empty: str = "") -> Wire:
    if isinstance(content, str):
        return {"content": content or empty}
    texts: list[str] = []
    pictures: list[str] = []
    for block in content:
        if isinstance(block, TextContent):
            texts.append(block.text)
        elif isinstance(block, ImageContent):
            if images:
                pictures.append(block.data)
            else:
                texts.append(IMAGE_OMITTED)
    wire: Wire = {"content": "\n".join(texts) or empty}
    if pictures:
        wire["images"] = pictures
    return wire


def _assistant(message: AssistantMessage) -> Wire | None:
    failed = message.stop_reason in ("error", "aborted")
    text = "".join(b.text for b in message.content if isinstance(b, TextContent))
    thinking = "".join(
        b.thinking for b in message.content if isinstance(b, ThinkingContent) and not b.redacted
    )
    calls = [
        {"function": {"name": b.name, "arguments": b.arguments}}
        for b in message.content
        if isinstance(b, ToolCall) and not failed
    ]
    if not text and not calls:
        return None
    wire: Wire = {"role": "assistant", "content": text}
    if thinking and not failed:
        wire["thinking"] = thinking
    if calls:
        wire["tool_calls"] = calls
    return wire
