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
``model``), ``sampler``, ``scheduler``, ``batch_size``, ``denoise``; for
image-to-image and inpainting ``init_image`` and ``mask`` (the names
``POST /upload/image`` gave the uploaded pictures, for ``LoadImage`` /
``LoadImageMask``); for the upscale pass ``hr_scale``, ``hr_upscaler`` (a
``LatentUpscaleBy`` method), ``hr_steps`` and ``hr_denoise``.

Validation reports placeholders the workflow uses that Pluma does not know
(an error: they would reach ComfyUI unreplaced) and the basic ones it lacks
(only ``prompt`` is required: a workflow may fix its own seed or checkpoint,
and the request's value for a missing placeholder is then ignored).

Pluma ships one workflow per mode (:data:`SHIPPED`): text-to-image,
image-to-image, inpainting and text-to-image with an upscale pass.
:func:`workflow_for` picks the connection's own workflow when it has the
placeholders the mode needs, else the shipped one.
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
    "init_image",
    "mask",
    "hr_scale",
    "hr_upscaler",
    "hr_steps",
    "hr_denoise",
)
REQUIRED: frozenset[str] = frozenset({"prompt"})
BASIC: frozenset[str] = frozenset(
    {
        "prompt",
        "negative_prompt",
        "seed",
        "steps",
        "cfg",
        "width",
        "height",
        "checkpoint",
        "sampler",
        "scheduler",
        "batch_size",
        "denoise",
    }
)
"""The placeholders any generation fills; a workflow lacking one is warned
about. The others belong to one mode (:data:`MODE_NEEDS`)."""
MODE_NEEDS: dict[str, frozenset[str]] = {
    "txt2img": frozenset(),
    "img2img": frozenset({"init_image"}),
    "inpaint": frozenset({"init_image", "mask"}),
    "hires": frozenset({"hr_scale"}),
}
SHIPPED: dict[str, str] = {
    "txt2img": "default_txt2img.json",
    "img2img": "default_img2img.json",
    "inpaint": "default_inpaint.json",
    "hires": "default_hires.json",
}
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
            for name in sorted((self.missing & BASIC) - REQUIRED)
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


def shipped_workflow(mode: str = "txt2img") -> dict[str, Any]:
    """The workflow Pluma ships for ``mode`` (a fresh copy)."""
    import json
    from importlib import resources

    text = (
        resources.files("pluma.server.images")
        .joinpath(f"workflows/{SHIPPED[mode]}")
        .read_text(encoding="utf-8")
    )
    workflow: dict[str, Any] = json.loads(text)
    return workflow


def default_workflow() -> dict[str, Any]:
    """The text-to-image workflow shipped with Pluma (a fresh copy)."""
    return shipped_workflow("txt2img")


def workflow_for(mode: str, own: dict[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """The workflow to run for ``mode`` and what the user should know.

    The connection's own workflow when it has the placeholders ``mode``
    needs (any workflow will do for text-to-image); otherwise the shipped
    one, with a note when an own workflow was passed over.
    """
    if own is None:
        return shipped_workflow(mode), []
    needs = MODE_NEEDS[mode]
    lacking = needs - check_workflow(own).used
    if not lacking:
        return own, []
    names = ", ".join(f"%{n}%" for n in sorted(lacking))
    return shipped_workflow(mode), [
        f"this connection's workflow has no {names}, so Pluma used its shipped {mode} workflow"
    ]


def _next_id(prompt: dict[str, Any]) -> int:
    numbers = [int(k) for k in prompt if k.isdigit()]
    return max(numbers, default=0) + 1


def _rewire(prompt: dict[str, Any], source: list[Any], target: list[Any], skip: set[str]) -> None:
    """Point every input linked to ``source`` (``[node, output]``) at
    ``target``, except in the nodes ``skip`` names."""
    for node_id, node in prompt.items():
        if node_id in skip:
            continue
        inputs = node.get("inputs")
        if not isinstance(inputs, dict):
            continue
        for name, value in inputs.items():
            if isinstance(value, list) and len(value) == 2 and [str(value[0]), value[1]] == source:
                inputs[name] = list(target)


def add_loras_and_vae(
    prompt: dict[str, Any], loras: list[tuple[str, float]], vae: str
) -> list[str]:
    """Chain ``LoraLoader`` nodes after the workflow's checkpoint loader and,
    with ``vae``, a ``VAELoader`` in place of the checkpoint's own VAE
    (in place; returns warnings).

    Why by editing the graph rather than with placeholders: the number of
    LoRAs varies per request, and a placeholder cannot add nodes. Every
    input that took the checkpoint's MODEL (output 0) or CLIP (output 1)
    takes the last LoRA's instead; every input that took its VAE (output 2)
    takes the VAELoader's.
    """
    if not loras and not vae:
        return []
    loader = next(
        (nid for nid, n in prompt.items() if n.get("class_type") == "CheckpointLoaderSimple"),
        None,
    )
    if loader is None:
        return [
            "the workflow has no CheckpointLoaderSimple node, so the LoRAs and VAE asked "
            "for were not applied"
        ]
    model: list[Any] = [loader, 0]
    clip: list[Any] = [loader, 1]
    added: list[str] = []
    for name, weight in loras:
        node_id = str(_next_id(prompt))
        prompt[node_id] = {
            "class_type": "LoraLoader",
            "inputs": {
                "lora_name": name,
                "strength_model": weight,
                "strength_clip": weight,
                "model": list(model),
                "clip": list(clip),
            },
            "_meta": {"title": f"LoRA {name}"},
        }
        added.append(node_id)
        model, clip = [node_id, 0], [node_id, 1]
    if added:
        _rewire(prompt, [loader, 0], model, set(added))
        _rewire(prompt, [loader, 1], clip, set(added))
    if vae:
        node_id = str(_next_id(prompt))
        prompt[node_id] = {
            "class_type": "VAELoader",
            "inputs": {"vae_name": vae},
            "_meta": {"title": f"VAE {vae}"},
        }
        _rewire(prompt, [loader, 2], [node_id, 0], {node_id})
    return []
