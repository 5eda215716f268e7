"""Eval results handed to ``registry eval ingest`` (and ``Registry.ingest_evals``).

Three shapes are accepted, told apart by their keys:

- the registry's own: ``{metrics: {name: number}, produced_at: ISO 8601, details: {...}}``
  (``produced_at`` and ``details`` optional, no other key);
- the JSON that EleutherAI's lm-evaluation-harness writes (``results_<timestamp>.json``:
  ``results`` beside ``versions``, ``n-shot``, ``configs`` or ``config``; 0.3 and 0.4
  files). It is read by :mod:`registry_pipeline.formats.lm_eval`, the reader ``register``
  uses, so a metric has the same name either way: ``<task>/<metric>,<filter>`` (e.g.
  ``arc_easy/acc,none``) for every task in the file, and a threshold written for a
  registered results file also holds for an ingested one. Standard errors, task versions,
  n-shot, the harness version and the run config go to ``details``;
- a flat mapping of metric name to number.

Files are YAML or JSON (JSON's ``NaN`` included, as the harness may write it), at most
4 MiB; a key given twice is refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from registry_pipeline.core.evals import check_metrics
from registry_pipeline.core.times import parse_instant
from registry_pipeline.errors import BadInput
from registry_pipeline.formats.lm_eval import SOURCE as LM_EVAL
from registry_pipeline.formats.lm_eval import parse_lm_eval
from registry_pipeline.inputs.documents import parse_yaml, read_text

#: Eval results are documents, not data: larger files are refused before they are read.
MAX_RESULTS_BYTES = 4 * 1024 * 1024
REGISTRY_KEYS = ("metrics", "produced_at", "details")
#: Per-task facts of a harness file kept in ``details``, by task.
_PER_TASK = ("version", "n_shot", "higher_is_better", "n_samples", "dataset_name")


@dataclass(frozen=True, slots=True, kw_only=True)
class EvalDocument:
    """An eval results document, validated: metrics are finite numbers with usable names,
    ``produced_at`` is an aware instant (``None``: when it is recorded)."""

    metrics: Mapping[str, float]
    produced_at: datetime | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


def read_eval_results(path: str | Path) -> EvalDocument:
    """Read an eval results file (YAML or JSON) in any of the accepted shapes.

    Raises:
        NotFound: the file does not exist.
        BadInput: the file is unreadable, too large, malformed, or has no usable metric.
    """
    file = Path(path)
    where = f"eval results {str(file)!r}"
    text = read_text(file, where=where, limit=MAX_RESULTS_BYTES, expected="a YAML or JSON file")
    document = _load(text, where=where)
    return parse_eval_results(document, where=file.name)


def parse_eval_results(document: object, *, where: str = "eval results") -> EvalDocument:
    """Validate an eval results document already read (see the module docstring).

    Args:
        document: the parsed YAML/JSON (or a mapping built in Python).
        where: the file name, for messages about a harness file.

    Raises:
        BadInput: the document is not one of the accepted shapes, a metric is not a
            finite number, or ``produced_at`` is not ISO 8601.
    """
    if not isinstance(document, Mapping):
        raise BadInput("eval results must be a mapping of metric name to number")
    if "metrics" not in document and isinstance(document.get("results"), Mapping):
        return _harness(document, where)
    if "metrics" in document:
        extra = set(document) - set(REGISTRY_KEYS)
        if extra:
            raise BadInput(
                f"eval results: unknown key {sorted(map(str, extra))[0]!r}; "
                "use metrics, produced_at, details"
            )
        details = document.get("details") or {}
        if not isinstance(details, Mapping):
            raise BadInput("eval results: details must be a mapping")
        return EvalDocument(
            metrics=check_metrics(document["metrics"]),
            produced_at=_instant(document.get("produced_at")),
            details=dict(details),
        )
    try:
        return EvalDocument(metrics=check_metrics(document))
    except BadInput as e:
        raise BadInput(
            f"{e}; eval results are {{metrics: ..., produced_at: ...}}, a flat mapping of "
            "metric to number, or an lm-evaluation-harness results file"
        ) from None


def _harness(document: Mapping[str, Any], where: str) -> EvalDocument:
    tasks = parse_lm_eval(dict(document), where)
    metrics: dict[str, float] = {}
    stderr: dict[str, Any] = {}
    skipped: list[str] = []
    per_task: dict[str, dict[str, Any]] = {key: {} for key in _PER_TASK}
    datasets: dict[str, str] = {}
    for task in tasks:
        metrics.update(task["metrics"])
        details = task["details"]
        stderr.update(details.get("stderr") or {})
        skipped += details.get("skipped") or []
        for key in _PER_TASK:
            per_task[key][task["task"]] = details.get(key)
        if task["dataset"]:
            datasets[task["task"]] = task["dataset"]
    run = tasks[0]["details"]
    details = {
        "source": LM_EVAL,
        "file": where,
        "tasks": [task["task"] for task in tasks],
        "model_name": run.get("model_name"),
        "model": run.get("model"),
        "lm_eval_version": run.get("lm_eval_version"),
        "git_hash": run.get("git_hash"),
        "config": run.get("config"),
        "versions": per_task["version"],
        "n_shot": per_task["n_shot"],
        "higher_is_better": per_task["higher_is_better"],
        "n_samples": per_task["n_samples"],
        "datasets": datasets,
        "dataset_names": per_task["dataset_name"],
        "stderr": stderr,
    }
    if skipped:
        details["skipped"] = skipped
    return EvalDocument(
        metrics=check_metrics(metrics),
        produced_at=_instant(tasks[0]["produced_at"]),
        details=details,
    )


def _instant(value: object) -> datetime | None:
    # YAML reads an unquoted timestamp as a datetime and a bare date as a date.
    if value is None or value == "":
        return None
    if isinstance(value, datetime | date):
        value = value.isoformat()
    return parse_instant(str(value), what="produced_at")


def _load(text: str, *, where: str) -> Any:
    """JSON first (it may hold NaN, which YAML reads as text), else strict YAML."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys(where))
    except json.JSONDecodeError:
        return parse_yaml(text, where=where)
    except RecursionError:
        raise BadInput(f"{where}: nested too deeply to read") from None


def _unique_keys(where: str) -> Any:
    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        built: dict[str, Any] = {}
        for key, value in pairs:
            if key in built:
                raise BadInput(f"{where}: key {key!r} is given twice")
            built[key] = value
        return built

    return build
