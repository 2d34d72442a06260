"""The ``openai-completions`` protocol: OpenAI Chat Completions and the many
servers that speak it (Ollama, LM Studio, llama.cpp, vLLM, DeepSeek, …).

* :class:`OpenAICompletionsAdapter` — the registered adapter.
* :class:`ChunkParser` — chunks → events, reusable without HTTP.
* :class:`OpenAICompletionsOptions` — tool choice and request extras.
* :func:`detect_compat` / :class:`Compat` — the vendor-quirk table
  (overridable through ``Model.compat``).
* :func:`build_request` — the request body for a context.
"""

from __future__ import annotations

from pluma.llm.protocols.openai_completions.adapter import OpenAICompletionsAdapter
from pluma.llm.protocols.openai_completions.compat import Compat, detect_compat
from pluma.llm.protocols.openai_completions.options import OpenAICompletionsOptions, ToolChoice
from pluma.llm.protocols.openai_completions.request import build_messages, build_request
from pluma.llm.protocols.openai_completions.stream import FINISH_REASONS, ChunkParser

__all__ = [
    "FINISH_REASONS",
    "ChunkParser",
    "Compat",
    "OpenAICompletionsAdapter",
    "OpenAICompletionsOptions",
    "ToolChoice",
    "build_messages",
    "build_request",
    "detect_compat",
]
