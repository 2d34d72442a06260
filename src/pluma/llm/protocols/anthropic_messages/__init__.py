"""The `anthropic-messages` protocol adapter (placeholder until the adapter lands)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from pluma.llm.events import Event
from pluma.llm.options import StreamOptions
from pluma.llm.types import Context, Model


class AnthropicMessagesAdapter:
    protocol = "anthropic-messages"

    async def stream(
        self, model: Model, context: Context, options: StreamOptions
    ) -> AsyncIterator[Event | None]:
        raise NotImplementedError("anthropic-messages adapter not written yet")
        yield None
