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
    if thinking and anthropic.forces_tool_use:
        raise ConfigurationError(
            "the Anthropic API does not allow forcing tool use (tool_choice 'any' or a named "
            "tool) while thinking is enabled; set StreamOptions(reasoning='off') or use "
            "tool_choice 'auto'"
        )
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
    if context.tools:
        tools = [convert_tool(tool) for tool in context.tools]
        if caching:
            tools[-1]["cache_control"] = dict(_EPHEMERAL)
        body["tools"] = tools
        choice = anthropic.tool_choice_param()
        if choice is not None:
            body["tool_choice"] = choice
    if plan.thinking_budget is not None:
        config: dict[str, Any] = {"type": "enabled", "budget_tokens": plan.thinking_budget}
        if anthropic.thinking_display is not None:
            config["display"] = anthropic.thinking_display
        body["thinking"] = config
    elif options.temperature is not None:
        # With thinking the API accepts only its default temperature, so the
        # option is dropped rather than sent to be refused.
        body["temperature"] = options.temperature
    return body


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
