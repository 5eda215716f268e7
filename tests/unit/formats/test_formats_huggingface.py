"""Hugging Face model folders: config facts, weights, and README model cards (offline)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from formats_helpers import bad_input, write_json, write_weights
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from registry_pipeline.formats import detect

pytestmark = pytest.mark.unit

TEMPLATE = "---\n{{ card_data }}\n---\n\n# tiny-support-llama\n\nA test model.\n"


def _card(path: Path) -> None:
    """A README written by huggingface_hub itself, with a model-index."""

    def mmlu(metric: str, value: object) -> EvalResult:
        return EvalResult(
            task_type="text-generation",
            task_name="Text Generation",
            dataset_type="cais/mmlu",
            dataset_name="MMLU",
            dataset_config="all",
            dataset_split="test",
            metric_type=metric,
            metric_value=value,
            source_name="Open LLM Leaderboard",
            source_url="https://huggingface.co/spaces/open-llm-leaderboard/open_llm_leaderboard",
        )

    data = ModelCardData(
        license="apache-2.0",
        language=["en"],
        tags=["support"],
        base_model="meta-llama/Llama-3.2-1B",
        base_model_relation="finetune",
        datasets=["acme/support-tickets", "acme/faq"],
        model_name="tiny-support-llama",
        eval_results=[
            mmlu("acc", 0.61),
            mmlu("acc_norm", 0.63),
            mmlu("pass@1", "20.0 ± 1.2"),
            EvalResult(
                task_type="text-generation",
                dataset_type="openai/gsm8k",
                dataset_name="GSM8K",
                dataset_split="test",
                metric_type="exact_match",
                metric_value=0.35,
            ),
        ],
    )
    ModelCard.from_template(data, template_str=TEMPLATE).save(path)


def _model(folder: Path) -> Path:
    write_json(
        folder / "config.json",
        {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_size": 8,
            "num_hidden_layers": 1,
            "vocab_size": 32,
            "num_attention_heads": 2,
            "dtype": "bfloat16",
            "transformers_version": "4.57.0",
        },
    )
    write_weights(
        folder / "model.safetensors",
        {
            "model.embed_tokens.weight": np.zeros((32, 8), np.float32),
            "model.layers.0.mlp.up_proj.weight": np.zeros((16, 8), np.float16),
        },
    )
    _card(folder / "README.md")
    return folder


def test_model_folder_facts_card_evals_and_hints(tmp_path: Path) -> None:
    folder = _model(tmp_path / "model")
    found = detect(folder)
    assert found.format == "huggingface-model"
    assert found.facts == {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "torch_dtype": "bfloat16",
        "hidden_size": 8,
        "num_hidden_layers": 1,
        "vocab_size": 32,
        "parameter_count": 32 * 8 + 16 * 8,
        "tensor_count": 2,
        "dtypes": {"F16": 1, "F32": 1},
        "largest_tensors": [
            {"name": "model.embed_tokens.weight", "shape": [32, 8], "dtype": "F32"},
            {"name": "model.layers.0.mlp.up_proj.weight", "shape": [16, 8], "dtype": "F16"},
        ],
        "shards": 1,
        "total_bytes": (folder / "model.safetensors").stat().st_size,
    }
    assert found.card == {
        "license": "apache-2.0",
        "language": ["en"],
        "tags": ["support"],
        "base_model": "meta-llama/Llama-3.2-1B",
        "base_model_relation": "finetune",
        "datasets": ["acme/support-tickets", "acme/faq"],
    }
    source = {"source_name": None, "source_url": None}
    leaderboard = {
        "source_name": "Open LLM Leaderboard",
        "source_url": "https://huggingface.co/spaces/open-llm-leaderboard/open_llm_leaderboard",
    }
    assert found.evals == [
        {
            "source": "model-index",
            "task": "text-generation",
            "dataset": "cais/mmlu",
            "metrics": {"acc": 0.61, "acc_norm": 0.63},
            "produced_at": None,
            "details": {
                "file": "README.md",
                "model_name": "tiny-support-llama",
                "task_name": "Text Generation",
                "dataset_name": "MMLU",
                "dataset_config": "all",
                "dataset_split": "test",
                "dataset_revision": None,
                **leaderboard,
            },
        },
        {
            "source": "model-index",
            "task": "text-generation",
            "dataset": "openai/gsm8k",
            "metrics": {"exact_match": 0.35},
            "produced_at": None,
            "details": {
                "file": "README.md",
                "model_name": "tiny-support-llama",
                "task_name": None,
                "dataset_name": "GSM8K",
                "dataset_config": None,
                "dataset_split": "test",
                "dataset_revision": None,
                **source,
            },
        },
    ]
    assert found.upstream == [
        {
            "name": "meta-llama/Llama-3.2-1B",
            "relation": "base_model",
            "from": "README.md:base_model",
        },
        {"name": "acme/support-tickets", "relation": "dataset", "from": "README.md:datasets"},
        {"name": "acme/faq", "relation": "dataset", "from": "README.md:datasets"},
    ]
    assert found.warnings == [
        "README.md: model-index metric 'pass@1' on cais/mmlu is '20.0 ± 1.2', not a number; skipped"
    ]
    json.dumps(found.to_dict(), allow_nan=False)


def test_readme_without_front_matter_is_not_a_card(tmp_path: Path) -> None:
    folder = _model(tmp_path / "model")
    (folder / "README.md").write_text("# Just notes\n\n---\n\nMore notes.\n", encoding="utf-8")
    found = detect(folder)
    assert (found.card, found.evals, found.upstream) == ({}, [], [])


def test_config_without_model_type_is_not_a_model(tmp_path: Path) -> None:
    folder = tmp_path / "thing"
    write_json(folder / "config.json", {"batch_size": 8})
    assert detect(folder).format == "files"
    assert detect(folder).facts == {}


def test_sizes_from_text_config(tmp_path: Path) -> None:
    folder = tmp_path / "vlm"
    write_json(
        folder / "config.json",
        {
            "architectures": ["LlavaForConditionalGeneration"],
            "model_type": "llava",
            "text_config": {"hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 100},
        },
    )
    facts = detect(folder).facts
    assert (facts["hidden_size"], facts["num_hidden_layers"], facts["vocab_size"]) == (64, 2, 100)


@pytest.mark.parametrize(
    ("readme", "fragment"),
    [
        ("---\nlicense: mit\nlicense: apache-2.0\n---\n", "key 'license' is given twice"),
        ("---\nlicense: [mit\n---\n", "README.md front matter: line"),
        ("---\n- a\n- b\n---\n", "front matter must be a YAML mapping"),
        (
            "---\nmodel-index:\n- results:\n  - task: {type: x}\n---\n",
            "model card metadata cannot be read",
        ),
        (
            "---\nmodel-index:\n- name: m\n  results:\n  - task: {type: t}\n    dataset: "
            "{type: d, name: D}\n    metrics:\n    - {type: 'bad metric!', value: 1}\n---\n",
            "bad metric name",
        ),
        ("---\na: " + "[" * 900 + "]" * 900 + "\n---\n", "README.md: the front matter is nested"),
    ],
)
def test_malformed_card(tmp_path: Path, readme: str, fragment: str) -> None:
    folder = _model(tmp_path / "model")
    (folder / "README.md").write_text(readme, encoding="utf-8")
    bad_input(lambda: detect(folder), "README.md", fragment)


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ('{"model_type": "llama",', "config.json: not valid JSON (line 1"),
        ('{"model_type": "llama", "x": NaN}', "config.json: not valid JSON"),
        ("[1, 2]", "config.json: expected a JSON object, found list"),
        ('{"architectures": "LlamaForCausalLM"}', "'architectures' must be a list of strings"),
        ('{"model_type": "llama", "hidden_size": true}', "'hidden_size' must be an integer"),
        ('{"model_type": 7}', "'model_type' must be a string"),
    ],
)
def test_malformed_config(tmp_path: Path, config: str, fragment: str) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(config, encoding="utf-8")
    bad_input(lambda: detect(folder), fragment)


def test_config_that_is_not_utf8(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_bytes(b'{"model_type": "\xff"}')
    bad_input(lambda: detect(folder), "config.json: not UTF-8 text")
