"""Retrieval index manifests and A/B test results: documented JSON formats, validated."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from formats_helpers import SAMPLES, bad_input, sample, write_json

from registry_pipeline.core.ab_tests import ABDecision, ABResult
from registry_pipeline.formats import detect, read_ab_result, read_index_manifest

pytestmark = pytest.mark.unit

AB = json.loads((SAMPLES / "ab_result.json").read_text(encoding="utf-8"))
INDEX = json.loads((SAMPLES / "retrieval" / "index.json").read_text(encoding="utf-8"))


def test_index_manifest(tmp_path: Path) -> None:
    found = detect(sample("retrieval", tmp_path))
    assert found.format == "retrieval-index"
    assert found.facts == {
        "embedding_model": "bge-small-en@3",
        "chunking": {"strategy": "sliding_window", "max_tokens": 512, "overlap": 64},
        "documents": 1200,
        "chunks": 9876,
        "source_snapshot": "kb-docs-2026-11@2",
        "dimension": 384,
        "similarity": "cosine",
    }
    assert found.upstream == [
        {
            "name": "bge-small-en@3",
            "relation": "embedding_model",
            "from": "index.json:embedding_model",
        },
        {
            "name": "kb-docs-2026-11@2",
            "relation": "source_snapshot",
            "from": "index.json:source_snapshot",
        },
    ]
    assert detect(SAMPLES / "retrieval" / "index.json").facts == found.facts


def test_index_with_plain_names_and_no_options(tmp_path: Path) -> None:
    document = {**INDEX, "embedding_model": "BAAI/bge-small-en-v1.5", "source_snapshot": "2026-11"}
    del document["dimension"], document["similarity"]
    write_json(tmp_path / "index.json", document)
    manifest = read_index_manifest(tmp_path / "index.json")
    assert manifest.embedding_model == "BAAI/bge-small-en-v1.5"
    assert "dimension" not in detect(tmp_path).facts


def test_index_json_that_is_not_a_manifest_is_ignored(tmp_path: Path) -> None:
    write_json(tmp_path / "index.json", {"pages": [1, 2]})
    assert detect(tmp_path).format == "files"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"embedding_model": "bge-small-en@latest"}, "is not a version number"),
        ({"embedding_model": "two words"}, "must be ENTRY@VERSION or a name without spaces"),
        ({"chunking": {}}, "chunking: describe the chunking"),
        ({"chunking": "section"}, "chunking: Input should be a valid dictionary"),
        ({"documents": -1}, "documents: must be a count"),
        ({"chunks": 1.5}, "chunks: Input should be a valid integer"),
        ({"documents": 0}, "9876 chunks but no documents"),
        ({"dimension": 0}, "dimension: must be 1 or more"),
        ({"vectors": "v.parquet"}, "unknown key 'vectors'"),
        ({"source_snapshot": None}, "'source_snapshot' is missing"),
    ],
)
def test_invalid_index(tmp_path: Path, change: dict[str, Any], fragment: str) -> None:
    document = {k: v for k, v in {**INDEX, **change}.items() if v is not None}
    write_json(tmp_path / "index.json", document)
    bad_input(lambda: detect(tmp_path), "index.json: ", fragment)


def test_index_not_json(tmp_path: Path) -> None:
    (tmp_path / "index.json").write_text("embedding_model: x\n", encoding="utf-8")
    bad_input(lambda: detect(tmp_path), "index.json: not valid JSON (line 1 column 1")


def test_ab_result() -> None:
    result = read_ab_result(SAMPLES / "ab_result.json")
    assert isinstance(result, ABResult)
    assert (result.entry, result.control_version, result.treatment_version) == (
        "support-lora",
        1,
        2,
    )
    assert result.ended_at == datetime(2026, 11, 15, 11, 0, tzinfo=UTC)
    assert result.to_document() == {
        **AB,
        "ended_at": "2026-11-15T11:00:00Z",
    }
    assert result.decision is ABDecision.SHIP
    with pytest.raises(FrozenInstanceError):
        setattr(result, "decision", "hold")  # noqa: B010 - frozen: must raise


def test_ab_defaults_and_naive_times(tmp_path: Path) -> None:
    document = {**AB, "started_at": "2026-11-01", "ended_at": "2026-11-02T00:00:00"}
    del document["lift_kind"]
    document["confidence_interval"] = {"low": 0.0, "high": 0.05}
    path = write_json(tmp_path / "ab.json", document)
    result = read_ab_result(path)
    assert result.lift_kind == "absolute"
    assert result.confidence_interval.level == 0.95
    assert result.started_at == datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"confidence_interval": {"low": 0.04, "high": 0.05}}, "must contain the lift 0.031"),
        ({"confidence_interval": {"low": 0, "high": 1, "level": 1}}, "level: Input should be"),
        ({"treatment_version": 1}, "control_version and treatment_version must differ"),
        ({"control_version": 0}, "control_version: Input should be greater than or equal to 1"),
        ({"treatment_share": 1}, "treatment_share: Input should be less than 1"),
        ({"treatment_share": "0.5"}, "treatment_share: Input should be a valid number"),
        ({"p_value": 1.2}, "p_value: Input should be less than or equal to 1"),
        ({"decision": "launch"}, "decision: Input should be 'ship', 'hold' or 'rollback'"),
        ({"ended_at": "2026-10-01T00:00:00Z"}, "ended_at must be after started_at"),
        ({"started_at": "last week"}, "started_at: 'last week' is not ISO 8601"),
        ({"entry": "Support Lora"}, "invalid entry name 'Support Lora'"),
        ({"metric": "resolution rate!"}, "bad metric name"),
        ({"experiment": ""}, "experiment: String should have at least 1 character"),
        ({"experiment": "exp\n1"}, "experiment: use printable characters"),
        ({"lift_kind": "percent"}, "lift_kind: Input should be 'absolute' or 'relative'"),
        ({"owner": "me"}, "unknown key 'owner'"),
        ({"metric": None}, "'metric' is missing"),
        ({"control_version": True}, "control_version: Input should be a valid integer"),
    ],
)
def test_invalid_ab_result(tmp_path: Path, change: dict[str, Any], fragment: str) -> None:
    document = {k: v for k, v in {**AB, **change}.items() if v is not None}
    path = write_json(tmp_path / "ab.json", document)
    bad_input(lambda: read_ab_result(path), "ab.json: ", fragment)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[]", "expected a mapping (object) of keys to values"),
        ('{"lift": NaN}', "not valid JSON"),
        ("{", "not valid JSON (line 1"),
    ],
)
def test_ab_result_not_an_object(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "ab.json"
    path.write_text(text, encoding="utf-8")
    bad_input(lambda: read_ab_result(path), "ab.json: ", fragment)
