"""``OpenAIResponsesProvider``: compat ``openai-responses``, OpenAI's Responses
API through the ``openai-responses`` adapter (encrypted reasoning carried
across turns, reasoning summaries, cached and reasoning token counts).

``base_url`` is the API root (``https://api.openai.com/v1``); chat goes to
``{base}/responses`` and the model list comes from ``GET {base}/models``, as
for Chat Completions. A client speaking Responses to ``/v1/responses`` has
its unmodelled members forwarded verbatim.
"""

from __future__ import annotations

from typing import Any

from pluma import llm
from pluma.server.chat.providers.adapted import AdapterProvider
from pluma.server.chat.providers.base import ChatRequest, ModelInfo

# Members of a Responses body the adapter's options model; the rest of a
# Responses client's extras go in extra_body.
_OPTION_MEMBERS = ("store", "service_tier", "prompt_cache_key")


class OpenAIResponsesProvider(AdapterProvider):
    compat = "openai-responses"
    protocol = "openai-responses"
    chat_path = "/responses"

    def model_provider(self) -> str:
        return "openai"

    def protocol_options(self, request: ChatRequest) -> llm.ProtocolOptions | None:
        from pluma.llm.protocols.openai_responses.options import OpenAIResponsesOptions

        extra: dict[str, Any] = self.passthrough(request)
        options: dict[str, Any] = {
            name: extra.pop(name) for name in _OPTION_MEMBERS if name in extra
        }
        reasoning = extra.pop("reasoning", None)
        if isinstance(reasoning, dict) and reasoning.get("summary") is not None:
            options["reasoning_summary"] = reasoning["summary"]
        return OpenAIResponsesOptions(tool_choice=request.tool_choice, extra_body=extra, **options)

    async def list_models(self) -> list[ModelInfo]:
        key = self.api_key()
        headers = {"authorization": f"Bearer {key}"} if key else {}
        return [
            ModelInfo(id=item["id"], display=item["id"], family=str(item.get("owned_by") or ""))
            for item in await self.model_entries(headers)
        ]
