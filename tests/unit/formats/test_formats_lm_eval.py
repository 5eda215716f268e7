"""lm-evaluation-harness results: current files, older ones, and what is not a results file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from formats_helpers import SAMPLES, bad_input, write_json

from registry_pipeline.core.evals import check_metrics
from registry_pipeline.formats import detect, read_lm_eval

pytestmark = pytest.mark.unit

CURRENT = SAMPLES / "lm_eval" / "results_2026-11-20T10-00-00.000000.json"
V040 = SAMPLES / "lm_eval" / "results_v0.4.0.json"
V03 = SAMPLES / "lm_eval" / "results_v0.3.json"


def _config(path: Path) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["config"]
    return config


def test_current_results_file() -> None:
    evals = read_lm_eval(CURRENT)
    common = {
        "file": CURRENT.name,
        "model_name": "meta-llama/Llama-3.2-1B-Instruct",
        "model": "hf",
        "config": _config(CURRENT),
        "lm_eval_version": "0.4.7",
        "git_hash": "8138fd52",
    }
    at = "2026-11-20T10:00:00.000000Z"
    assert evals == [
        {
            "source": "lm-eval",
            "task": "arc_easy",
            "dataset": "allenai/ai2_arc",
            "metrics": {"arc_easy/acc,none": 0.7453, "arc_easy/acc_norm,none": 0.7012},
            "produced_at": at,
            "details": {
                **common,
                "version": 1.0,
                "n_shot": 0,
                "higher_is_better": {"acc": True, "acc_norm": True},
                "n_samples": {"original": 2376, "effective": 2376},
                "stderr": {"arc_easy/acc,none": 0.0089, "arc_easy/acc_norm,none": 0.0094},
                "dataset_name": "ARC-Easy",
            },
        },
        {
            "source": "lm-eval",
            "task": "gsm8k",
            "dataset": "gsm8k",
            "metrics": {
                "gsm8k/exact_match,strict-match": 0.3411,
                "gsm8k/exact_match,flexible-extract": 0.3563,
            },
            "produced_at": at,
            "details": {
                **common,
                "version": 3.0,
                "n_shot": 5,
                "higher_is_better": {"exact_match": True},
                "n_samples": {"original": 1319, "effective": 1319},
                "stderr": {"gsm8k/exact_match,strict-match": 0.0131},
                "dataset_name": "main",
            },
        },
        {
            "source": "lm-eval",
            "task": "hellaswag",
            "dataset": "hellaswag",
            "metrics": {"hellaswag/acc,none": 0.5198, "hellaswag/acc_norm,none": 0.7021},
            "produced_at": at,
            "details": {
                **common,
                "version": 1.0,
                "n_shot": 0,
                "higher_is_better": {"acc": True, "acc_norm": True},
                "n_samples": {"original": 10042, "effective": 10042},
                "stderr": {"hellaswag/acc,none": 0.005, "hellaswag/acc_norm,none": 0.0046},
                "dataset_name": None,
            },
        },
    ]
    for result in evals:
        assert check_metrics(result["metrics"]) == result["metrics"]


def test_older_file_without_higher_is_better_or_n_samples() -> None:
    evals = read_lm_eval(V040)
    assert [(e["task"], e["dataset"], e["metrics"], e["produced_at"]) for e in evals] == [
        (
            "arc_challenge",
            "ai2_arc",
            {"arc_challenge/acc,none": 0.4198, "arc_challenge/acc_norm,none": 0.4429},
            None,
        ),
        ("winogrande", "winogrande", {"winogrande/acc,none": 0.6709}, None),
    ]
    assert evals[1]["details"] == {
        "file": V040.name,
        "model_name": "mistralai/Mistral-7B-v0.1",
        "model": "hf",
        "version": "Yaml",
        "n_shot": 5,
        "higher_is_better": None,
        "n_samples": None,
        "stderr": {"winogrande/acc,none": 0.0132},
        "dataset_name": "winogrande_xl",
        "config": _config(V040),
        "lm_eval_version": None,
        "git_hash": "4d7d2f6",
    }


def test_v03_file_metrics_without_filter_get_none() -> None:
    evals = read_lm_eval(V03)
    assert [(e["task"], e["metrics"]) for e in evals] == [
        ("hellaswag", {"hellaswag/acc,none": 0.2872, "hellaswag/acc_norm,none": 0.3088}),
        ("lambada_openai", {"lambada_openai/ppl,none": 38.2851, "lambada_openai/acc,none": 0.3276}),
    ]
    details = evals[1]["details"]
    assert details["n_shot"] == 0
    assert details["version"] == 0
    assert details["model_name"] == "EleutherAI/pythia-160m"
    assert details["stderr"] == {
        "lambada_openai/ppl,none": 1.4351,
        "lambada_openai/acc,none": 0.0065,
    }


def test_detect_reads_every_results_file(tmp_path: Path) -> None:
    found = detect(SAMPLES / "lm_eval")
    assert found.format == "files"
    assert found.facts == {}
    assert [e["task"] for e in found.evals] == [
        "arc_easy",
        "gsm8k",
        "hellaswag",
        "hellaswag",
        "lambada_openai",
        "arc_challenge",
        "winogrande",
    ]
    nested = tmp_path / "model" / "lm_eval" / "meta-llama__Llama-3.2-1B-Instruct"
    nested.mkdir(parents=True)
    (nested / CURRENT.name).write_bytes(CURRENT.read_bytes())
    write_json(tmp_path / "model" / "results.json", {"accuracy": 0.9})
    found = detect(tmp_path / "model")
    assert found.evals[0]["details"]["file"] == (
        f"lm_eval/meta-llama__Llama-3.2-1B-Instruct/{CURRENT.name}"
    )
    assert len(found.evals) == 3
    assert found.warnings == ["results.json: not an lm-evaluation-harness results file; not read"]
    assert detect(nested / CURRENT.name).evals == read_lm_eval(CURRENT, where=f"{CURRENT.name}")


def test_non_finite_values_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(
        '{"results": {"t": {"acc,none": 0.5, "f1,none": NaN, "acc_stderr,none": Infinity}},'
        ' "versions": {"t": 1}}',
        encoding="utf-8",
    )
    [result] = read_lm_eval(path)
    assert result["metrics"] == {"t/acc,none": 0.5}
    assert result["details"]["stderr"] == {}
    assert result["details"]["skipped"] == ["t/f1,none", "t/acc,none (stderr)"]


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ("{", "not valid JSON (line 1"),
        ('{"accuracy": 0.9}', "not an lm-evaluation-harness results file"),
        ('{"results": {"t": {"alias": "t"}}, "versions": {}}', "no task in 'results' has"),
        ('{"results": {"t": [1]}, "versions": {}}', "results.t: expected a JSON object"),
        ('{"results": {"t": {"acc": 1}}, "versions": [1]}', "'versions' must be a JSON object"),
        ('{"results": {"t!": {"acc": 1}}, "versions": {}}', "bad metric name 't!/acc,none'"),
    ],
)
def test_malformed_results(tmp_path: Path, document: str, fragment: str) -> None:
    path = tmp_path / "results_x.json"
    path.write_text(document, encoding="utf-8")
    bad_input(lambda: read_lm_eval(path), "results_x.json", fragment)
