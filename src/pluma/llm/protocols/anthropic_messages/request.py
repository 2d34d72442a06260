"""Neutral context → Anthropic Messages request body and headers.

History conversion:

| Pluma                                   | Anthropic                                          |
|-----------------------------------------|----------------------------------------------------|
| system_prompt                           | ``system: [{"type": "text", ...}]``                 |
| UserMessage text / ImageContent         | user ``text`` / ``image`` (base64 source) blocks   |
| image to a model without image input    | a short text placeholder saying it was left out    |
| AssistantMessage TextContent            | ``text``                                           |
| ThinkingContent with signature, from an | ``thinking`` with its ``signature``, verbatim      |
| Anthropic-protocol message              | (the API verifies it)                              |
| redacted ThinkingContent, same origin   | ``redacted_thinking`` with ``data`` = signature    |
| thinking without a signature, or from   | plain ``text`` (the model still sees what it       |
| another protocol                        | reasoned; an unsigned thinking block is rejected)  |
| redacted thinking from another protocol | dropped (its payload means nothing here)           |
| ToolCall                                | ``tool_use`` (id made API-safe)                    |
| consecutive ToolResultMessages          | ONE user message of ``tool_result`` blocks         |
| empty text blocks, empty messages       | dropped (the API rejects empty text)               |
| assistant message that ended in error   | dropped: its thinking is unsigned and its tool     |
| or was aborted                          | calls have no results, both of which the API refuses |

Sampling and output controls of :class:`~pluma.llm.StreamOptions`:

| neutral                     | Anthropic                                                      |
|-----------------------------|----------------------------------------------------------------|
| ``stop``                    | ``stop_sequences``; the matched one comes back as              |
|                             | ``AssistantMessage.stop_sequence``                             |
| ``top_p``                   | ``top_p`` (with thinking the API accepts only 0.95 to 1:       |
|                             | anything lower is refused here)                                |
| ``top_k``                   | ``top_k`` (refused with thinking, which the API does not allow)|
| ``user``                    | ``metadata.user_id``                                           |
| ``parallel_tool_calls``     | ``false``: ``tool_choice.disable_parallel_tool_use: true``;    |
|                             | ``true``: the API's default, nothing sent                      |
| ``response_format`` text    | nothing (the default)                                          |
| ``response_format`` json    | emulated, see below                                            |
| ``seed``, ``presence_penalty``, | refused (:class:`UnsupportedControlError`): the Messages   |
| ``frequency_penalty``       | API has no equivalent                                          |
| ``metadata``                | refused: Anthropic's ``metadata`` holds only ``user_id``       |
|                             | (send the end-user id as ``user``)                             |

JSON output (``response_format`` ``json_object`` / ``json_schema``) is emulated
faithfully with a forced tool: a tool named ``response_format.name`` (default
:data:`JSON_TOOL`) whose ``input_schema`` is the schema (``{"type": "object"}``
for ``json_object``; ``strict`` and ``description`` carried over) is added last,
and ``tool_choice`` forces it — ``{"type": "tool"}`` when the context has no
tools of its own, ``{"type": "any"}`` when it has (the model then either calls
one of them, as with OpenAI, or answers through the JSON tool). The stream
parser turns that tool's call back into a text block holding the JSON (its
``input_json_delta`` fragments become text deltas) and its ``tool_use`` stop
into ``stop``, so the caller sees exactly what an upstream with native JSON
output would have sent. Refused, because no faithful emulation exists: a
schema whose root is not an object (a tool input must be one), thinking
enabled (the API refuses forced tool use with thinking), and a ``tool_choice``
of ``any`` or a named tool (it would contradict the forced one).

``AnthropicMessagesOptions.extra_body`` is merged into the body last: its
members replace anything built here.

Prompt caching (on unless ``AnthropicMessagesOptions(prompt_caching=False)``):
``cache_control: {"type": "ephemeral"}`` on the last system block, the last
tool and the last cacheable block of the last message — three of the four
breakpoints the API allows.

Token budget with thinking — ``budget_tokens`` must be at least 1024 and below
``max_tokens``:

1. ``budget`` = ``thinking_budget`` option, else the level's entry in
   :data:`THINKING_BUDGETS`.
2. ``max_tokens`` = ``StreamOptions.max_tokens`` (read as the room for the
   visible answer, at least :data:`MIN_ANSWER_TOKENS`) plus ``budget``, capped
   at the model's limit (``Model.max_tokens``, or the explicit ``max_tokens``
   if that is larger). Without an explicit ``max_tokens`` it is the model's
   limit.
3. If that leaves less than :data:`MIN_ANSWER_TOKENS` for the answer, the
   budget shrinks to make room; if the budget would fall below 1024, thinking
   is not enabled for this call (the limit is too small for it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pluma.llm.controls import UnsupportedControlError
from pluma.llm.errors import ConfigurationError
from pluma.llm.options import StreamOptions
from pluma.llm.protocols.anthropic_messages.options import (
    MIN_THINKING_BUDGET,
    PROTOCOL,
    AnthropicMessagesOptions,
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
    Tool,
    ToolCall,
    ToolResultMessage,
    UserContent,
)

API_VERSION = "2023-06-01"
INTERLEAVED_THINKING_BETA = "interleaved-thinking-2025-05-14"

THINKING_BUDGETS: dict[ReasoningLevel, int] = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 32000,
}
MIN_ANSWER_TOKENS = 1024
"""Room kept for the visible answer when the thinking budget must shrink."""

JSON_TOOL = "json_response"
"""The name of the tool that carries JSON output when ``response_format`` has none."""
_JSON_TOOL_DESCRIPTION = "Reply by calling this tool: its input is your whole answer, as JSON."
_NO_EQUIVALENT = ("seed", "presence_penalty", "frequency_penalty")
_EPHEMERAL = {"type": "ephemeral"}
_UNSAFE_ID = re.compile(r"[^a-zA-Z0-9_-]")
_DEFAULT_OPTIONS = AnthropicMessagesOptions()


@dataclass(frozen=True, slots=True)
class TokenPlan:
    """What to send as ``max_tokens`` and ``thinking.budget_tokens`` (None: no thinking)."""

    max_tokens: int
    thinking_budget: int | None


def protocol_options(options: StreamOptions) -> AnthropicMessagesOptions:
    """The Anthropic options of a call (defaults when none were given)."""
    found = options.protocol_options
    return found if isinstance(found, AnthropicMessagesOptions) else _DEFAULT_OPTIONS


def plan_tokens(
    model: Model, options: StreamOptions, anthropic: AnthropicMessagesOptions
) -> TokenPlan:
    """``max_tokens`` and the thinking budget, per the module's rules."""
    requested = options.max_tokens or model.max_tokens
    level = options.reasoning
    if not model.reasoning or level is None or level == "off":
        return TokenPlan(requested, None)
    budget = anthropic.thinking_budget or THINKING_BUDGETS.get(level, THINKING_BUDGETS["medium"])
    ceiling = max(model.max_tokens, options.max_tokens or 0)
    max_tokens = min(max(requested, MIN_ANSWER_TOKENS) + budget, ceiling)
    if max_tokens - budget < MIN_ANSWER_TOKENS:
        budget = max_tokens - MIN_ANSWER_TOKENS
    if budget < MIN_THINKING_BUDGET:
        return TokenPlan(requested, None)
    return TokenPlan(max_tokens, budget)


def safe_tool_id(tool_id: str) -> str:
    """Tool ids from other protocols made to fit ``^[a-zA-Z0-9_-]{1,64}$``.

    Applied to both ``tool_use`` and ``tool_result`` so the pairs still match.
    """
    safe = _UNSAFE_ID.sub("_", tool_id)[:64]
    return safe or "toolu_missing_id"


def build_headers(
    model: Model,
    options: StreamOptions,
    anthropic: AnthropicMessagesOptions,
    *,
    thinking: bool,
    has_tools: bool,
) -> dict[str, str]:
    """Version, key and beta headers; the model's and the call's headers win."""
    headers = {"anthropic-version": API_VERSION}
    if options.api_key:
        headers["x-api-key"] = options.api_key
    betas = list(anthropic.betas)
    if thinking and has_tools and anthropic.interleaved_thinking:
        betas.insert(0, INTERLEAVED_THINKING_BETA)
    if betas:
        headers["anthropic-beta"] = ",".join(dict.fromkeys(betas))
    # Lower-cased so a model or call header replaces ours (``X-Api-Key`` for
    # a proxy's own key) instead of going out next to it.
    headers.update((name.lower(), value) for name, value in model.headers.items())
    headers.update((name.lower(), value) for name, value in options.headers.items())
    return headers


def build_body(
    model: Model,
    context: Context,
    options: StreamOptions,
    anthropic: AnthropicMessagesOptions,
    plan: TokenPlan,
) -> dict[str, Any]:
    """The JSON body of ``POST /messages`` (always streaming).

    Raises :class:`ConfigurationError` for requests the API is known to refuse
    in a way the caller can fix.
    """
    thinking = plan.thinking_budget is not None
    _check(context, options, anthropic, thinking=thinking)
    json_tool = json_output_tool(options)
    caching = anthropic.prompt_caching
    body: dict[str, Any] = {
        "model": model.id,
        "max_tokens": plan.max_tokens,
        "stream": True,
    }
    if context.system_prompt:
        system: dict[str, Any] = {"type": "text", "text": context.system_prompt}
        if caching:
            system["cache_control"] = dict(_EPHEMERAL)
        body["system"] = [system]
    messages = convert_messages(context.messages, model)
    if caching:
        _mark_last_block(messages)
    body["messages"] = messages
    tools = [convert_tool(tool) for tool in context.tools]
    choice = anthropic.tool_choice_param() if context.tools else None
    choice = _parallel_choice(choice, options, anthropic, has_tools=bool(context.tools))
    if json_tool is not None:
        tools.append(_json_tool(json_tool, options))
        choice = _json_choice(choice, json_tool, has_tools=bool(context.tools))
    if tools:
        if caching:
            tools[-1]["cache_control"] = dict(_EPHEMERAL)
        body["tools"] = tools
        if choice is not None:
            body["tool_choice"] = choice
    if plan.thinking_budget is not None:
        config: dict[str, Any] = {"type": "enabled", "budget_tokens": plan.thinking_budget}
        if anthropic.thinking_display is not None:
            config["display"] = anthropic.thinking_display
        body["thinking"] = config
    if options.temperature is not None:  # with thinking only 1 passes the check below
        body["temperature"] = options.temperature
    _add_controls(body, options)
    body.update(anthropic.extra_body)
    return body


def check_request(model: Model, context: Context, options: StreamOptions) -> None:
    """Every refusal :func:`build_body` would make, without building the body:
    the client calls it before streaming, so a caller mistake raises at once."""
    anthropic = protocol_options(options)
    plan = plan_tokens(model, options, anthropic)
    _check(context, options, anthropic, thinking=plan.thinking_budget is not None)


def _check(
    context: Context,
    options: StreamOptions,
    anthropic: AnthropicMessagesOptions,
    *,
    thinking: bool,
) -> None:
    """Raise :class:`ConfigurationError` for what the API refuses or Pluma cannot map."""
    if thinking and anthropic.forces_tool_use:
        raise ConfigurationError(
            "the Anthropic API does not allow forcing tool use (tool_choice 'any' or a named "
            "tool) while thinking is enabled; set StreamOptions(reasoning='off') or use "
            "tool_choice 'auto'"
        )
    for name in _NO_EQUIVALENT:
        if getattr(options, name) is not None:
            raise UnsupportedControlError(
                name, "anthropic-messages", "the Messages API has no equivalent"
            )
    if options.metadata is not None:
        raise UnsupportedControlError(
            "metadata",
            "anthropic-messages",
            "its metadata holds only user_id; send the end-user id as user",
        )
    if thinking and options.top_p is not None and options.top_p < 0.95:
        raise UnsupportedControlError(
            f"top_p {options.top_p:g}",
            "anthropic-messages with thinking enabled",
            "the API accepts only 0.95 to 1 while thinking",
        )
    if thinking and options.temperature is not None and options.temperature != 1:
        raise UnsupportedControlError(
            f"temperature {options.temperature:g}",
            "anthropic-messages with thinking enabled",
            "the API accepts only temperature 1 while thinking; set reasoning 'off' "
            "to choose another temperature",
        )
    if thinking and options.top_k is not None:
        raise UnsupportedControlError(
            "top_k",
            "anthropic-messages with thinking enabled",
            "the API refuses top_k while thinking",
        )
    if options.parallel_tool_calls and anthropic.disable_parallel_tool_use:
        raise ConfigurationError(
            "parallel_tool_calls=True contradicts AnthropicMessagesOptions("
            "disable_parallel_tool_use=True); set one of them"
        )
    fmt = options.response_format
    tool_name = json_output_tool(options)
    if fmt is None or tool_name is None:
        return
    label = f"response_format {fmt.type}"
    if thinking:
        raise UnsupportedControlError(
            label,
            "anthropic-messages with thinking enabled",
            "JSON output is emulated with a forced tool call, which the API refuses while "
            "thinking; set reasoning='off'",
        )
    if any(tool.name == tool_name for tool in context.tools):
        raise ConfigurationError(
            f"{label} is emulated on anthropic-messages with a tool named {tool_name!r}, but the "
            "context already has a tool of that name; give response_format another name"
        )
    if fmt.type == "json_schema" and fmt.schema is not None and fmt.schema.get("type") != "object":
        raise UnsupportedControlError(
            label,
            "anthropic-messages",
            "JSON output is emulated with a tool whose input must be an object; make the "
            "schema's root an object and put the value in a property",
        )
    choice = anthropic.tool_choice if context.tools else None
    if choice is not None and choice not in ("auto", "none"):
        raise ConfigurationError(
            f"tool_choice {choice!r} contradicts response_format on anthropic-messages, where "
            "JSON output is emulated by forcing a tool; use tool_choice 'auto' or 'none'"
        )


def json_output_tool(options: StreamOptions) -> str | None:
    """The name of the tool emulating JSON output, or None when none is asked for."""
    fmt = options.response_format
    if fmt is None or fmt.type == "text":
        return None
    return fmt.name or JSON_TOOL


def _add_controls(body: dict[str, Any], options: StreamOptions) -> None:
    """The controls the Messages API has (:func:`_check` refused the others)."""
    if options.stop is not None:
        body["stop_sequences"] = list(options.stop)
    if options.top_p is not None:
        body["top_p"] = options.top_p
    if options.top_k is not None:
        body["top_k"] = options.top_k
    if options.user is not None:
        body["metadata"] = {"user_id": options.user}


def _parallel_choice(
    choice: dict[str, object] | None,
    options: StreamOptions,
    anthropic: AnthropicMessagesOptions,
    *,
    has_tools: bool,
) -> dict[str, object] | None:
    """``parallel_tool_calls`` folded into the tool choice."""
    parallel = options.parallel_tool_calls
    if parallel is None or parallel or not has_tools:
        return choice  # parallel calls are the API's default; without tools nothing to say
    out: dict[str, object] = dict(choice) if choice is not None else {"type": "auto"}
    if out["type"] != "none":
        out["disable_parallel_tool_use"] = True
    return out


def _json_tool(name: str, options: StreamOptions) -> dict[str, Any]:
    fmt = options.response_format
    assert fmt is not None
    schema = fmt.schema if fmt.type == "json_schema" and fmt.schema is not None else None
    if schema is None:
        schema = {"type": "object"}
    tool: dict[str, Any] = {
        "name": name,
        "description": fmt.description or _JSON_TOOL_DESCRIPTION,
        "input_schema": schema,
    }
    if fmt.strict is not None:
        tool["strict"] = fmt.strict
    return tool


def _json_choice(
    choice: dict[str, object] | None, name: str, *, has_tools: bool
) -> dict[str, object]:
    """The tool choice that forces an answer through the JSON tool."""
    kind = choice["type"] if choice is not None else "auto"
    out: dict[str, object] = (
        {"type": "any"} if has_tools and kind == "auto" else {"type": "tool", "name": name}
    )
    if choice is not None and choice.get("disable_parallel_tool_use"):
        out["disable_parallel_tool_use"] = True
    return out


def convert_tool(tool: Tool) -> dict[str, Any]:
    return {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}


def convert_messages(messages: list[Message], model: Model) -> list[dict[str, Any]]:
    """The ``messages`` array, per the module's conversion table."""
    out: list[dict[str, Any]] = []
    results: list[dict[str, Any]] | None = None  # the open run of tool results
    images = "image" in model.input
    for message in messages:
        if isinstance(message, ToolResultMessage):
            block = _tool_result(message, images)
            if results is None:
                results = [block]
                out.append({"role": "user", "content": results})
            else:
                results.append(block)
            continue
        results = None
        if isinstance(message, AssistantMessage):
            content = _assistant_blocks(message)
            if content:
                out.append({"role": "assistant", "content": content})
        else:
            user = _user_blocks(message.content, images)
            if user:
                out.append({"role": "user", "content": user})
    return out


def _user_blocks(content: str | list[UserContent], images: bool) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    blocks: list[dict[str, Any]] = []
    for item in content:
        if isinstance(item, ImageContent):
            blocks.append(_image(item, images))
        elif item.text.strip():
            blocks.append({"type": "text", "text": item.text})
    return blocks


def _image(item: ImageContent, supported: bool) -> dict[str, Any]:
    if not supported:
        return {
            "type": "text",
            "text": "(an image was left out: this model does not accept images)",
        }
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": item.mime_type, "data": item.data},
    }


def _assistant_blocks(message: AssistantMessage) -> list[dict[str, Any]]:
    if message.stop_reason in ("error", "aborted"):
        return []
    ours = message.protocol in ("", PROTOCOL)
    blocks: list[dict[str, Any]] = []
    for item in message.content:
        if isinstance(item, TextContent):
            if item.text.strip():
                blocks.append({"type": "text", "text": item.text})
        elif isinstance(item, ThinkingContent):
            if item.redacted:
                if ours and item.signature:
                    blocks.append({"type": "redacted_thinking", "data": item.signature})
            elif ours and item.signature:
                blocks.append(
                    {"type": "thinking", "thinking": item.thinking, "signature": item.signature}
                )
            elif item.thinking.strip():
                blocks.append({"type": "text", "text": item.thinking})
        elif isinstance(item, ToolCall):
            blocks.append(
                {
                    "type": "tool_use",
                    "id": safe_tool_id(item.id),
                    "name": item.name,
                    "input": item.arguments,
                }
            )
    return blocks


def _tool_result(message: ToolResultMessage, images: bool) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": safe_tool_id(message.tool_call_id),
    }
    content = _user_blocks(message.content, images)
    if content:
        block["content"] = content
    if message.is_error:
        block["is_error"] = True
    return block


def _mark_last_block(messages: list[dict[str, Any]]) -> None:
    """``cache_control`` on the last block of the last message that can carry it
    (thinking blocks cannot)."""
    if not messages:
        return
    for block in reversed(messages[-1]["content"]):
        if block["type"] not in ("thinking", "redacted_thinking"):
            block["cache_control"] = dict(_EPHEMERAL)
            return
