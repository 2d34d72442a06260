"""Options only the ``openai-responses`` protocol understands.

Pass them as ``StreamOptions(protocol_options=OpenAIResponsesOptions(...))``;
the client checks them against the context's tools before anything is sent.

| field             | wire                                                          |
|-------------------|---------------------------------------------------------------|
| tool_choice       | ``"auto"`` / ``"none"`` / ``"required"`` as is;               |
|                   | ``{"name": t}`` → ``{"type": "function", "name": t}``         |
| reasoning_summary | ``reasoning.summary`` (``auto`` by default; None asks for no  |
|                   | summary, so no thinking text streams)                         |
| store             | ``store`` (False by default: nothing is kept at OpenAI, and   |
|                   | reasoning travels encrypted in the history instead)           |
| service_tier      | ``service_tier`` (``auto``, ``default``, ``flex``, ``priority``)|
| prompt_cache_key  | ``prompt_cache_key``                                          |
| extra_body        | merged into the body last, verbatim (fields Pluma does not    |
|                   | model); ``stream`` and ``input`` cannot be replaced           |
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from pluma.llm.protocols.controls import ToolChoice, check_extra_body, check_tool_choice
from pluma.llm.types import Tool

PROTOCOL = "openai-responses"

ReasoningSummary: TypeAlias = Literal["auto", "concise", "detailed"]
_SUMMARIES = ("auto", "concise", "detailed")
_TIERS = ("auto", "default", "flex", "scale", "priority")


@dataclass(slots=True)
class OpenAIResponsesOptions:
    """Tool choice, reasoning summaries, storage and request extras."""

    tool_choice: ToolChoice | None = None
    reasoning_summary: ReasoningSummary | None = "auto"
    store: bool = False
    service_tier: str | None = None
    prompt_cache_key: str | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)

    @property
    def protocol(self) -> str:
        return PROTOCOL

    def validate(self, tools: Sequence[Tool]) -> None:
        """Raise ``ValueError`` saying what is wrong and how to fix it."""
        check_tool_choice(self.tool_choice, tools)
        if self.reasoning_summary is not None and self.reasoning_summary not in _SUMMARIES:
            raise ValueError(
                "reasoning_summary must be 'auto', 'concise', 'detailed' or None, "
                f"got {self.reasoning_summary!r}"
            )
        if not isinstance(self.store, bool):
            raise ValueError(f"store must be True or False, got {self.store!r}")
        if self.service_tier is not None and self.service_tier not in _TIERS:
            raise ValueError(
                f"service_tier must be one of {', '.join(_TIERS)}, got {self.service_tier!r}"
            )
        if self.prompt_cache_key is not None and not (
            isinstance(self.prompt_cache_key, str) and self.prompt_cache_key
        ):
            raise ValueError("prompt_cache_key must be a non-empty string")
        check_extra_body(self.extra_body, ("stream", "input"))

    def wire_tool_choice(self) -> str | dict[str, Any] | None:
        """The ``tool_choice`` value to send, or None to leave it out."""
        choice = self.tool_choice
        if isinstance(choice, dict):
            return {"type": "function", "name": choice["name"]}
        return choice
