"""pluma.llm — one provider-neutral vocabulary over many LLM wire protocols.

    from pluma import llm
    model = llm.get_model("openai", "gpt-4o-mini")
    ctx = llm.Context(system_prompt="Be brief.", messages=[llm.UserMessage("Hello")])
    async for event in llm.stream(model, ctx):
        ...

This package imports nothing from ``pluma.server``; it is usable on its own.
Built-in adapters (``openai-completions``, ``anthropic-messages``) are in the
default registry; third-party packages add theirs through the
``pluma.llm.adapters`` entry-point group or :func:`register`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

from pluma.llm.adapter import ProtocolAdapter
from pluma.llm.client import Client
from pluma.llm.errors import (
    AbortedError,
    ConfigurationError,
    LLMError,
    MissingAPIKeyError,
    ProviderError,
    StreamError,
    UnknownProtocolError,
    UpstreamTimeout,
)
from pluma.llm.events import Event, EventType
from pluma.llm.models import get_model, list_models
from pluma.llm.options import ProtocolOptions, StreamOptions, Timeouts
from pluma.llm.registry import AdapterRegistry
from pluma.llm.serialization import (
    MessageFormatError,
    from_json,
    message_from_dict,
    message_to_dict,
    messages_from_json,
    messages_to_json,
    to_json,
)
from pluma.llm.stream import EventStream
from pluma.llm.toolargs import ParsedArguments, parse_partial_arguments, parse_tool_arguments
from pluma.llm.tools import (
    ToolSchemaError,
    ToolValidationError,
    tool_from_model,
    validate_tool_call,
)
from pluma.llm.types import (
    AssistantContent,
    AssistantMessage,
    ContentBlock,
    Context,
    Cost,
    Diagnostic,
    ImageContent,
    Message,
    Model,
    ModelCost,
    ReasoningLevel,
    ResponseFormat,
    StopReason,
    TextContent,
    ThinkingContent,
    Tool,
    ToolCall,
    ToolResultMessage,
    Usage,
    UserContent,
    UserMessage,
    calculate_cost,
)
from pluma.llm.writer import StreamWriter


def load_entry_point_adapters(registry: AdapterRegistry, entries: Iterable[EntryPoint]) -> None:
    """Register the adapter each entry point makes (it names a zero-argument
    factory, typically the adapter class; the rule is
    :mod:`pluma.extensions`'s, shared by every entry-point group).

    A broken third-party package must not make ``import pluma.llm`` fail for
    everyone, so a failing entry point is skipped with a warning that names
    it and says why.
    """
    from pluma.extensions import ADAPTERS, load

    for problem in load(ADAPTERS, lambda _name, factory: registry.register(factory()), entries):
        warnings.warn(f"pluma.llm: skipped adapter {problem}", RuntimeWarning, stacklevel=2)


def _builtin_registry() -> AdapterRegistry:
    from pluma.llm.protocols.anthropic_messages import AnthropicMessagesAdapter
    from pluma.llm.protocols.openai_completions import OpenAICompletionsAdapter

    registry = AdapterRegistry([OpenAICompletionsAdapter(), AnthropicMessagesAdapter()])
    load_entry_point_adapters(registry, entry_points(group="pluma.llm.adapters"))
    return registry


default_client = Client(_builtin_registry())
"""The client behind the module-level functions."""


def stream(model: Model, context: Context, options: StreamOptions | None = None) -> EventStream:
    """Stream a reply through the default client; see :meth:`Client.stream`."""
    return default_client.stream(model, context, options)


async def complete(
    model: Model, context: Context, options: StreamOptions | None = None
) -> AssistantMessage:
    """The final reply; raises :class:`StreamError` (with the partial message) on failure."""
    return await default_client.complete(model, context, options)


def register(adapter: ProtocolAdapter) -> None:
    """Add (or replace) an adapter in the default client's registry."""
    default_client.register(adapter)


__all__ = [
    "AbortedError",
    "AdapterRegistry",
    "AssistantContent",
    "AssistantMessage",
    "Client",
    "ConfigurationError",
    "ContentBlock",
    "Context",
    "Cost",
    "Diagnostic",
    "Event",
    "EventStream",
    "EventType",
    "ImageContent",
    "LLMError",
    "Message",
    "MessageFormatError",
    "MissingAPIKeyError",
    "Model",
    "ModelCost",
    "ParsedArguments",
    "ProtocolAdapter",
    "ProtocolOptions",
    "ProviderError",
    "ReasoningLevel",
    "ResponseFormat",
    "StopReason",
    "StreamError",
    "StreamOptions",
    "StreamWriter",
    "TextContent",
    "ThinkingContent",
    "Timeouts",
    "Tool",
    "ToolCall",
    "ToolResultMessage",
    "ToolSchemaError",
    "ToolValidationError",
    "UnknownProtocolError",
    "UpstreamTimeout",
    "Usage",
    "UserContent",
    "UserMessage",
    "calculate_cost",
    "complete",
    "default_client",
    "from_json",
    "get_model",
    "list_models",
    "message_from_dict",
    "message_to_dict",
    "messages_from_json",
    "messages_to_json",
    "parse_partial_arguments",
    "parse_tool_arguments",
    "register",
    "stream",
    "to_json",
    "tool_from_model",
    "validate_tool_call",
]
