"""``GeminiProvider``: compat ``gemini``, Google's Gemini API through the
``google-generative-ai`` adapter (thought parts with their signatures, function
calls, cached and thinking token counts, safety stops as errors).

``base_url`` is the API root with its version
(``https://generativelanguage.googleapis.com/v1beta``); chat goes to
``{base}/models/{id}:streamGenerateContent?alt=sse``; the model list is
``GET {base}/models`` (``{"models": [{"name": "models/…", "displayName",
"supportedGenerationMethods"}], "nextPageToken"}``), of which the models that
can ``generateContent`` are listed. The key travels in ``x-goog-api-key``,
never in a URL.
"""

from __future__ import annotations

from typing import Any

from pluma import llm
from pluma.server.chat.providers.adapted import AdapterProvider
from pluma.server.chat.providers.base import ChatRequest, ModelInfo

GEMINI_BASE = "https://generativelanguage.googleapis.com/v1beta"
MAX_PAGES = 20


class GeminiProvider(AdapterProvider):
    compat = "gemini"
    protocol = "google-generative-ai"
    chat_path = "/models"

    def model_provider(self) -> str:
        return "google"

    @staticmethod
    def api_base(base_url: str) -> str:
        """The root the user typed, with ``/v1beta`` added to the bare host
        (the form Google's own SDK takes)."""
        base = base_url.rstrip("/")
        if base.endswith("googleapis.com"):
            return base + "/v1beta"
        return base

    def protocol_options(self, request: ChatRequest) -> llm.ProtocolOptions | None:
        from pluma.llm.protocols.google_generative_ai.options import GoogleGenerativeAIOptions

        extra = self.passthrough(request)
        if request.tool_choice is None and not extra:
            return None
        return GoogleGenerativeAIOptions(tool_choice=request.tool_choice, extra_body=extra)

    async def list_models(self) -> list[ModelInfo]:
        key = self.api_key()
        headers = {"x-goog-api-key": key} if key else {}
        models: list[ModelInfo] = []
        token = ""
        for _ in range(MAX_PAGES):
            path = "/models?pageSize=1000" + (f"&pageToken={token}" if token else "")
            body: Any = await self.get_json(path, headers)
            entries = body.get("models") if isinstance(body, dict) else None
            if not isinstance(entries, list):
                raise llm.ProviderError(
                    f"{self.upstream}/models did not answer a model list (no 'models' array)"
                )
            for entry in entries:
                if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                    continue
                methods = entry.get("supportedGenerationMethods") or []
                if methods and "generateContent" not in methods:
                    continue  # embedding-only and other non-chat models
                model_id = entry["name"].removeprefix("models/")
                display = entry.get("displayName")
                models.append(
                    ModelInfo(
                        id=model_id,
                        display=display if isinstance(display, str) else model_id,
                        family="gemini",
                    )
                )
            token = body.get("nextPageToken") or ""
            if not token:
                break
        return models
