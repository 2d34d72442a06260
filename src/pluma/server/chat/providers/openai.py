"""``OpenAIProvider``: compat ``openai``, any OpenAI-compatible upstream
(OpenAI, Ollama, LM Studio, llama.cpp, vLLM, OpenRouter, …) through the
``openai-completions`` adapter.

``base_url`` is the API root the upstream documents (``…/v1``); chat goes to
``{base}/chat/completions`` and the model list comes from ``GET {base}/models``
(``{"data": [{"id", "owned_by"}]}``).
"""

from __future__ import annotations

from pluma import llm
from pluma.server.chat.providers.adapted import AdapterProvider
from pluma.server.chat.providers.base import ChatRequest, ModelInfo


class OpenAIProvider(AdapterProvider):
    compat = "openai"
    protocol = "openai-completions"

    def protocol_options(self, request: ChatRequest) -> llm.ProtocolOptions | None:
        if request.tool_choice is None:
            return None
        from pluma.llm.protocols.openai_completions.options import OpenAICompletionsOptions

        return OpenAICompletionsOptions(tool_choice=request.tool_choice)

    async def list_models(self) -> list[ModelInfo]:
        key = self.api_key()
        headers = {"authorization": f"Bearer {key}"} if key else {}
        models = []
        for item in await self.model_entries(headers):
            owner = item.get("owned_by")
            models.append(
                ModelInfo(
                    id=item["id"],
                    display=item["id"],
                    family=owner if isinstance(owner, str) else "",
                )
            )
        return models
