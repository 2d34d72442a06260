"""``OpenAIProvider``: compat ``openai``, any OpenAI-compatible upstream
(OpenAI, Ollama, LM Studio, llama.cpp, vLLM, OpenRouter, …) through the
``openai-completions`` adapter.

``base_url`` is the API root the upstream documents (``…/v1``); chat goes to
``{base}/chat/completions`` and the model list comes from ``GET {base}/models``
(``{"data": [{"id", "owned_by"}]}``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pluma import llm
from pluma.server.chat.providers.adapted import AdapterProvider
from pluma.server.chat.providers.base import ChatRequest, ModelInfo


class OpenAIProvider(AdapterProvider):
    compat = "openai"
    protocol = "openai-completions"
    chat_path = "/chat/completions"

    def model_provider(self) -> str:
        """``openai`` for OpenAI itself; any other server is ``openai-compatible``,
        so the adapter's quirk table detects it by host or well-known port
        (llama.cpp, Ollama, …) instead of applying OpenAI's own rules (such as
        refusing ``top_k``) to a server that has none of them."""
        host = (urlsplit(self.profile.base_url).hostname or "").lower()
        return "openai" if host == "api.openai.com" else "openai-compatible"

    def model_for(self, request: ChatRequest) -> llm.Model:
        from pluma.llm.protocols.openai_completions.compat import detect_compat

        model = super().model_for(request)
        if model.provider != "openai" and detect_compat(model).reasoning_param == "none":
            # Reasoning effort goes to every OpenAI-compatible upstream, as it
            # always has from the server (most local servers take it); the
            # library's default for an unknown vendor is to send none.
            model.compat = {"reasoning_param": "reasoning_effort", **model.compat}
        return model

    def protocol_options(self, request: ChatRequest) -> llm.ProtocolOptions | None:
        extra = self.passthrough(request)
        if request.tool_choice is None and not extra:
            return None
        from pluma.llm.protocols.openai_completions.options import OpenAICompletionsOptions

        return OpenAICompletionsOptions(tool_choice=request.tool_choice, extra_body=extra)

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
