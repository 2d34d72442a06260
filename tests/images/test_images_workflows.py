"""Placeholder validation and substitution for ComfyUI workflows."""

from __future__ import annotations

import json

import pytest

from pluma.server.images.workflows import (
    WorkflowError,
    check_workflow,
    default_workflow,
    substitute,
)

VALUES = {
    "prompt": 'a "quoted" cat\\ with a backslash,\nnewline and ünïcödé',
    "negative_prompt": "",
    "seed": 123456789012,
    "steps": 20,
    "cfg": 6.5,
    "width": 768,
    "height": 512,
    "checkpoint": "sd_xl_base_1.0.safetensors",
    "sampler": "euler",
    "scheduler": "karras",
    "batch_size": 2,
    "denoise": 1.0,
}


def test_default_workflow_is_valid_and_uses_every_placeholder() -> None:
    workflow = default_workflow()
    check = check_workflow(workflow)
    assert check.ok, check.problems
    assert check.missing == set()
    assert check.used == {
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


def test_numbers_stay_numbers_and_strings_are_escaped() -> None:
    out = substitute(default_workflow(), VALUES)
    sampler = out["3"]["inputs"]
    assert sampler["seed"] == 123456789012 and isinstance(sampler["seed"], int)
    assert sampler["steps"] == 20 and isinstance(sampler["steps"], int)
    assert sampler["cfg"] == 6.5 and isinstance(sampler["cfg"], float)
    assert sampler["model"] == ["4", 0]  # links untouched
    assert out["5"]["inputs"] == {"width": 768, "height": 512, "batch_size": 2}
    assert out["6"]["inputs"]["text"] == VALUES["prompt"]
    # Through JSON text and back, as ComfyUI receives it.
    wire = json.dumps({"prompt": out})
    assert json.loads(wire)["prompt"]["6"]["inputs"]["text"] == VALUES["prompt"]
    assert '"seed": 123456789012' in wire
    assert '"%' not in wire


def test_embedded_placeholder_is_text() -> None:
    workflow = {
        "1": {
            "class_type": "CLIPTextEncode",
            "inputs": {"text": "masterpiece, %prompt%, %steps% steps"},
        },
        "2": {
            "class_type": "SaveImage",
            "inputs": {"filename_prefix": "run_%seed%", "note": "100% done"},
        },
    }
    out = substitute(workflow, {"prompt": 'say "hi"', "steps": 30, "seed": 7})
    assert out["1"]["inputs"]["text"] == 'masterpiece, say "hi", 30 steps'
    assert out["2"]["inputs"]["filename_prefix"] == "run_7"
    assert out["2"]["inputs"]["note"] == "100% done"
    assert workflow["1"]["inputs"]["text"] == "masterpiece, %prompt%, %steps% steps"  # not mutated


def test_model_alias() -> None:
    workflow = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "%model%"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "%prompt%"}},
    }
    check = check_workflow(workflow)
    assert check.ok and "checkpoint" in check.used
    out = substitute(workflow, {"prompt": "p", "checkpoint": "x.safetensors"})
    assert out["1"]["inputs"]["ckpt_name"] == "x.safetensors"


def test_missing_prompt_placeholder_is_an_error() -> None:
    workflow = {"1": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fixed prompt"}}}
    check = check_workflow(workflow)
    assert not check.ok
    assert any("%prompt%" in p for p in check.problems)
    with pytest.raises(WorkflowError, match="lacks the %prompt% placeholder"):
        substitute(workflow, VALUES)


def test_missing_optional_placeholders_are_warnings() -> None:
    workflow = {"1": {"class_type": "CLIPTextEncode", "inputs": {"text": "%prompt%"}}}
    check = check_workflow(workflow)
    assert check.ok
    assert "seed" in check.missing and "prompt" not in check.missing
    assert any("%seed%" in w for w in check.warnings)


def test_unknown_placeholder_is_reported() -> None:
    workflow = {
        "1": {"class_type": "CLIPTextEncode", "inputs": {"text": "%prompt% %style%"}},
        "2": {"class_type": "KSampler", "inputs": {"seed": "%sead%"}},
    }
    check = check_workflow(workflow)
    assert check.unknown == {"style", "sead"}
    assert not check.ok
    with pytest.raises(WorkflowError, match="%sead%, %style%"):
        substitute(workflow, VALUES)


def test_ui_format_is_rejected_with_advice() -> None:
    ui_export = {"last_node_id": 9, "nodes": [{"id": 3, "type": "KSampler"}], "links": []}
    check = check_workflow(ui_export)
    assert not check.ok
    assert "Export (API)" in check.problems[0]
    assert not check_workflow([]).ok


def test_value_needed_but_not_given() -> None:
    workflow = {
        "1": {"class_type": "CLIPTextEncode", "inputs": {"text": "%prompt%", "s": "%seed%"}}
    }
    with pytest.raises(WorkflowError, match="%seed%"):
        substitute(workflow, {"prompt": "p"})
