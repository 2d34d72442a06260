"""pluma.llm — one provider-neutral vocabulary over many LLM wire protocols.

    from pluma import llm
    model = llm.get_model("openai", "gpt-4o-mini")
    ctx = llm.Context(system_prompt="Be brief.", messages=[llm.UserMessage("Hello")])
    async for event in llm.stream(model, ctx):
        ...

This package imports nothing from ``pluma.server``; it is usable on its own.
Built-in adapters (``openai-completions``, ``anthropic-messages``,
``openai-responses``, ``google-generative-ai``, ``ollama``) are in the default
registry; third-party packages add theirs through the
``pluma.llm.adapters`` entry-point group or :func:`register`.

Importing the package is cheap: the names that need heavy dependencies
(``Client`` and ``EventStream`` need asyncio, the tool helpers jsonschema and
pydantic, the catalog its data) are loaded when first used, and the default
client — its registry, the built-in adapters, aiohttp and the entry-point
scan — is built on the first call that needs it (``python -X importtime -c
"import pluma.llm"`` shows what is left).
"""

from __future__ import annotations

import importlib
import threading
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pluma.llm.adapter import ProtocolAdapter
from pluma.llm.errors import (
    AbortedError,
    ConfigurationError,
    ContextOverflowError,
    LLMError,
    MissingAPIKeyError,
    ProviderError,
    StreamError,
    UnknownProtocolError,
    UpstreamTimeout,
)
from pluma.llm.events import Event, EventType
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

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from pluma.llm.catalog import get_model, list_models
    from pluma.llm.client import Client
    from pluma.llm.event_stream import EventStream
    from pluma.llm.handoff import transform_messages
    from pluma.llm.toolargs import ParsedArguments, parse_partial_arguments, parse_tool_arguments
    from pluma.llm.tools import (
        ToolSchemaError,
        ToolValidationError,
        tool_from_model,
        validate_tool_call,
    )

    default_client: Client
    """The client behind the module-level functions (built on first use)."""

# Public names loaded on first use, and the module each comes from.
_LAZY = {
    "Client": "pluma.llm.client",
    "EventStream": "pluma.llm.event_stream",
    "get_model": "pluma.llm.catalog",
    "list_models": "pluma.llm.catalog",
    "transform_messages": "pluma.llm.handoff",
    "ParsedArguments": "pluma.llm.toolargs",
    "parse_partial_arguments": "pluma.llm.toolargs",
    "parse_tool_arguments": "pluma.llm.toolargs",
    "ToolSchemaError": "pluma.llm.tools",
    "ToolValidationError": "pluma.llm.tools",
    "tool_from_model": "pluma.llm.tools",
    "validate_tool_call": "pluma.llm.tools",
}


def __getattr__(name: str) -> Any:
    if name == "default_client":
        return _default_client()
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def load_entry_point_adapters(registry: AdapterRegistry, entries: Iterable[EntryPoint]) -> None:
    """Register the adapter each entry point makes (it names a zero-argument
    factory, typically the adapter class; the rule is
    :mod:`pluma.extensions`'s, shared by every entry-point group).

    A broken third-party package must not make the library unusable for
    everyone, so a failing entry point is skipped with a warning that names
    it and says why.
    """
    from pluma.extensions import ADAPTERS, load

    for problem in load(ADAPTERS, lambda _name, factory: registry.register(factory()), entries):
        warnings.warn(f"pluma.llm: skipped adapter {problem}", RuntimeWarning, stacklevel=2)


def builtin_registry(*, entry_points: bool = True) -> AdapterRegistry:
    """A new registry holding the built-in adapters and, unless told not to,
    those of the ``pluma.llm.adapters`` entry-point group."""
    from pluma.llm.protocols import register_native
    from pluma.llm.protocols.anthropic_messages import AnthropicMessagesAdapter
    from pluma.llm.protocols.openai_completions import OpenAICompletionsAdapter

    registry = AdapterRegistry([OpenAICompletionsAdapter(), AnthropicMessagesAdapter()])
    register_native(registry)  # openai-responses, google-generative-ai, ollama
    if entry_points:
        from importlib.metadata import entry_points as installed

        load_entry_point_adapters(registry, installed(group="pluma.llm.adapters"))
    return registry


_default: Client | None = None
_default_lock = threading.Lock()


def _default_client() -> Client:
    """The client behind the module-level functions, built on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                from pluma.llm.client import Client

                _default = Client(builtin_registry())
    return _default


def stream(model: Model, context: Context, options: StreamOptions | None = None) -> EventStream:
    """Stream a reply through the default client; see :meth:`Client.stream`."""
    return _default_client().stream(model, context, options)


async def complete(
    model: Model, context: Context, options: StreamOptions | None = None
) -> AssistantMessage:
    """The final reply; raises :class:`StreamError` (with the partial message) on failure."""
    return await _default_client().complete(model, context, options)


def register(adapter: ProtocolAdapter) -> None:
    """Add (or replace) an adapter in the default client's registry."""
    _default_client().register(adapter)


__all__ = [
    "AbortedError",
    "AdapterRegistry",
    "AssistantContent",
    "AssistantMessage",
    "Client",
    "ConfigurationError",
    "ContentBlock",
    "Context",
    "ContextOverflowError",
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
    "builtin_registry",
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
    "transform_messages",
    "validate_tool_call",
]
