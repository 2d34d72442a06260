"""Settings that only mean something to the Anthropic Messages API.

Passed as ``StreamOptions(protocol_options=AnthropicMessagesOptions(...))``;
the client checks ``protocol`` against the model and calls :meth:`validate`
with the context's tools before any byte is sent, so a typo in a tool name is
a :class:`~pluma.llm.errors.ConfigurationError` rather than an upstream 400.

| field                     | wire effect                                                  |
|---------------------------|--------------------------------------------------------------|
| tool_choice "auto"        | ``tool_choice: {"type": "auto"}`` (the API's default)        |
| tool_choice "any"         | ``{"type": "any"}``: the model must call some tool           |
| tool_choice "none"        | ``{"type": "none"}``: tools are listed but may not be called  |
| tool_choice NamedTool(n)  | ``{"type": "tool", "name": n}``: the model must call ``n``   |
| disable_parallel_tool_use | ``disable_parallel_tool_use: true`` on that tool_choice      |
| thinking_display          | ``thinking.display``: "summarized" or "omitted"              |
| thinking_budget           | ``thinking.budget_tokens`` instead of the per-level default  |
| prompt_caching            | ``cache_control`` breakpoints on system, tools, last message |
| interleaved_thinking      | beta header letting thinking happen between tool calls       |
| betas                     | extra ``anthropic-beta`` values                              |
| extra_body                | merged into the request body last: its members replace       |
|                           | anything Pluma built (fields Pluma does not model, new API   |
|                           | features, vendor extensions)                                 |

Precedence: ``extra_body`` wins over everything; the neutral controls of
:class:`~pluma.llm.StreamOptions` and the fields above must not contradict each
other (``parallel_tool_calls=True`` with ``disable_parallel_tool_use=True`` is
refused, not silently resolved).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from pluma.llm.types import Tool

PROTOCOL = "anthropic-messages"
MIN_THINKING_BUDGET = 1024
"""The smallest ``budget_tokens`` the API accepts."""


@dataclass(frozen=True, slots=True)
class NamedTool:
    """Force the model to call the tool with this name."""

    name: str


ToolChoice: TypeAlias = Literal["auto", "any", "none"] | NamedTool
ThinkingDisplay: TypeAlias = Literal["summarized", "omitted"]

_CHOICES = ("auto", "any", "none")
_DISPLAYS = ("summarized", "omitted")


@dataclass(frozen=True, slots=True)
class AnthropicMessagesOptions:
    """Anthropic-only knobs; every field left at its default sends nothing extra
    (except prompt caching, which is on by default because it only saves money)."""

    tool_choice: ToolChoice | None = None
    disable_parallel_tool_use: bool = False
    thinking_display: ThinkingDisplay | None = None
    thinking_budget: int | None = None
    prompt_caching: bool = True
    interleaved_thinking: bool = True
    betas: tuple[str, ...] = ()
    extra_body: dict[str, Any] = field(default_factory=dict)

    @property
    def protocol(self) -> str:
        return PROTOCOL

    @property
    def forces_tool_use(self) -> bool:
        """True when the model must call a tool (the API refuses that with thinking)."""
        return self.tool_choice == "any" or isinstance(self.tool_choice, NamedTool)

    def validate(self, tools: Sequence[Tool]) -> None:
        """Raise ``ValueError`` saying what is wrong and how to fix it."""
        choice = self.tool_choice
        names = [tool.name for tool in tools]
        if isinstance(choice, NamedTool):
            if choice.name not in names:
                known = ", ".join(repr(n) for n in names) or "none"
                raise ValueError(
                    f"tool_choice names tool {choice.name!r}, which is not among the "
                    f"context's tools ({known}); add the tool or name one of those"
                )
        elif choice is not None:
            if choice not in _CHOICES:
                raise ValueError(
                    f"tool_choice must be 'auto', 'any', 'none' or NamedTool(name), got {choice!r}"
                )
            if choice == "any" and not tools:
                raise ValueError(
                    "tool_choice 'any' requires at least one tool in the context; "
                    "add tools or drop tool_choice"
                )
        if self.disable_parallel_tool_use and choice == "none":
            raise ValueError("disable_parallel_tool_use has no meaning with tool_choice 'none'")
        if self.thinking_display is not None and self.thinking_display not in _DISPLAYS:
            raise ValueError(
                f"thinking_display must be 'summarized' or 'omitted', got {self.thinking_display!r}"
            )
        if self.thinking_budget is not None and self.thinking_budget < MIN_THINKING_BUDGET:
            raise ValueError(
                f"thinking_budget must be at least {MIN_THINKING_BUDGET} tokens "
                f"(the API's minimum), got {self.thinking_budget}"
            )
        if not isinstance(self.extra_body, dict):
            raise ValueError(f"extra_body must be a dict, got {type(self.extra_body).__name__}")
        for beta in self.betas:
            if not beta or "," in beta:
                raise ValueError(
                    f"each beta must be one non-empty name without commas, got {beta!r}"
                )

    def tool_choice_param(self) -> dict[str, object] | None:
        """The wire ``tool_choice`` object, or None to leave the API default."""
        choice = self.tool_choice
        if choice is None:
            if not self.disable_parallel_tool_use:
                return None
            param: dict[str, object] = {"type": "auto"}
        elif isinstance(choice, NamedTool):
            param = {"type": "tool", "name": choice.name}
        else:
            param = {"type": choice}
        if self.disable_parallel_tool_use and param["type"] != "none":
            param["disable_parallel_tool_use"] = True
        return param
