"""Options only the ``openai-completions`` protocol understands.

Pass them as ``StreamOptions(protocol_options=OpenAICompletionsOptions(...))``;
the client checks them against the context's tools before anything is sent.

| field               | wire                                                        |
|---------------------|-------------------------------------------------------------|
| tool_choice         | ``"auto"`` / ``"none"`` / ``"required"`` as is;             |
|                     | ``{"name": t}`` → ``{"type": "function", "function": {"name": t}}`` |
| parallel_tool_calls | ``parallel_tool_calls`` (left out when None)                |
| extra_body          | merged into the request body last (vendor-specific fields)  |

Precedence: ``extra_body`` replaces anything built before it; the neutral
``StreamOptions.parallel_tool_calls`` and the field here must agree when both
are set (a contradiction is refused, not resolved).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from pluma.llm.types import Tool

ToolChoice: TypeAlias = Literal["auto", "none", "required"] | dict[str, str]
"""``auto``, ``none``, ``required`` (some tool), or ``{"name": tool}`` for that tool."""

PROTOCOL = "openai-completions"


@dataclass(slots=True)
class OpenAICompletionsOptions:
    """Tool choice and request extras for Chat Completions."""

    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)

    @property
    def protocol(self) -> str:
        return PROTOCOL

    def validate(self, tools: Sequence[Tool]) -> None:
        """Raise ``ValueError`` saying what is wrong with the tool choice."""
        choice = self.tool_choice
        if choice is None or choice == "auto" or choice == "none":
            return
        names = [t.name for t in tools]
        if choice == "required":
            if not names:
                raise ValueError("tool_choice 'required' needs at least one tool in the context")
            return
        if isinstance(choice, dict):
            name = choice.get("name")
            if set(choice) != {"name"} or not isinstance(name, str) or not name:
                raise ValueError(
                    f"a named tool_choice must be {{'name': '<tool>'}}, got {choice!r}"
                )
            if name not in names:
                known = ", ".join(names) if names else "none"
                raise ValueError(
                    f"tool_choice names tool {name!r}, which is not in the context's tools "
                    f"(tools: {known})"
                )
            return
        raise ValueError(
            f"tool_choice must be 'auto', 'none', 'required' or {{'name': '<tool>'}}, "
            f"got {choice!r}"
        )

    def wire_tool_choice(self) -> str | dict[str, Any] | None:
        """The ``tool_choice`` value to send, or None to leave it out."""
        choice = self.tool_choice
        if isinstance(choice, dict):
            return {"type": "function", "function": {"name": choice["name"]}}
        return choice
