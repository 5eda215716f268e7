"""detect() on the example estate, on unknown content, and on malformed known files:
a malformed known file is always a one-line BadInput naming it, never another exception."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from formats_helpers import bad_input, load_examples, write_json, write_weights

from registry_pipeline.errors import BadInput, SourceError
from registry_pipeline.formats import FORMATS, Detected, detect

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The example estate, generated once by examples/generate.py: entry -> output folder."""
    root = tmp_path_factory.mktemp("estate")
    waves = load_examples().generate(root)
    return {folder.parent.name: folder for wave in waves for folder in wave}


def _json_ready(found: Detected) -> None:
    assert found.format in FORMATS
    assert json.loads(json.dumps(found.to_dict(), allow_nan=False)) == found.to_dict()


def test_example_base_model(estate: dict[str, Path]) -> None:
    found = detect(estate["llama-3.2-1b-instruct"])
    _json_ready(found)
    assert found.format == "huggingface-model"
    facts = dict(found.facts)
    assert facts.pop("total_bytes") == (
        (estate["llama-3.2-1b-instruct"] / "model.safetensors").stat().st_size
    )
    assert facts == {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "torch_dtype": "float16",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "vocab_size": 256,
        "parameter_count": 256 * 64 + 2 * 4 * 64 * 64,
        "tensor_count": 9,
        "dtypes": {"F16": 8, "F32": 1},
        "largest_tensors": [
            {"name": "model.embed_tokens.weight", "shape": [256, 64], "dtype": "F32"},
            {"name": "model.layers.0.self_attn.k_proj.weight", "shape": [64, 64], "dtype": "F16"},
            {"name": "model.layers.0.self_attn.o_proj.weight", "shape": [64, 64], "dtype": "F16"},
        ],
        "shards": 1,
    }
    assert found.card == {
        "license": "llama3.2",
        "language": ["en"],
        "pipeline_tag": "text-generation",
    }
    assert (found.evals, found.upstream, found.warnings) == ([], [], [])


def test_example_lora(estate: dict[str, Path]) -> None:
    found = detect(estate["support-lora"])
    _json_ready(found)
    assert found.format == "peft-lora"
    assert found.upstream == [
        {
            "name": "llama-3.2-1b-instruct",
            "relation": "base_model",
            "from": "adapter_config.json:base_model_name_or_path",
        }
    ]
    facts = found.facts
    assert {k: facts[k] for k in ("peft_type", "task_type", "r", "lora_alpha")} == {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": 8,
        "lora_alpha": 16,
    }
    assert facts["target_modules"] == ["q_proj", "v_proj"]
    assert (facts["parameter_count"], facts["tensor_count"]) == (2 * 2 * 2 * 8 * 64, 8)
    assert found.warnings == []


def test_example_embedding_model(estate: dict[str, Path]) -> None:
    found = detect(estate["bge-small-en"])
    _json_ready(found)
    assert found.format == "sentence-transformers"
    assert found.facts["embedding_dimension"] == 32
    assert found.facts["hidden_size"] == 32
    assert found.facts["parameter_count"] == 128 * 32
    assert found.facts["pooling_modes"] == ["cls"]
    assert found.facts["output_dimension"] == 32
    assert found.warnings == []


def test_example_prompt(estate: dict[str, Path]) -> None:
    found = detect(estate["support-prompt"])
    _json_ready(found)
    assert found.format == "prompt-template"
    assert found.facts == {
        "template": "prompt.jinja",
        "variables_file": "prompt.json",
        "engine": "jinja2",
        "variables": ["company", "documents", "question"],
    }


def test_example_index(estate: dict[str, Path]) -> None:
    found = detect(estate["kb-index"])
    _json_ready(found)
    assert found.format == "retrieval-index"
    assert found.upstream == [
        {
            "name": "bge-small-en@1",
            "relation": "embedding_model",
            "from": "index.json:embedding_model",
        },
        {
            "name": "kb-docs-2026-11@1",
            "relation": "source_snapshot",
            "from": "index.json:source_snapshot",
        },
    ]
    assert found.facts == {
        "embedding_model": "bge-small-en@1",
        "chunking": {"strategy": "section", "max_tokens": 256},
        "documents": 3,
        "chunks": 12,
        "source_snapshot": "kb-docs-2026-11@1",
    }


def test_example_classifier_and_plain_outputs(estate: dict[str, Path]) -> None:
    found = detect(estate["credit-risk-clf"])
    assert found.format == "files"
    assert found.facts["parameter_count"] == 3
    for entry in (
        "support-tickets-2026q3",
        "kb-docs-2026-11",
        "support-evals",
        "loan-applications-2026h1",
        "credit-evals",
    ):
        plain = detect(estate[entry])
        assert plain == Detected(format="files"), entry


def test_every_example_output_is_json_ready(estate: dict[str, Path]) -> None:
    for folder in estate.values():
        _json_ready(detect(folder))


def test_unknown_content_and_sources(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("# notes\n", encoding="utf-8")
    (tmp_path / "data.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    assert detect(tmp_path) == Detected(format="files")
    assert detect(str(tmp_path / "data.csv")) == Detected(format="files")
    with pytest.raises(SourceError, match="does not exist"):
        detect(tmp_path / "missing")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe")
        with pytest.raises(SourceError, match="not a regular file or folder"):
            detect(tmp_path / "pipe")


def _base_model(folder: Path) -> None:
    write_json(folder / "config.json", {"model_type": "llama", "architectures": ["X"]})
    write_weights(folder / "model.safetensors", {"w": np.zeros((4, 4), np.float32)})


def _truncated_header(folder: Path) -> None:
    _base_model(folder)
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[:12])


def _missing_shard(folder: Path) -> None:
    write_json(folder / "config.json", {"model_type": "llama"})
    write_weights(folder / "model-00001-of-00002.safetensors", {"a": np.zeros(2, np.float32)})
    write_json(
        folder / "model.safetensors.index.json",
        {
            "weight_map": {
                "a": "model-00001-of-00002.safetensors",
                "b": "model-00002-of-00002.safetensors",
            }
        },
    )


def _adapter_without_base(folder: Path) -> None:
    write_json(folder / "adapter_config.json", {"peft_type": "LORA", "r": 8})


def _invalid_json(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "modules.json").write_text('[{"idx": 0,}]', encoding="utf-8")


def _undeclared_variable(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "prompt.jinja").write_text("{{ company }} {{ secret }}", encoding="utf-8")
    write_json(folder / "prompt.json", {"variables": ["company"]})


def _http_endpoint(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "provider.yaml").write_text(
        "provider: acme\nmodel_id: m1\nsnapshot: '2026-01-01'\nendpoint: http://acme.test/v1\n",
        encoding="utf-8",
    )


@pytest.mark.parametrize(
    ("build", "fragments"),
    [
        (_truncated_header, ["model.safetensors: not a valid safetensors file"]),
        (_missing_shard, ["model.safetensors.index.json", "'model-00002-of-00002.safetensors'"]),
        (_adapter_without_base, ["adapter_config.json", "'base_model_name_or_path' is missing"]),
        (_invalid_json, ["modules.json: not valid JSON (line 1 column 12"]),
        (_undeclared_variable, ["prompt.jinja", "undeclared variable(s) secret"]),
        (_http_endpoint, ["provider.yaml", "must be an https:// URL"]),
    ],
)
def test_malformed_known_files(
    tmp_path: Path, build: Callable[[Path], None], fragments: list[str]
) -> None:
    folder = tmp_path / "source"
    build(folder)
    bad_input(lambda: detect(folder), *fragments)


#: Ways to break a file: each gives new bytes from the old ones.
MUTATIONS: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda b: b"",
    "half": lambda b: b[: len(b) // 2],
    "binary": lambda b: bytes(range(256)) * 4,
    "not-utf8": lambda b: b"\xff\xfe" + b,
    "null": lambda b: b"null",
    "list": lambda b: b"[1, 2]",
    "number": lambda b: b"12",
    "string": lambda b: b'"text"',
    "empty-object": lambda b: b"{}",
    "wrong-types": lambda b: json.dumps(
        {k: [k] for k in ("model_type", "architectures", "peft_type", "embedding_model", "r")}
        | {"base_model_name_or_path": 3, "variables": 7, "weight_map": {"x": None}}
    ).encode(),
    "deep": lambda b: b"[" * 200_000 + b"]" * 200_000,
    "yaml-front-matter": lambda b: b"---\n" + b"[" * 5000 + b"\n---\n",
    "huge-header": lambda b: (2**62).to_bytes(8, "little") + b"{}",
}
KNOWN_FILES = {
    "llama-3.2-1b-instruct": ["config.json", "model.safetensors", "README.md"],
    "support-lora": ["adapter_config.json", "adapter_model.safetensors"],
    "bge-small-en": ["modules.json", "config.json", "1_Pooling/config.json", "model.safetensors"],
    "support-prompt": ["prompt.jinja", "prompt.json"],
    "kb-index": ["index.json"],
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_broken_files_give_only_bad_input(
    estate: dict[str, Path], tmp_path: Path, mutation: str
) -> None:
    for entry, names in KNOWN_FILES.items():
        for name in names:
            folder = tmp_path / entry / name.replace("/", "_")
            _copy_tree(estate[entry], folder)
            target = folder / name
            target.write_bytes(MUTATIONS[mutation](target.read_bytes()))
            try:
                found = detect(folder)
            except BadInput as e:
                message = str(e)
                assert "\n" not in message, (entry, name, message)
                assert len(message) < 500, (entry, name, message)
            else:
                _json_ready(found)


def _copy_tree(source: Path, target: Path) -> None:
    for path in source.rglob("*"):
        if path.is_file():
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(path.read_bytes())
