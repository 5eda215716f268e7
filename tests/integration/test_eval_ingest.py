"""``registry eval ingest`` takes the JSON lm-evaluation-harness writes, through the real CLI,
and a policy threshold on its ``acc,none`` gates the promotion."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import raw_rows

from registry_pipeline.service import Registry

pytestmark = pytest.mark.integration

OWNER = "ml@example.com"
APPROVER = "bob@example.com"
METRIC = "arc_easy/acc,none"
RunCli = Callable[..., Any]


@pytest.fixture
def estate(tmp_path: Path, db_url: str) -> Path:
    """A model, the suite that evaluates it with a threshold on arc_easy's acc,none, and a
    suite named after the harness task (which ``register`` files a results file under)."""
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        yaml.safe_dump(
            {
                "entries": {
                    "chat-model": {"kind": "base_model", "owner": OWNER, "license": "mit"},
                    "arc-suite": {
                        "kind": "eval_suite",
                        "owner": OWNER,
                        "evaluates": ["chat-model"],
                    },
                    "arc_easy": {"kind": "eval_suite", "owner": OWNER, "evaluates": ["chat-model"]},
                },
                "policy": {
                    "approvers": [APPROVER],
                    "stages": {
                        "staging": {"approvals": 1, "evals": {"arc-suite": {METRIC: ">= 0.7"}}}
                    },
                },
            }
        )
    )
    Registry.init(db_url, catalog=catalog, actor=OWNER)
    owner = Registry.open(db_url, actor=OWNER)
    for name, content in (("chat-model", "v1"), ("chat-model", "v2"), ("arc-suite", "s")):
        folder = tmp_path / "src" / f"{name}-{content}"
        folder.mkdir(parents=True)
        (folder / "weights.bin").write_text(f"{name} {content}")
        owner.register(name, folder)
    suite = tmp_path / "src" / "arc_easy"
    suite.mkdir()
    (suite / "tasks.txt").write_text("arc_easy")
    owner.register("arc_easy", suite)
    return tmp_path


def harness_results(path: Path, acc: float) -> Path:
    """What lm-evaluation-harness 0.4 writes for one task (``--output_path``)."""
    document = {
        "results": {
            "arc_easy": {
                "alias": "arc_easy",
                "acc,none": acc,
                "acc_stderr,none": 0.0089,
                "acc_norm,none": 0.7012,
                "acc_norm_stderr,none": 0.0094,
            }
        },
        "group_subtasks": {"arc_easy": []},
        "configs": {
            "arc_easy": {
                "task": "arc_easy",
                "dataset_path": "allenai/ai2_arc",
                "dataset_name": "ARC-Easy",
                "num_fewshot": 0,
                "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
            }
        },
        "versions": {"arc_easy": 1.0},
        "n-shot": {"arc_easy": 0},
        "higher_is_better": {"arc_easy": {"acc": True, "acc_norm": True}},
        "n-samples": {"arc_easy": {"original": 2376, "effective": 2376}},
        "config": {
            "model": "hf",
            "model_args": "pretrained=meta-llama/Llama-3.2-1B-Instruct",
            "batch_size": "auto",
            "limit": None,
        },
        "git_hash": "8138fd52",
        "date": 1795168800.0,
        "lm_eval_version": "0.4.7",
        "model_name": "meta-llama/Llama-3.2-1B-Instruct",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def ok(result: Any) -> Any:
    assert result.code == 0, f"exit {result.code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def staging_request(run_cli: RunCli, ref: str) -> tuple[int, dict[str, Any]]:
    """Request and approve ``ref`` -> staging; the request id and its evals gate."""
    request = ok(
        run_cli("promote", ref, "--to", "staging", "--reason", "r", actor=OWNER, json=True)
    )
    request_id: int = request.json()["request"]
    ok(run_cli("approve", str(request_id), "--reason", "reviewed", actor=APPROVER))
    report = ok(run_cli("gates", str(request_id), json=True)).json()
    return request_id, {g["name"]: g for g in report["gates"]}["evals"]


def test_a_harness_results_file_gates_promotion_by_its_acc(
    run_cli: RunCli, estate: Path, db_url: str
) -> None:
    passing = harness_results(estate / "pass" / "results_2026-11-20T10-00-00.json", 0.7453)
    ingested = ok(
        run_cli(
            "eval", "ingest", "chat-model@1", str(passing), "--suite", "arc-suite@1", actor=OWNER
        )
    )
    assert ingested.stdout.strip() == (
        "chat-model@1: arc-suite@1 arc_easy/acc,none=0.7453, arc_easy/acc_norm,none=0.7012"
    )
    request, evals = staging_request(run_cli, "chat-model@1")
    assert evals["passed"] is True
    assert evals["detail"] == f"arc-suite@1 {METRIC} = 0.7453 ({METRIC} >= 0.7)"
    applied = ok(run_cli("apply", str(request), actor=OWNER, json=True)).json()
    assert (applied["version"], applied["stage"]) == (1, "staging")

    failing = harness_results(estate / "fail" / "results_2026-11-20T10-00-00.json", 0.52)
    ok(
        run_cli(
            "eval", "ingest", "chat-model@2", str(failing), "--suite", "arc-suite@1", actor=OWNER
        )
    )
    request, evals = staging_request(run_cli, "chat-model@2")
    assert evals["passed"] is False
    assert evals["detail"] == f"arc-suite@1 {METRIC} = 0.52, needs {METRIC} >= 0.7"
    refused = run_cli("apply", str(request), actor=OWNER)
    assert refused.code == 5
    assert "evals" in refused.stderr

    ((details,),) = raw_rows(db_url, "SELECT details FROM evals WHERE number = 1")
    recorded = json.loads(details)
    assert recorded["source"] == "lm-eval"
    assert recorded["lm_eval_version"] == "0.4.7"
    assert recorded["versions"] == {"arc_easy": 1.0}
    assert recorded["n_shot"] == {"arc_easy": 0}
    assert recorded["stderr"] == {METRIC: 0.0089, "arc_easy/acc_norm,none": 0.0094}
    shown = ok(run_cli("show", "chat-model@1", json=True)).json()
    assert shown["evals"][0]["produced_at"] == "2026-11-20T10:00:00.000000Z"


def test_ingest_names_metrics_as_register_does_for_the_same_file(
    run_cli: RunCli, estate: Path
) -> None:
    folder = estate / "model-v3"
    (folder / "weights.bin").parent.mkdir(parents=True)
    (folder / "weights.bin").write_text("chat-model v3")
    harness_results(folder / "results_2026-11-20T10-00-00.json", 0.7453)
    ok(run_cli("register", "chat-model", str(folder), actor=OWNER))
    ok(
        run_cli(
            "eval",
            "ingest",
            "chat-model@3",
            str(folder / "results_2026-11-20T10-00-00.json"),
            "--suite",
            "arc-suite@1",
            actor=OWNER,
        )
    )
    evals = {e["suite"]: e for e in ok(run_cli("show", "chat-model@3", json=True)).json()["evals"]}
    assert set(evals) == {"arc_easy", "arc-suite"}
    assert evals["arc_easy"]["metrics"] == evals["arc-suite"]["metrics"]
    assert evals["arc_easy"]["produced_at"] == evals["arc-suite"]["produced_at"]


def test_the_registry_shape_and_flat_metrics_still_work(run_cli: RunCli, estate: Path) -> None:
    shaped = estate / "shaped.yaml"
    shaped.write_text(
        yaml.safe_dump({"metrics": {METRIC: 0.75}, "produced_at": "2026-11-01T00:00:00Z"})
    )
    flat = estate / "flat.json"
    flat.write_text(json.dumps({METRIC: 0.8}))
    for path in (shaped, flat):
        ok(
            run_cli(
                "eval", "ingest", "chat-model@1", str(path), "--suite", "arc-suite@1", actor=OWNER
            )
        )
    metrics = [e["metrics"] for e in ok(run_cli("show", "chat-model@1", json=True)).json()["evals"]]
    assert metrics == [{METRIC: 0.75}, {METRIC: 0.8}]
