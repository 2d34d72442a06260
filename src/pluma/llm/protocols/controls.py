"""Checks the native adapters share for the neutral controls and tool choice.

Every neutral control on :class:`~pluma.llm.options.StreamOptions` is either
mapped by an adapter or refused by it, with an
:class:`~pluma.llm.controls.UnsupportedControlError` naming the field, before
any byte leaves. :func:`refuse_unsupported` is that refusal;
:func:`check_tool_choice` validates the tool choice spelling the
``openai-responses`` and ``google-generative-ai`` options share.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal, TypeAlias

from pluma.llm.controls import UnsupportedControlError
from pluma.llm.options import StreamOptions
from pluma.llm.types import Tool

ToolChoice: TypeAlias = Literal["auto", "none", "required"] | dict[str, str]
"""``auto``, ``none``, ``required`` (some tool), or ``{"name": tool}`` for that tool."""


def refuse_unsupported(options: StreamOptions, fields: Iterable[str], protocol: str) -> None:
    """Raise :class:`UnsupportedControlError` for the first of ``fields`` that
    is set on ``options``: ``protocol`` has no equivalent for it."""
    for name in fields:
        if getattr(options, name) is not None:
            raise UnsupportedControlError(name, protocol, "its API has no equivalent")


def check_tool_choice(choice: ToolChoice | None, tools: Sequence[Tool]) -> None:
    """Raise ``ValueError`` saying what is wrong with ``choice``."""
    if choice is None or choice == "auto" or choice == "none":
        return
    names = [tool.name for tool in tools]
    if choice == "required":
        if not names:
            raise ValueError("tool_choice 'required' needs at least one tool in the context")
        return
    if isinstance(choice, dict):
        name = choice.get("name")
        if set(choice) != {"name"} or not isinstance(name, str) or not name:
            raise ValueError(f"a named tool_choice must be {{'name': '<tool>'}}, got {choice!r}")
        if name not in names:
            known = ", ".join(names) if names else "none"
            raise ValueError(
                f"tool_choice names tool {name!r}, which is not in the context's tools "
                f"(tools: {known})"
            )
        return
    raise ValueError(
        f"tool_choice must be 'auto', 'none', 'required' or {{'name': '<tool>'}}, got {choice!r}"
    )


def check_extra_body(extra_body: Any, reserved: Iterable[str] = ()) -> None:
    """``extra_body`` must be a dict, and may not replace the fields the adapter
    relies on to read the answer (``reserved``, e.g. ``stream``)."""
    if not isinstance(extra_body, dict):
        raise ValueError(f"extra_body must be a dict, got {type(extra_body).__name__}")
    clash = sorted(set(extra_body) & set(reserved))
    if clash:
        raise ValueError(
            f"extra_body may not set {', '.join(clash)}: the adapter depends on "
            "them to read the answer"
        )
