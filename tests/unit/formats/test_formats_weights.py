"""safetensors headers: single files, sharded checkpoints in the HF layout, malformed ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from formats_helpers import bad_input, write_json, write_weights

from registry_pipeline.formats import detect
from registry_pipeline.formats.safetensors_files import read_header, read_sharded

pytestmark = pytest.mark.unit

CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "torch_dtype": "float16"}


def _sharded(folder: Path) -> Path:
    """Two shards and their index, as transformers' save_pretrained lays them out."""
    write_json(folder / "config.json", CONFIG)
    write_weights(
        folder / "model-00001-of-00002.safetensors",
        {
            "model.embed_tokens.weight": np.zeros((16, 8), np.float32),
            "model.norm.weight": np.ones((8,), np.float16),
        },
    )
    write_weights(
        folder / "model-00002-of-00002.safetensors",
        {"lm_head.weight": np.zeros((16, 8), np.float16), "step": np.zeros((), np.int64)},
    )
    write_json(
        folder / "model.safetensors.index.json",
        {
            "metadata": {"total_size": 16 * 8 * 4 + 8 * 2 + 16 * 8 * 2 + 8},
            "weight_map": {
                "lm_head.weight": "model-00002-of-00002.safetensors",
                "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
                "model.norm.weight": "model-00001-of-00002.safetensors",
                "step": "model-00002-of-00002.safetensors",
            },
        },
    )
    return folder


def test_header_is_read_without_loading(tmp_path: Path) -> None:
    path = write_weights(
        tmp_path / "model.safetensors",
        {"w": np.zeros((3, 4), np.float16), "b": np.zeros((4,), np.float32)},
    )
    tensors = read_header(path, "model.safetensors")
    assert {name: (t.dtype, t.shape) for name, t in tensors.items()} == {
        "b": ("F32", (4,)),
        "w": ("F16", (3, 4)),
    }


def test_sharded_checkpoint_facts(tmp_path: Path) -> None:
    folder = _sharded(tmp_path / "model")
    found = detect(folder)
    shards = [folder / f"model-0000{i}-of-00002.safetensors" for i in (1, 2)]
    assert found.format == "huggingface-model"
    assert found.facts == {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "torch_dtype": "float16",
        "parameter_count": 16 * 8 + 8 + 16 * 8 + 1,
        "tensor_count": 4,
        "dtypes": {"F16": 2, "F32": 1, "I64": 1},
        "largest_tensors": [
            {"name": "lm_head.weight", "shape": [16, 8], "dtype": "F16"},
            {"name": "model.embed_tokens.weight", "shape": [16, 8], "dtype": "F32"},
            {"name": "model.norm.weight", "shape": [8], "dtype": "F16"},
        ],
        "shards": 2,
        "total_bytes": sum(p.stat().st_size for p in shards),
    }
    assert found.warnings == []


def test_single_file_is_preferred_to_an_index(tmp_path: Path) -> None:
    folder = _sharded(tmp_path / "model")
    write_weights(folder / "model.safetensors", {"w": np.zeros((2, 2), np.float32)})
    found = detect(folder)
    assert found.facts["parameter_count"] == 4
    assert found.facts["shards"] == 1
    assert found.warnings == [
        "model.safetensors.index.json is ignored: model.safetensors is read instead"
    ]


def test_index_total_size_mismatch_and_unlisted_tensor_are_warnings(tmp_path: Path) -> None:
    folder = _sharded(tmp_path / "model")
    index = folder / "model.safetensors.index.json"
    write_json(
        index,
        {
            "metadata": {"total_size": 1},
            "weight_map": {
                "lm_head.weight": "model-00002-of-00002.safetensors",
                "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
                "model.norm.weight": "model-00001-of-00002.safetensors",
            },
        },
    )
    report = read_sharded(folder, index)
    assert report.facts["tensor_count"] == 3
    assert report.warnings == [
        "model-00002-of-00002.safetensors: 1 tensor(s) not listed in "
        "model.safetensors.index.json (e.g. 'step') are ignored",
        "model.safetensors.index.json: metadata.total_size is 1 bytes but the tensors hold 784",
    ]


def test_index_listing_a_missing_shard(tmp_path: Path) -> None:
    folder = _sharded(tmp_path / "model")
    (folder / "model-00002-of-00002.safetensors").unlink()
    bad_input(
        lambda: detect(folder),
        "model.safetensors.index.json",
        "'model-00002-of-00002.safetensors', which is missing",
    )


def test_index_tensor_not_in_its_shard(tmp_path: Path) -> None:
    folder = _sharded(tmp_path / "model")
    write_weights(folder / "model-00002-of-00002.safetensors", {"other": np.zeros(2, np.float32)})
    bad_input(
        lambda: detect(folder),
        "model.safetensors.index.json",
        "tensor 'lm_head.weight' is not in its shard 'model-00002-of-00002.safetensors'",
    )


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ("{", "not valid JSON (line 1"),
        ('{"weight_map": {}}', "'weight_map' must map"),
        ('{"weight_map": {"a": 3}}', "maps to 3, not a file"),
        ('{"weight_map": {"a": "../outside.safetensors"}}', "is not a file beside the index"),
        (
            '{"metadata": {"total_size": "big"}, "weight_map": {"a": "m.safetensors"}}',
            "metadata.total_size must be a byte count",
        ),
    ],
)
def test_malformed_index(tmp_path: Path, document: str, fragment: str) -> None:
    folder = tmp_path / "model"
    write_json(folder / "config.json", CONFIG)
    (folder / "model.safetensors.index.json").write_text(document, encoding="utf-8")
    bad_input(lambda: detect(folder), "model.safetensors.index.json", fragment)


@pytest.mark.parametrize(
    ("cut", "fragment"),
    [
        (0, "header too small"),
        (20, "invalid header length"),
        (-4, "file not fully covered"),
    ],
)
def test_truncated_safetensors(tmp_path: Path, cut: int, fragment: str) -> None:
    folder = tmp_path / "model"
    write_json(folder / "config.json", CONFIG)
    path = write_weights(folder / "model.safetensors", {"w": np.zeros((4, 4), np.float32)})
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    bad_input(lambda: detect(folder), "model.safetensors: not a valid safetensors file", fragment)


def test_loose_safetensors_are_files_with_weight_facts(tmp_path: Path) -> None:
    folder = tmp_path / "weights"
    write_weights(folder / "a.safetensors", {"x": np.zeros((2, 3), np.float32)})
    write_weights(folder / "b.safetensors", {"y": np.zeros((5,), np.uint8)})
    found = detect(folder)
    assert found.format == "files"
    assert found.facts["parameter_count"] == 11
    assert found.facts["dtypes"] == {"F32": 1, "U8": 1}
    assert found.facts["shards"] == 2
    single = detect(folder / "b.safetensors")
    assert single.format == "files"
    assert single.facts["tensor_count"] == 1


def test_pickled_weights_are_never_read(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    write_json(folder / "config.json", CONFIG)
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    found = detect(folder)
    assert found.format == "huggingface-model"
    assert "parameter_count" not in found.facts
    assert found.warnings == [
        "pytorch_model.bin is a pickle and is not read; convert the weights to safetensors "
        "to record their facts"
    ]
