"""The one entry-point loader: what an entry point may name, and problems kept."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

from pluma import extensions


def test_a_factory_registers_under_the_entry_point_name() -> None:
    seen: dict[str, Any] = {}
    entries = [EntryPoint("lines", "tests.support.line_provider:LineProvider", "pluma.providers")]
    assert extensions.load("pluma.providers", seen.__setitem__, entries) == []
    assert seen["lines"].__name__ == "LineProvider"


def test_what_an_entry_point_may_not_name_is_a_problem() -> None:
    entries = [
        EntryPoint("bare", "tests.support.line_provider", "pluma.providers"),
        EntryPoint("value", "pluma.server.chat.providers:ENTRY_POINT_GROUP", "pluma.providers"),
        EntryPoint("missing", "no_such_module_here:Factory", "pluma.providers"),
    ]
    found = extensions.load("pluma.providers", lambda name, factory: None, entries)
    assert len(found) == 3
    assert "'bare'" in found[0] and "names a module" in found[0]
    assert "'value'" in found[1] and "names str, not a factory" in found[1]
    assert "'missing'" in found[2] and "ModuleNotFoundError" in found[2]
    assert set(found) <= set(extensions.problems())


def test_a_refusing_registry_is_a_problem_not_a_crash() -> None:
    def refuse(name: str, factory: Any) -> None:
        raise ValueError("compat must be a non-empty string")

    entries = [EntryPoint("x", "tests.support.line_provider:LineProvider", "pluma.providers")]
    [problem] = extensions.load("pluma.providers", refuse, entries)
    assert "was refused: ValueError: compat must be a non-empty string" in problem
