"""``AnthropicProvider``: compat ``anthropic``, the native Messages API through
the ``anthropic-messages`` adapter (thinking with signatures, cache usage and
top-level system prompts survive; nothing passes through OpenAI's shape
unless a client asks for it).

``base_url`` is the API root with its version (``https://api.anthropic.com/v1``);
the model list comes from ``GET {base}/models`` (``{"data": [{"id",
"display_name"}]}``), authenticated with ``x-api-key`` and
``anthropic-version``.
"""

from __future__ import annotations

from pluma import llm
from pluma.server.chat.providers.adapted import AdapterProvider
from pluma.server.chat.providers.base import ChatRequest, ModelInfo

API_VERSION = "2023-06-01"


class AnthropicProvider(AdapterProvider):
    compat = "anthropic"
    protocol = "anthropic-messages"

    def protocol_options(self, request: ChatRequest) -> llm.ProtocolOptions | None:
        choice = request.tool_choice
        if choice is None:
            return None
        from pluma.llm.protocols.anthropic_messages.options import (
            AnthropicMessagesOptions,
            NamedTool,
        )

        if isinstance(choice, dict):
            return AnthropicMessagesOptions(tool_choice=NamedTool(choice["name"]))
        return AnthropicMessagesOptions(tool_choice="any" if choice == "required" else choice)

    async def list_models(self) -> list[ModelInfo]:
        key = self.api_key()
        headers = {"anthropic-version": API_VERSION}
        if key:
            headers["x-api-key"] = key
        models = []
        for item in await self.model_entries(headers):
            display = item.get("display_name")
            models.append(
                ModelInfo(
                    id=item["id"],
                    display=display if isinstance(display, str) else item["id"],
                    family="claude",
                )
            )
        return models
