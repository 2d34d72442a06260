"""Context + StreamOptions → Gemini ``generateContent`` request body.

| neutral                                  | wire                                                        |
|------------------------------------------|-------------------------------------------------------------|
| ``system_prompt``                        | ``systemInstruction: {parts: [{text}]}``                    |
| ``UserMessage`` text / images            | ``{role: "user", parts: [{text}, {inlineData: {mimeType,    |
|                                          | data}}]}``                                                  |
| image, model without image input         | a text part saying the image was left out                   |
| ``AssistantMessage`` (role ``model``)    | one part per block, in order:                               |
| ``TextContent``                          | ``{text}`` (+ ``thoughtSignature`` = ``text_signature``)    |
| ``ThinkingContent``                      | ``{text, thought: true, thoughtSignature}``                 |
| ``ToolCall``                             | ``{functionCall: {name, args, id}, thoughtSignature}``      |
| signatures, thinking                     | sent back only to the same model over this protocol (a      |
|                                          | signature is only valid there); otherwise thinking is       |
|                                          | dropped and signatures left out                             |
| a tool call without a signature to a     | ``thoughtSignature: "skip_thought_signature_validator"``     |
| Gemini 3 model                           | (the documented value for calls made elsewhere)             |
| ids Pluma made up (``pluma_call_…``)     | not sent (the API never saw them)                           |
| errored / aborted assistant message      | its text only (its tool calls never got results)            |
| consecutive ``ToolResultMessage`` s      | ONE ``user`` turn of ``functionResponse`` parts             |
|                                          | ``{name, id, response: {output | error}}``; their images    |
|                                          | follow as ``inlineData`` parts of that turn                 |
| ``Tool``                                 | ``tools: [{functionDeclarations: [{name, description,       |
|                                          | parametersJsonSchema}]}]`` (full JSON Schema)               |
| ``temperature`` / ``top_p`` / ``top_k``  | ``generationConfig.temperature`` / ``topP`` / ``topK``      |
| ``max_tokens`` / ``stop`` / ``seed``     | ``maxOutputTokens`` / ``stopSequences`` (at most 5) /       |
|                                          | ``seed``                                                    |
| ``presence_penalty`` / ``frequency_…``   | ``presencePenalty`` / ``frequencyPenalty``                  |
| ``response_format`` ``json_object``      | ``responseMimeType: "application/json"``                    |
| ``response_format`` ``json_schema``      | the same + ``responseJsonSchema``                           |
| ``reasoning`` (reasoning models)         | ``thinkingConfig``: Gemini 3 → ``thinkingLevel``, others →  |
|                                          | ``thinkingBudget`` (:data:`THINKING_BUDGETS`); ``off`` →    |
|                                          | budget 0 (128 on 2.5 Pro and the lowest level on Gemini 3, |
|                                          | which always think)                                         |
| ``parallel_tool_calls=True``             | nothing (Gemini may always call several functions at once)  |
| ``parallel_tool_calls=False``,           | refused: the Gemini API has no equivalent                   |
| ``user``, ``metadata``                   |                                                             |
"""

from __future__ import annotations

from typing import Any

from pluma.llm.controls import UnsupportedControlError
from pluma.llm.errors import ConfigurationError
from pluma.llm.handoff import same_model
from pluma.llm.options import StreamOptions
from pluma.llm.protocols.controls import refuse_unsupported
from pluma.llm.protocols.google_generative_ai.options import (
    PROTOCOL,
    GoogleGenerativeAIOptions,
)
from pluma.llm.types import (
    AssistantMessage,
    Context,
    ImageContent,
    Message,
    Model,
    ReasoningLevel,
    TextContent,
    ThinkingContent,
    ToolCall,
    ToolResultMessage,
    UserContent,
)

IMAGE_OMITTED = "(an image was left out: this model does not accept images)"
SKIP_SIGNATURE = "skip_thought_signature_validator"
SYNTHETIC_ID_PREFIX = "pluma_call_"
"""Ids Pluma gives function calls that came without one; never sent back."""

MAX_STOP_SEQUENCES = 5
MIN_PRO_BUDGET = 128
"""The smallest thinking budget of Gemini 2.5 Pro, which cannot turn thinking off."""

THINKING_BUDGETS: dict[ReasoningLevel, int] = {
    "off": 0,
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
}

Wire = dict[str, Any]
_DEFAULTS = GoogleGenerativeAIOptions()


def protocol_options(options: StreamOptions) -> GoogleGenerativeAIOptions:
    """The Gemini options of a call (defaults when none were given)."""
    found = options.protocol_options
    return found if isinstance(found, GoogleGenerativeAIOptions) else _DEFAULTS


def is_gemini_3(model: Model) -> bool:
    return "gemini-3" in model.id


def thinking_level(model: Model, level: ReasoningLevel) -> str:
    """Gemini 3's ``thinkingLevel`` for a neutral level: Pro has ``low`` and
    ``high``; Flash also ``minimal`` and ``medium``."""
    flash = "flash" in model.id
    if level in ("off", "minimal"):
        return "minimal" if flash else "low"
    if level == "low":
        return "low"
    if level == "medium":
        return "medium" if flash else "high"
    return "high"


def check_request(model: Model, context: Context, options: StreamOptions) -> None:
    """Raise :class:`~pluma.llm.errors.ConfigurationError` for a neutral control
    the API has no equivalent for, or a limit it enforces, without building
    the body."""
    refuse_unsupported(options, ("user", "metadata"), PROTOCOL)
    if options.parallel_tool_calls is False:
        raise UnsupportedControlError(
            "parallel_tool_calls=False",
            PROTOCOL,
            "Gemini cannot be told to call one function at a time",
        )
    if options.stop is not None and len(options.stop) > MAX_STOP_SEQUENCES:
        raise ConfigurationError(
            f"Gemini accepts at most {MAX_STOP_SEQUENCES} stop sequences, got {len(options.stop)}"
        )


def build_request(model: Model, context: Context, options: StreamOptions) -> Wire:
    """The JSON body for ``POST …/models/{id}:streamGenerateContent?alt=sse``;
    raises as :func:`check_request` does."""
    check_request(model, context, options)
    extra = protocol_options(options)
    body: Wire = {"contents": build_contents(model, context.messages)}
    if context.system_prompt:
        body["systemInstruction"] = {"parts": [{"text": context.system_prompt}]}
    if context.tools:
        body["tools"] = [
            {
                "functionDeclarations": [
                    {
                        "name": tool.name,
                        "description": tool.description,
                        "parametersJsonSchema": tool.parameters,
                    }
                    for tool in context.tools
                ]
            }
        ]
        tool_config = extra.wire_tool_config()
        if tool_config is not None:
            body["toolConfig"] = tool_config
    config = _generation_config(model, options, extra)
    if config:
        body["generationConfig"] = config
    if extra.safety_settings is not None:
        body["safetySettings"] = [dict(s) for s in extra.safety_settings]
    if extra.cached_content is not None:
        body["cachedContent"] = extra.cached_content
    body.update(extra.extra_body)
    return body


def _generation_config(
    model: Model, options: StreamOptions, extra: GoogleGenerativeAIOptions
) -> Wire:
    config: Wire = {}
    for name, wire in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("max_tokens", "maxOutputTokens"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        value = getattr(options, name)
        if value is not None:
            config[wire] = value
    if options.stop is not None:
        config["stopSequences"] = list(options.stop)
    response_format = options.response_format
    if response_format is not None and response_format.type != "text":
        config["responseMimeType"] = "application/json"
        if response_format.type == "json_schema":
            config["responseJsonSchema"] = response_format.schema or {"type": "object"}
    thinking = _thinking_config(model, options, extra)
    if thinking:
        config["thinkingConfig"] = thinking
    return config


def _thinking_config(
    model: Model, options: StreamOptions, extra: GoogleGenerativeAIOptions
) -> Wire:
    thinking: Wire = {}
    if extra.thinking_budget is not None:
        thinking["thinkingBudget"] = extra.thinking_budget
    elif extra.thinking_level is not None:
        thinking["thinkingLevel"] = extra.thinking_level
    elif model.reasoning and options.reasoning is not None:
        if is_gemini_3(model):
            thinking["thinkingLevel"] = thinking_level(model, options.reasoning)
        elif options.reasoning == "off" and "pro" in model.id:
            # Gemini 2.5 Pro cannot stop thinking; 128 is its smallest budget.
            thinking["thinkingBudget"] = MIN_PRO_BUDGET
        else:
            thinking["thinkingBudget"] = THINKING_BUDGETS[options.reasoning]
    include = extra.include_thoughts
    if include is None and model.reasoning and options.reasoning != "off":
        include = True
    if include is not None:
        thinking["includeThoughts"] = include
    return thinking


def build_contents(model: Model, messages: list[Message]) -> list[Wire]:
    """The ``contents`` array, per the module's table."""
    out: list[Wire] = []
    results: list[Wire] | None = None  # the parts of the open run of tool results
    images = "image" in model.input
    for message in messages:
        if isinstance(message, ToolResultMessage):
            if results is None:
                results = []
                out.append({"role": "user", "parts": results})
            _tool_result(message, images, results)
            continue
        if results is not None:
            # functionResponse parts first, then the images the tools returned.
            results.sort(key=lambda part: "functionResponse" not in part)
            results = None
        if isinstance(message, AssistantMessage):
            parts = _model_parts(model, message)
            if parts:
                out.append({"role": "model", "parts": parts})
        else:
            parts = _user_parts(message.content, images)
            if parts:
                out.append({"role": "user", "parts": parts})
    if results is not None:
        results.sort(key=lambda part: "functionResponse" not in part)
    return out


def _inline(image: ImageContent, images: bool) -> Wire:
    if not images:
        return {"text": IMAGE_OMITTED}
    return {"inlineData": {"mimeType": image.mime_type, "data": image.data}}


def _user_parts(content: str | list[UserContent], images: bool) -> list[Wire]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[Wire] = []
    for block in content:
        if isinstance(block, TextContent):
            if block.text:
                parts.append({"text": block.text})
        else:
            parts.append(_inline(block, images))
    return parts


def _model_parts(model: Model, message: AssistantMessage) -> list[Wire]:
    failed = message.stop_reason in ("error", "aborted")
    # A thought signature is only valid for the model that made it (a dated
    # version of the id asked for counts as the same model).
    same = message.protocol == PROTOCOL and same_model(message, model)
    parts: list[Wire] = []
    for block in message.content:
        if isinstance(block, TextContent):
            if not block.text and not (same and block.text_signature):
                continue
            part: Wire = {"text": block.text}
            if same and block.text_signature and not failed:
                part["thoughtSignature"] = block.text_signature
            parts.append(part)
        elif isinstance(block, ThinkingContent):
            if same and not failed and not block.redacted and (block.thinking or block.signature):
                part = {"text": block.thinking, "thought": True}
                if block.signature:
                    part["thoughtSignature"] = block.signature
                parts.append(part)
        elif isinstance(block, ToolCall) and not failed:
            call: Wire = {"name": block.name, "args": block.arguments}
            if not block.id.startswith(SYNTHETIC_ID_PREFIX):
                call["id"] = block.id
            part = {"functionCall": call}
            if same and block.thought_signature:
                part["thoughtSignature"] = block.thought_signature
            elif is_gemini_3(model):
                part["thoughtSignature"] = SKIP_SIGNATURE
            parts.append(part)
    return parts


def _tool_result(message: ToolResultMessage, images: bool, parts: list[Wire]) -> None:
    text = "\n".join(b.text for b in message.content if isinstance(b, TextContent))
    pictures = [b for b in message.content if isinstance(b, ImageContent)]
    if pictures:
        note = "(the images follow)" if images else IMAGE_OMITTED
        text = f"{text}\n{note}" if text else note
    response: Wire = {"error": text} if message.is_error else {"output": text or "(no output)"}
    result: Wire = {"name": message.tool_name, "response": response}
    if not message.tool_call_id.startswith(SYNTHETIC_ID_PREFIX):
        result["id"] = message.tool_call_id
    parts.append({"functionResponse": result})
    if images:
        parts.extend(_inline(picture, True) for picture in pictures)
