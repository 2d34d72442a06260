"""The ``anthropic-messages`` protocol: Anthropic's Messages API, natively.

* :class:`AnthropicMessagesAdapter` — the adapter registered by default.
* :class:`EventParser` — Anthropic stream events → Pluma events, no HTTP.
* :class:`AnthropicMessagesOptions` — tool choice, thinking display and
  budget, prompt caching, beta headers.
* :func:`build_body` / :func:`build_headers` / :func:`plan_tokens` — the
  request side, usable on its own (for example to inspect what would be sent).
"""

from __future__ import annotations

from pluma.llm.protocols.anthropic_messages.adapter import AnthropicMessagesAdapter, messages_url
from pluma.llm.protocols.anthropic_messages.options import (
    AnthropicMessagesOptions,
    NamedTool,
    ThinkingDisplay,
    ToolChoice,
)
from pluma.llm.protocols.anthropic_messages.request import (
    API_VERSION,
    THINKING_BUDGETS,
    TokenPlan,
    build_body,
    build_headers,
    convert_messages,
    plan_tokens,
)
from pluma.llm.protocols.anthropic_messages.stream import (
    STOP_REASONS,
    EventParser,
    message_as_events,
)

__all__ = [
    "API_VERSION",
    "STOP_REASONS",
    "THINKING_BUDGETS",
    "AnthropicMessagesAdapter",
    "AnthropicMessagesOptions",
    "EventParser",
    "NamedTool",
    "ThinkingDisplay",
    "TokenPlan",
    "ToolChoice",
    "build_body",
    "build_headers",
    "convert_messages",
    "message_as_events",
    "messages_url",
    "plan_tokens",
]
