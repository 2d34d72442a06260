"""The `openai-completions` protocol adapter (placeholder until the adapter lands)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from pluma.llm.events import Event
from pluma.llm.options import StreamOptions
from pluma.llm.types import Context, Model


class OpenAICompletionsAdapter:
    protocol = "openai-completions"

    async def stream(
        self, model: Model, context: Context, options: StreamOptions
    ) -> AsyncIterator[Event | None]:
        raise NotImplementedError("openai-completions adapter not written yet")
        yield None
