"""Client: routes a model to its adapter, after checking what can be checked
before any byte leaves (protocol known, options valid, key present) and
making the history fit the model (:mod:`pluma.llm.handoff`)."""

from __future__ import annotations

import dataclasses
from typing import get_args

from pluma.llm.adapter import ProtocolAdapter
from pluma.llm.controls import check_controls
from pluma.llm.errors import ConfigurationError
from pluma.llm.event_stream import EventStream, raise_for_result
from pluma.llm.handoff import transform_context
from pluma.llm.keys import resolve_api_key
from pluma.llm.options import StreamOptions
from pluma.llm.registry import AdapterRegistry
from pluma.llm.types import AssistantMessage, Context, Model, ReasoningLevel

_REASONING_LEVELS: tuple[str, ...] = get_args(ReasoningLevel)


class Client:
    """Streams models through the adapters of a registry."""

    def __init__(self, registry: AdapterRegistry | None = None) -> None:
        self.registry = registry if registry is not None else AdapterRegistry()

    def stream(
        self, model: Model, context: Context, options: StreamOptions | None = None
    ) -> EventStream:
        """Start streaming; returns at once, the request is sent on first iteration.

        Caller mistakes raise :class:`ConfigurationError` here; everything the
        upstream does arrives as events.
        """
        options = options if options is not None else StreamOptions()
        adapter = self.registry.get(model.protocol)
        protocol_options = options.protocol_options
        if protocol_options is not None:
            if protocol_options.protocol != model.protocol:
                raise ConfigurationError(
                    f"protocol options for {protocol_options.protocol!r} cannot be used with "
                    f"model {model.id!r}, which speaks {model.protocol!r}"
                )
            try:
                protocol_options.validate(context.tools)
            except (ValueError, TypeError) as exc:
                raise ConfigurationError(f"invalid {model.protocol} options: {exc}") from exc
        if options.temperature is not None and not 0 <= options.temperature <= 2:
            raise ConfigurationError(
                f"temperature must be between 0 and 2, got {options.temperature}"
            )
        if options.reasoning is not None and options.reasoning not in _REASONING_LEVELS:
            raise ConfigurationError(
                f"reasoning must be one of {', '.join(_REASONING_LEVELS)}, "
                f"got {options.reasoning!r}"
            )
        if options.max_tokens is not None and options.max_tokens <= 0:
            raise ConfigurationError(f"max_tokens must be positive, got {options.max_tokens}")
        _check_limits(options)
        check_controls(options)
        _check_tools(context)
        base_url = options.base_url or model.base_url
        key = resolve_api_key(model.provider, base_url, options.api_key)
        if key != options.api_key:
            options = dataclasses.replace(options, api_key=key)
        # History from other models is made acceptable to this one (see handoff).
        context = transform_context(context, model)
        source = adapter.stream(model, context, options)
        if not hasattr(source, "__anext__"):
            close = getattr(source, "close", None)
            if callable(close):
                close()  # an un-awaited coroutine: silence its warning
            raise ConfigurationError(
                f"{type(adapter).__name__}.stream() returned {type(source).__name__}, not an "
                "async iterator; write it as an async generator (async def with yield)"
            )
        return EventStream(source, model)

    async def complete(
        self, model: Model, context: Context, options: StreamOptions | None = None
    ) -> AssistantMessage:
        """The final message, or :class:`~pluma.llm.errors.StreamError` carrying
        the partial one when the stream ends in error."""
        stream = self.stream(model, context, options)
        async with stream:
            await stream.result()
        return raise_for_result(stream)

    def register(self, adapter: ProtocolAdapter) -> None:
        self.registry.register(adapter)


def _check_limits(options: StreamOptions) -> None:
    if options.max_retries < 0:
        raise ConfigurationError(f"max_retries must be 0 or more, got {options.max_retries}")
    if options.max_retry_delay < 0:
        raise ConfigurationError(
            f"max_retry_delay must be 0 or more seconds, got {options.max_retry_delay}"
        )
    for name in ("connect", "first_byte", "idle"):
        value = getattr(options.timeouts, name)
        if value is not None and value <= 0:
            raise ConfigurationError(
                f"timeouts.{name} must be a positive number of seconds (or None for no "
                f"limit), got {value}"
            )


def _check_tools(context: Context) -> None:
    seen: set[str] = set()
    for tool in context.tools:
        if not tool.name:
            raise ConfigurationError("every tool needs a name")
        if tool.name in seen:
            raise ConfigurationError(
                f"two tools are named {tool.name!r}; the model could not tell them apart"
            )
        seen.add(tool.name)
        # Arguments always arrive as an object (ToolCall.arguments is a dict),
        # and every built-in protocol refuses other schemas with a 400.
        parameters = tool.parameters
        if not isinstance(parameters, dict):
            raise ConfigurationError(
                f"tool {tool.name!r}: parameters must be a JSON Schema object (a dict), "
                f"got {type(parameters).__name__}"
            )
        kind = parameters.get("type", "object")
        if kind != "object":
            raise ConfigurationError(
                f"tool {tool.name!r}: parameters must describe an object "
                f'("type": "object"), got "type": {kind!r}; put the value in a property'
            )
