"""sentence-transformers folders: modules.json, Pooling / Dense / Normalize, library config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from formats_helpers import bad_input, sample, write_json, write_weights

from registry_pipeline.formats import detect

pytestmark = pytest.mark.unit


def _model(tmp_path: Path) -> Path:
    folder = sample("sentence_transformers", tmp_path)
    write_weights(
        folder / "model.safetensors",
        {
            "embeddings.word_embeddings.weight": np.zeros((128, 32), np.float32),
            "pooler.dense.weight": np.zeros((32, 32), np.float32),
        },
    )
    write_weights(
        folder / "2_Dense" / "model.safetensors",
        {"linear.weight": np.zeros((16, 32), np.float32)},
    )
    return folder


def test_sentence_transformer_facts(tmp_path: Path) -> None:
    folder = _model(tmp_path)
    found = detect(folder)
    assert found.format == "sentence-transformers"
    assert found.facts == {
        "modules": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Dense",
                "type": "sentence_transformers.models.Dense",
            },
            {
                "idx": 3,
                "name": "3",
                "path": "3_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
        "architectures": ["BertModel"],
        "model_type": "bert",
        "torch_dtype": "float32",
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "vocab_size": 128,
        "max_seq_length": 256,
        "parameter_count": 128 * 32 + 32 * 32,
        "tensor_count": 2,
        "dtypes": {"F32": 2},
        "largest_tensors": [
            {"name": "embeddings.word_embeddings.weight", "shape": [128, 32], "dtype": "F32"},
            {"name": "pooler.dense.weight", "shape": [32, 32], "dtype": "F32"},
        ],
        "shards": 1,
        "total_bytes": (folder / "model.safetensors").stat().st_size,
        "pooling_modes": ["mean"],
        "embedding_dimension": 32,
        "output_dimension": 16,
        "normalize": True,
        "similarity_fn_name": "cosine",
        "sentence_transformers_version": "3.3.1",
    }
    assert found.warnings == []


def test_pooling_defaults_follow_sentence_transformers(tmp_path: Path) -> None:
    folder = _model(tmp_path)
    write_json(
        folder / "1_Pooling" / "config.json",
        {"word_embedding_dimension": 32, "pooling_mode_cls_token": True},
    )
    found = detect(folder)
    assert found.facts["pooling_modes"] == ["cls", "mean"]
    assert found.warnings == [
        "1_Pooling/config.json: pooling_mode_mean_tokens is not set and sentence-transformers "
        "defaults it to true; write every pooling_mode_* flag"
    ]


def test_pooling_mode_string_and_no_dense(tmp_path: Path) -> None:
    folder = tmp_path / "st"
    write_json(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "pool", "type": "sentence_transformers.models.Pooling"},
        ],
    )
    write_json(
        folder / "pool" / "config.json", {"word_embedding_dimension": 8, "pooling_mode": "CLS"}
    )
    write_weights(folder / "model.safetensors", {"w": np.zeros((4, 8), np.float16)})
    found = detect(folder)
    assert found.facts["pooling_modes"] == ["cls"]
    assert (found.facts["embedding_dimension"], found.facts["output_dimension"]) == (8, 8)
    assert found.facts["normalize"] is False
    assert "similarity_fn_name" not in found.facts


@pytest.mark.parametrize(
    ("path", "document", "fragment"),
    [
        ("modules.json", "[]", "modules.json: expected a non-empty JSON list of modules"),
        ("modules.json", '[{"idx": 0}]', "modules.json module 0: each module needs"),
        (
            "modules.json",
            '[{"idx": 0, "name": "0", "path": "../x", "type": "t"}]',
            "path '../x' is not a folder inside the model",
        ),
        ("1_Pooling/config.json", "{}", "1_Pooling/config.json: 'word_embedding_dimension' is"),
        (
            "1_Pooling/config.json",
            '{"word_embedding_dimension": 4, "pooling_mode": "median"}',
            "pooling_mode 'median' is not one of",
        ),
        (
            "1_Pooling/config.json",
            '{"word_embedding_dimension": 4, "pooling_mode_mean_tokens": false}',
            "no pooling mode is true",
        ),
        (
            "1_Pooling/config.json",
            '{"word_embedding_dimension": 4, "pooling_mode_max_tokens": "yes"}',
            "'pooling_mode_max_tokens' must be true or false",
        ),
        ("2_Dense/config.json", '{"in_features": 32}', "2_Dense/config.json: 'out_features'"),
        ("sentence_bert_config.json", '{"max_seq_length": -1}', "'max_seq_length' must be"),
        ("config_sentence_transformers.json", "{", "config_sentence_transformers.json: not"),
    ],
)
def test_malformed_files(tmp_path: Path, path: str, document: str, fragment: str) -> None:
    folder = _model(tmp_path)
    (folder / path).write_text(document, encoding="utf-8")
    bad_input(lambda: detect(folder), fragment)


def test_listed_pooling_module_without_config(tmp_path: Path) -> None:
    folder = _model(tmp_path)
    (folder / "1_Pooling" / "config.json").unlink()
    bad_input(
        lambda: detect(folder),
        "modules.json: lists a Pooling module whose 1_Pooling/config.json is missing",
    )
