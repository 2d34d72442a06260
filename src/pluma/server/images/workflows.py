"""ComfyUI workflow placeholders: validation and substitution.

A workflow is ComfyUI's API-format JSON (``{"3": {"class_type": "KSampler",
"inputs": {...}}, ...}``) in which some input values are placeholder strings.
Substitution works on the parsed JSON, never on its text, so a prompt full of
quotes, backslashes or newlines cannot break the document:

| the value in the workflow    | becomes                                              |
|------------------------------|------------------------------------------------------|
| ``"%seed%"`` (whole string)  | the JSON value itself: ``12345`` (a number stays a   |
|                              | number, a string stays a string)                     |
| ``"photo, %prompt%, 8k"``    | text substitution: ``"photo, a cat, 8k"``            |
| ``"100%"``, ``"%"``          | untouched (not a ``%name%`` pattern)                 |
| dictionary keys              | untouched                                            |

Placeholders (:data:`PLACEHOLDERS`): ``prompt``, ``negative_prompt``,
``seed``, ``steps``, ``cfg``, ``width``, ``height``, ``checkpoint`` (alias
``model``), ``sampler``, ``scheduler``, ``batch_size``, ``denoise``.

Validation reports placeholders the workflow uses that Pluma does not know
(an error: they would reach ComfyUI unreplaced) and the known ones it lacks
(only ``prompt`` is required: a workflow may fix its own seed or checkpoint,
and the request's value for a missing placeholder is then ignored).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

PLACEHOLDERS: tuple[str, ...] = (
    "prompt",
    "negative_prompt",
    "seed",
    "steps",
    "cfg",
    "width",
    "height",
    "checkpoint",
    "model",
    "sampler",
    "scheduler",
    "batch_size",
    "denoise",
)
REQUIRED: frozenset[str] = frozenset({"prompt"})
ALIASES: dict[str, str] = {"model": "checkpoint"}

_PATTERN = re.compile(r"%([A-Za-z_][A-Za-z0-9_]*)%")


@dataclass(slots=True)
class WorkflowCheck:
    used: set[str] = field(default_factory=set)
    unknown: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    """Known placeholders the workflow does not use (aliases folded)."""
    problems: list[str] = field(default_factory=list)
    """Errors: the workflow cannot be used."""

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def warnings(self) -> list[str]:
        """What the user should know though the workflow works."""
        return [
            f"the workflow has no %{name}% placeholder, so the request's {name} is not used"
            for name in sorted(self.missing - REQUIRED)
        ]


class WorkflowError(ValueError):
    """The workflow cannot be used; the message says why and what to fix."""


def _strings(node: Any) -> list[str]:
    found: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def check_workflow(workflow: Any) -> WorkflowCheck:
    """Validate shape and placeholders; never raises."""
    check = WorkflowCheck()
    if not isinstance(workflow, dict) or not workflow:
        check.problems.append(
            "the workflow must be a JSON object of nodes in ComfyUI's API format "
            "(in ComfyUI: Workflow → Export (API))"
        )
        return check
    for node_id, node in workflow.items():
        if not isinstance(node, dict) or "class_type" not in node:
            check.problems.append(
                f"node {node_id!r} has no class_type: this looks like a UI-format workflow; "
                "export it with Workflow → Export (API) instead"
            )
            return check
    for text in _strings(workflow):
        for match in _PATTERN.finditer(text):
            name = match.group(1)
            if name in PLACEHOLDERS:
                check.used.add(ALIASES.get(name, name))
            else:
                check.unknown.add(name)
    known = {ALIASES.get(name, name) for name in PLACEHOLDERS}
    check.missing = known - check.used
    if check.unknown:
        names = ", ".join(f"%{n}%" for n in sorted(check.unknown))
        check.problems.append(
            f"the workflow uses unknown placeholders {names}; "
            f"known ones are {', '.join(f'%{n}%' for n in PLACEHOLDERS)}"
        )
    for name in sorted(REQUIRED - check.used):
        check.problems.append(
            f'the workflow lacks the %{name}% placeholder: put "%{name}%" as the text of '
            "the positive CLIPTextEncode node"
        )
    return check


def substitute(workflow: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``workflow`` with placeholders replaced by ``values``.

    Raises :class:`WorkflowError` when the workflow fails :func:`check_workflow`
    or uses a placeholder ``values`` has no value for.
    """
    check = check_workflow(workflow)
    if not check.ok:
        raise WorkflowError("; ".join(check.problems))
    resolved = dict(values)
    for alias, target in ALIASES.items():
        if target in resolved:
            resolved.setdefault(alias, resolved[target])

    def value_for(name: str) -> Any:
        if name not in resolved or resolved[name] is None:
            raise WorkflowError(f"no value for the workflow's %{name}% placeholder")
        return resolved[name]

    def replace_text(text: str) -> Any:
        whole = _PATTERN.fullmatch(text)
        if whole is not None:
            return value_for(whole.group(1))
        if "%" not in text:
            return text
        return _PATTERN.sub(lambda m: str(value_for(m.group(1))), text)

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return replace_text(node)
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return copy.copy(node)

    result: dict[str, Any] = walk(workflow)
    return result


def default_workflow() -> dict[str, Any]:
    """The text-to-image workflow shipped with Pluma (a fresh copy)."""
    import json
    from importlib import resources

    text = (
        resources.files("pluma.server.images")
        .joinpath("workflows/default_txt2img.json")
        .read_text(encoding="utf-8")
    )
    workflow: dict[str, Any] = json.loads(text)
    return workflow
