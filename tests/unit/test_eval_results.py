"""Eval results documents (inputs/eval_results.py): the registry's shape, flat metrics, and
lm-evaluation-harness output named exactly as ``register`` names it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from registry_pipeline.errors import BadInput, NotFound
from registry_pipeline.formats import read_lm_eval
from registry_pipeline.inputs.eval_results import (
    EvalDocument,
    parse_eval_results,
    read_eval_results,
)

pytestmark = pytest.mark.unit

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "formats" / "lm_eval"
CURRENT = SAMPLES / "results_2026-11-20T10-00-00.000000.json"
V040 = SAMPLES / "results_v0.4.0.json"
V03 = SAMPLES / "results_v0.3.json"


def test_registry_shape() -> None:
    parsed = parse_eval_results(
        {
            "metrics": {"accuracy": 0.9, "latency_ms": 120},
            "produced_at": "2026-11-20T10:00:00Z",
            "details": {"run": "nightly"},
        }
    )
    assert parsed == EvalDocument(
        metrics={"accuracy": 0.9, "latency_ms": 120.0},
        produced_at=datetime(2026, 11, 20, 10, tzinfo=UTC),
        details={"run": "nightly"},
    )


def test_flat_mapping_of_metric_to_number() -> None:
    assert parse_eval_results({"accuracy": 1}) == EvalDocument(metrics={"accuracy": 1.0})


@pytest.mark.parametrize("path", [CURRENT, V040, V03], ids=["0.4.7", "0.4.0", "0.3"])
def test_harness_metrics_are_named_as_register_names_them(path: Path) -> None:
    registered = {k: v for task in read_lm_eval(path) for k, v in task["metrics"].items()}
    assert dict(read_eval_results(path).metrics) == registered


def test_harness_file_keeps_versions_n_shot_and_stderr_in_details() -> None:
    parsed = read_eval_results(CURRENT)
    assert parsed.metrics["arc_easy/acc,none"] == 0.7453
    assert parsed.metrics["gsm8k/exact_match,strict-match"] == 0.3411
    assert parsed.produced_at == datetime(2026, 11, 20, 10, tzinfo=UTC)
    details = parsed.details
    assert details["source"] == "lm-eval"
    assert details["file"] == CURRENT.name
    assert details["tasks"] == ["arc_easy", "gsm8k", "hellaswag"]
    assert details["lm_eval_version"] == "0.4.7"
    assert details["versions"] == {"arc_easy": 1.0, "gsm8k": 3.0, "hellaswag": 1.0}
    assert details["n_shot"] == {"arc_easy": 0, "gsm8k": 5, "hellaswag": 0}
    assert details["higher_is_better"]["arc_easy"] == {"acc": True, "acc_norm": True}
    assert details["stderr"]["arc_easy/acc,none"] == 0.0089
    assert details["model_name"] == "meta-llama/Llama-3.2-1B-Instruct"
    assert "gsm8k/exact_match,flexible-extract" not in details["stderr"]
    json.dumps(details)


def test_harness_file_without_a_date_is_produced_when_recorded() -> None:
    parsed = read_eval_results(V040)
    assert parsed.produced_at is None
    assert parsed.details["n_shot"] == {"arc_challenge": 25, "winogrande": 5}


def test_harness_json_with_nan_is_read(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(
        '{"results": {"mmlu": {"acc,none": 0.61, "acc_stderr,none": NaN}},'
        ' "versions": {"mmlu": 2}, "n-shot": {"mmlu": 5},'
        ' "higher_is_better": {"mmlu": {"acc": true}}}',
        encoding="utf-8",
    )
    parsed = read_eval_results(path)
    assert parsed.metrics == {"mmlu/acc,none": 0.61}
    assert parsed.details["skipped"] == ["mmlu/acc,none (stderr)"]


def test_yaml_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "results.yaml"
    path.write_text("metrics: {accuracy: 0.8}\nproduced_at: 2026-11-01\n", encoding="utf-8")
    parsed = read_eval_results(path)
    assert parsed.metrics == {"accuracy": 0.8}
    assert parsed.produced_at == datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ([0.9], "must be a mapping of metric name to number"),
        ({"metrics": {"accuracy": "high"}}, "metric 'accuracy' is str; metric values must be"),
        ({"metrics": {"a": 1}, "extra": 1}, "unknown key 'extra'; use metrics, produced_at"),
        ({"metrics": {"a": 1}, "details": [1]}, "details must be a mapping"),
        ({"metrics": {"a": 1}, "produced_at": "yesterday"}, "invalid produced_at 'yesterday'"),
        ({"results": {"arc": {"acc,none": 0.5}}}, "not an lm-evaluation-harness results file"),
        (
            {"results": {"arc": {"alias": "arc"}}, "versions": {"arc": 1}},
            "no task in 'results' has a numeric metric",
        ),
        (
            {"results": [0.5], "versions": {}},
            "metric 'results' is list; metric values must be numbers; eval results are",
        ),
    ],
)
def test_malformed_documents_are_one_line_bad_input(document: object, fragment: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_eval_results(document, where="r.json")
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_json_key_given_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"accuracy": 0.9, "accuracy": 0.1}', encoding="utf-8")
    with pytest.raises(BadInput, match="key 'accuracy' is given twice"):
        read_eval_results(path)


def test_missing_and_oversized_files(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        read_eval_results(tmp_path / "missing.json")
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (4 * 1024 * 1024 + 1))
    with pytest.raises(BadInput, match="larger than 4 MiB"):
        read_eval_results(big)
