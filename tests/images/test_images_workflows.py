"""Placeholder validation and substitution for ComfyUI workflows."""

from __future__ import annotations

import json

import pytest

from pluma.server.images.workflows import (
    BASIC,
    MODE_NEEDS,
    SHIPPED,
    WorkflowError,
    add_loras_and_vae,
    check_workflow,
    default_workflow,
    shipped_workflow,
    substitute,
    workflow_for,
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
    assert check.missing & BASIC == set() and check.warnings == []
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


@pytest.mark.parametrize("mode", sorted(SHIPPED))
def test_shipped_workflows_fill_every_basic_placeholder_and_their_modes(mode: str) -> None:
    check = check_workflow(shipped_workflow(mode))
    assert check.ok, check.problems
    assert check.warnings == []  # every request field reaches the workflow
    assert MODE_NEEDS[mode] <= check.used
    if mode == "hires":
        assert {"hr_scale", "hr_upscaler", "hr_steps", "hr_denoise"} <= check.used


def test_workflow_for_keeps_an_own_workflow_only_when_it_fits_the_mode() -> None:
    own = default_workflow()
    assert workflow_for("txt2img", own) == (own, [])
    chosen, notes = workflow_for("inpaint", own)
    assert chosen == shipped_workflow("inpaint")
    assert notes and "%init_image%, %mask%" in notes[0] and "shipped inpaint" in notes[0]
    img2img = shipped_workflow("img2img")
    assert workflow_for("img2img", img2img) == (img2img, [])
    assert workflow_for("img2img", None) == (img2img, [])


def test_loras_and_vae_are_chained_after_the_checkpoint() -> None:
    prompt = substitute(default_workflow(), VALUES)
    assert (
        add_loras_and_vae(prompt, [("a.safetensors", 0.8), ("b.safetensors", -0.5)], "v.pt") == []
    )
    loras = {k: n for k, n in prompt.items() if n["class_type"] == "LoraLoader"}
    (first, a), (second, b) = sorted(loras.items(), key=lambda kv: int(kv[0]))
    assert a["inputs"]["model"] == ["4", 0] and a["inputs"]["clip"] == ["4", 1]
    assert a["inputs"]["strength_model"] == a["inputs"]["strength_clip"] == 0.8
    assert b["inputs"]["model"] == [first, 0] and b["inputs"]["clip"] == [first, 1]
    # Everything that used the checkpoint's model and CLIP now uses the last LoRA's.
    assert prompt["3"]["inputs"]["model"] == [second, 0]
    assert prompt["6"]["inputs"]["clip"] == prompt["7"]["inputs"]["clip"] == [second, 1]
    vae = next(k for k, n in prompt.items() if n["class_type"] == "VAELoader")
    assert prompt[vae]["inputs"] == {"vae_name": "v.pt"}
    assert prompt["8"]["inputs"]["vae"] == [vae, 0]


def test_loras_without_a_checkpoint_loader_are_a_warning() -> None:
    prompt = {"1": {"class_type": "SaveImage", "inputs": {}}}
    warnings = add_loras_and_vae(prompt, [("a", 1.0)], "")
    assert warnings and "CheckpointLoaderSimple" in warnings[0]
    assert len(prompt) == 1


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
