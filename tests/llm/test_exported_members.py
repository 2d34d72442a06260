"""The public surface of ``pluma.llm`` and ``pluma.llm.transport``, pinned.

A name added, removed or renamed here is a change to the library's contract:
update the list on purpose, and the docs with it. Every listed name must
resolve, including the ones loaded lazily on first use.
"""

from __future__ import annotations

import subprocess
import sys

import pluma.llm
import pluma.llm.transport

LLM_NAMES = {
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
    "transform_messages",
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
}

TRANSPORT_NAMES = {
    "AiohttpTransport",
    "ConnectError",
    "ConnectTimeout",
    "InvalidURL",
    "MockResponse",
    "MockTransport",
    "NotHTTP",
    "ReadError",
    "Request",
    "Response",
    "Transport",
    "TransportError",
    "UntrustedCertificate",
}


def test_the_public_names_of_pluma_llm_are_exactly_these() -> None:
    assert set(pluma.llm.__all__) == LLM_NAMES
    for name in LLM_NAMES:
        assert getattr(pluma.llm, name) is not None, name


def test_the_public_names_of_the_transport_package_are_exactly_these() -> None:
    assert set(pluma.llm.transport.__all__) == TRANSPORT_NAMES
    for name in TRANSPORT_NAMES:
        assert getattr(pluma.llm.transport, name) is not None, name


def test_an_unknown_name_is_an_attribute_error() -> None:
    for module in (pluma.llm, pluma.llm.transport):
        try:
            module.no_such_name  # type: ignore[attr-defined]  # noqa: B018
        except AttributeError as exc:
            assert "no_such_name" in str(exc)
        else:
            raise AssertionError(f"{module.__name__}.no_such_name resolved")


def test_importing_the_library_loads_no_heavy_dependency_and_builds_no_client() -> None:
    """``import pluma.llm`` stays light: aiohttp, jsonschema, pydantic and the
    entry-point scan wait for the first call that needs them."""
    code = (
        "import sys, pluma.llm\n"
        "heavy = ['aiohttp', 'jsonschema', 'pydantic', 'pydantic_core', 'importlib.metadata',"
        " 'pluma.llm.protocols', 'pluma.server']\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
        "print(pluma.llm._default is None)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["", "True"]
