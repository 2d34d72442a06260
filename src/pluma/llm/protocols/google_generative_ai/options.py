"""Options only the ``google-generative-ai`` protocol understands.

Pass them as ``StreamOptions(protocol_options=GoogleGenerativeAIOptions(...))``;
the client checks them against the context's tools before anything is sent.

| field            | wire                                                             |
|------------------|------------------------------------------------------------------|
| tool_choice      | ``toolConfig.functionCallingConfig``: ``auto`` → ``AUTO``,       |
|                  | ``none`` → ``NONE``, ``required`` → ``ANY``,                     |
|                  | ``{"name": t}`` → ``ANY`` with ``allowedFunctionNames: [t]``     |
| thinking_budget  | ``thinkingConfig.thinkingBudget`` (tokens; 0 turns thinking off  |
|                  | where the model allows, -1 lets the model decide); replaces the  |
|                  | budget derived from ``StreamOptions.reasoning``                  |
| thinking_level   | ``thinkingConfig.thinkingLevel`` (Gemini 3: ``minimal``, ``low``,|
|                  | ``medium``, ``high``); replaces the derived level                |
| include_thoughts | ``thinkingConfig.includeThoughts`` (default: on for reasoning    |
|                  | models unless reasoning is ``off``)                              |
| safety_settings  | ``safetySettings``, verbatim (``[{"category", "threshold"}]``)   |
| cached_content   | ``cachedContent`` (``cachedContents/…``)                         |
| extra_body       | merged into the body last, verbatim (fields Pluma does not       |
|                  | model); ``contents`` cannot be replaced                          |
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from pluma.llm.protocols.controls import ToolChoice, check_extra_body, check_tool_choice
from pluma.llm.types import Tool

PROTOCOL = "google-generative-ai"

ThinkingLevel: TypeAlias = Literal["minimal", "low", "medium", "high"]
_LEVELS = ("minimal", "low", "medium", "high")


@dataclass(slots=True)
class GoogleGenerativeAIOptions:
    """Tool choice, thinking controls, safety settings, cached content, extras."""

    tool_choice: ToolChoice | None = None
    thinking_budget: int | None = None
    thinking_level: ThinkingLevel | None = None
    include_thoughts: bool | None = None
    safety_settings: list[dict[str, str]] | None = None
    cached_content: str | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)

    @property
    def protocol(self) -> str:
        return PROTOCOL

    def validate(self, tools: Sequence[Tool]) -> None:
        """Raise ``ValueError`` saying what is wrong and how to fix it."""
        check_tool_choice(self.tool_choice, tools)
        budget = self.thinking_budget
        if budget is not None and (type(budget) is not int or budget < -1):
            raise ValueError(
                f"thinking_budget must be a whole number of tokens, 0 (off) or -1 (dynamic), "
                f"got {budget!r}"
            )
        if self.thinking_level is not None and self.thinking_level not in _LEVELS:
            raise ValueError(
                f"thinking_level must be one of {', '.join(_LEVELS)}, got {self.thinking_level!r}"
            )
        if budget is not None and self.thinking_level is not None:
            raise ValueError(
                "give thinking_budget (Gemini 2.5) or thinking_level (Gemini 3), not both: "
                "the API refuses a request with both"
            )
        if self.safety_settings is not None:
            for setting in self.safety_settings:
                if not (
                    isinstance(setting, dict)
                    and isinstance(setting.get("category"), str)
                    and isinstance(setting.get("threshold"), str)
                ):
                    raise ValueError(
                        "each safety setting must be {'category': ..., 'threshold': ...}, "
                        f"got {setting!r}"
                    )
        if self.cached_content is not None and not self.cached_content.startswith(
            "cachedContents/"
        ):
            raise ValueError(
                f"cached_content must name a cache (cachedContents/…), got {self.cached_content!r}"
            )
        check_extra_body(self.extra_body, ("contents",))

    def wire_tool_config(self) -> dict[str, Any] | None:
        """The ``toolConfig`` object to send, or None to leave it out."""
        choice = self.tool_choice
        if choice is None:
            return None
        if isinstance(choice, dict):
            config: dict[str, Any] = {"mode": "ANY", "allowedFunctionNames": [choice["name"]]}
        else:
            config = {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice]}
        return {"functionCallingConfig": config}
