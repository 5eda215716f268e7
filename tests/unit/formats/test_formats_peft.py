"""PEFT LoRA adapters: adapter_config.json facts, adapter weights, the base-model hint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from formats_helpers import bad_input, sample, write_json, write_weights

from registry_pipeline.formats import detect

pytestmark = pytest.mark.unit


def _adapter(tmp_path: Path) -> Path:
    folder = sample("peft", tmp_path)
    tensors = {}
    for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
        prefix = f"base_model.model.model.layers.0.self_attn.{proj}"
        tensors[f"{prefix}.lora_A.weight"] = np.zeros((16, 64), np.float32)
        tensors[f"{prefix}.lora_B.weight"] = np.zeros((64, 16), np.float32)
    write_weights(folder / "adapter_model.safetensors", tensors)
    return folder


def test_lora_adapter(tmp_path: Path) -> None:
    folder = _adapter(tmp_path)
    found = detect(folder)
    assert found.format == "peft-lora"
    assert found.facts == {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": "meta-llama/Llama-3.2-1B-Instruct",
        "r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.1,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
        "parameter_count": 8 * 16 * 64,
        "tensor_count": 8,
        "dtypes": {"F32": 8},
        "largest_tensors": [
            {
                "name": "base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight",
                "shape": [16, 64],
                "dtype": "F32",
            },
            {
                "name": "base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight",
                "shape": [64, 16],
                "dtype": "F32",
            },
            {
                "name": "base_model.model.model.layers.0.self_attn.o_proj.lora_A.weight",
                "shape": [16, 64],
                "dtype": "F32",
            },
        ],
        "shards": 1,
        "total_bytes": (folder / "adapter_model.safetensors").stat().st_size,
    }
    assert found.upstream == [
        {
            "name": "meta-llama/Llama-3.2-1B-Instruct",
            "relation": "base_model",
            "from": "adapter_config.json:base_model_name_or_path",
        }
    ]
    assert found.warnings == []


def test_revision_and_regex_target_modules(tmp_path: Path) -> None:
    folder = _adapter(tmp_path)
    config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    config.update(revision="v1.2", target_modules=r".*\.(q|v)_proj")
    write_json(folder / "adapter_config.json", config)
    facts = detect(folder).facts
    assert facts["base_model_revision"] == "v1.2"
    assert facts["target_modules"] == r".*\.(q|v)_proj"


def test_adapter_without_weights_warns(tmp_path: Path) -> None:
    found = detect(sample("peft", tmp_path))
    assert found.format == "peft-lora"
    assert "parameter_count" not in found.facts
    assert found.warnings == [
        "adapter_config.json: no adapter_model.safetensors beside it; no weight facts recorded"
    ]


def test_other_peft_types_are_files_with_the_hint(tmp_path: Path) -> None:
    folder = tmp_path / "ia3"
    write_json(
        folder / "adapter_config.json",
        {"peft_type": "IA3", "task_type": "SEQ_CLS", "base_model_name_or_path": "roberta-base"},
    )
    write_weights(folder / "adapter_model.safetensors", {"w": np.ones((4,), np.float32)})
    found = detect(folder)
    assert found.format == "files"
    assert found.facts["peft_type"] == "IA3"
    assert "r" not in found.facts
    assert found.upstream[0]["name"] == "roberta-base"
    assert found.warnings == [
        "adapter_config.json: peft_type 'IA3' is not LoRA; recorded as plain files"
    ]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"base_model_name_or_path": None}, "'base_model_name_or_path' is missing"),
        ({"base_model_name_or_path": "  "}, "'base_model_name_or_path' is missing"),
        ({"peft_type": None}, "'peft_type' is missing"),
        ({"r": 0}, "'r' must be an integer >= 1"),
        ({"lora_alpha": "16"}, "'lora_alpha' must be a finite number"),
        ({"lora_dropout": 1.5}, "'lora_dropout' must be between 0 and 1"),
        ({"target_modules": [1, 2]}, "'target_modules' must be a list of module names"),
    ],
)
def test_malformed_adapter_config(tmp_path: Path, change: dict[str, object], fragment: str) -> None:
    folder = _adapter(tmp_path)
    config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    for key, value in change.items():
        if value is None:
            config.pop(key)
        else:
            config[key] = value
    write_json(folder / "adapter_config.json", config)
    bad_input(lambda: detect(folder), "adapter_config.json", fragment)


def test_adapter_config_not_json(tmp_path: Path) -> None:
    folder = _adapter(tmp_path)
    (folder / "adapter_config.json").write_text('{"peft_type": "LORA"\n', encoding="utf-8")
    bad_input(lambda: detect(folder), "adapter_config.json: not valid JSON (line 2")


def test_truncated_adapter_weights(tmp_path: Path) -> None:
    folder = _adapter(tmp_path)
    weights = folder / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    bad_input(lambda: detect(folder), "adapter_model.safetensors: not a valid safetensors file")
