"""``AnthropicProvider``: compat ``anthropic``, the native Messages API through
the ``anthropic-messages`` adapter (thinking with signatures, cache usage and
top-level system prompts survive; nothing passes through OpenAI's shape
unless a client asks for it).

``base_url`` is either the root the Anthropic SDK documents
(``https://api.anthropic.com``, as in ``ANTHROPIC_BASE_URL``) or that root
with its version (``https://api.anthropic.com/v1``): both reach
``{root}/v1/messages`` for chat and ``{root}/v1/models`` for the model list
(``{"data": [{"id", "display_name"}]}``), so the health check asks the same
API root chat uses. Requests are authenticated with ``x-api-key`` and
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
    chat_path = "/messages"

    @staticmethod
    def api_base(base_url: str) -> str:
        """``…/v1`` whether the profile has the SDK's root or the versioned root."""
        root = base_url.rstrip("/")
        return root if root.endswith("/v1") else root + "/v1"

    def protocol_options(self, request: ChatRequest) -> llm.ProtocolOptions | None:
        choice = request.tool_choice
        extra = self.passthrough(request)
        if choice is None and not extra:
            return None
        from pluma.llm.protocols.anthropic_messages.options import (
            AnthropicMessagesOptions,
            NamedTool,
            ToolChoice,
        )

        wire: ToolChoice | None
        if isinstance(choice, dict):
            wire = NamedTool(choice["name"])
        else:
            wire = "any" if choice == "required" else choice
        return AnthropicMessagesOptions(tool_choice=wire, extra_body=extra)

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
