"""``OllamaProvider``: compat ``ollama``, Ollama's native ``/api/chat`` through
the ``ollama`` adapter (thinking, tool calls, ``done_reason``, token counts;
``keep_alive`` and model ``options`` for clients that pass them through).

``base_url`` is the server root (``http://127.0.0.1:11434``); a URL ending in
``/v1`` (the OpenAI-compatible form) is accepted and means the same server.
The model list is ``GET {base}/api/tags`` (``{"models": [{"name", "model",
"details": {"family"}}]}``). A local Ollama needs no key.
"""

from __future__ import annotations

from typing import Any

from pluma import llm
from pluma.server.chat.providers.adapted import AdapterProvider
from pluma.server.chat.providers.base import ChatRequest, ModelInfo

OLLAMA_BASE = "http://127.0.0.1:11434"


class OllamaProvider(AdapterProvider):
    compat = "ollama"
    protocol = "ollama"
    chat_path = "/api/chat"

    def model_provider(self) -> str:
        return "ollama"

    @staticmethod
    def api_base(base_url: str) -> str:
        """The server root: a trailing ``/v1`` or ``/api`` (a URL copied from
        the OpenAI-compatible setup or the API docs) is dropped."""
        base = base_url.rstrip("/")
        for suffix in ("/v1", "/api"):
            if base.endswith(suffix):
                return base[: -len(suffix)]
        return base

    def protocol_options(self, request: ChatRequest) -> llm.ProtocolOptions | None:
        from pluma.llm.protocols.ollama.options import OllamaOptions

        extra: dict[str, Any] = self.passthrough(request)
        if not extra:
            return None
        keep_alive = extra.pop("keep_alive", None)
        options = extra.pop("options", None)
        return OllamaOptions(
            keep_alive=keep_alive,
            options=options if isinstance(options, dict) else {},
            extra_body=extra,
        )

    async def list_models(self) -> list[ModelInfo]:
        body: Any = await self.get_json("/api/tags", {})
        entries = body.get("models") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            raise llm.ProviderError(
                f"{self.upstream}/api/tags did not answer a model list (no 'models' array)"
            )
        models = []
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            name = entry.get("model") or entry.get("name")
            if not isinstance(name, str):
                continue
            details = entry.get("details")
            family = details.get("family") if isinstance(details, dict) else None
            models.append(
                ModelInfo(id=name, display=name, family=family if isinstance(family, str) else "")
            )
        return models
