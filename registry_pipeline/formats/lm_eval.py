"""EleutherAI lm-evaluation-harness results files (``results_<timestamp>.json``).

The harness (0.4.x) writes one JSON object:

- ``results``: ``{task: {"alias": ..., "<metric>,<filter>": value,
  "<metric>_stderr,<filter>": value or "N/A"}}`` (groups appear here too);
- ``configs``: ``{task: {"dataset_path", "dataset_name", "num_fewshot", ...}}``;
- ``versions``: ``{task: version}``, ``n-shot``: ``{task: shots}``;
- ``higher_is_better``: ``{task: {metric: bool}}`` and ``n-samples``:
  ``{task: {"original", "effective"}}`` (absent from files of 0.4.0 and before);
- ``config``: the run (``model``, ``model_args``, ``batch_size``, ``limit``...);
- ``model_name``, ``date`` (epoch seconds), ``git_hash``, ``lm_eval_version``...

Files of 0.3 have metric keys without a filter (``"acc"``) and the shot count in
``config.num_fewshot``.

Each task becomes one eval result. Its metrics are flattened as
``"<task>/<metric>,<filter>"``; a key without a filter gets ``,none``, which is what 0.4
writes for an unfiltered metric, so old and new files name a metric the same way.
Standard errors are **not** metrics: they are kept under the same names in
``details["stderr"]`` so a threshold can never be set on one by mistake. Text values
(``alias``, ``"N/A"``) are left out; non-finite numbers are listed in
``details["skipped"]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from registry_pipeline.errors import BadInput
from registry_pipeline.formats._common import (
    is_number,
    iso_instant,
    json_object,
    json_safe,
    metric_name,
    read_json,
)
from registry_pipeline.inputs.documents import shown

RESULTS_PATTERN = "results*.json"
SOURCE = "lm-eval"
_NOT_METRICS = frozenset({"alias", "samples", " ", "name"})


def is_lm_eval(document: Any) -> bool:
    """True when a JSON document has the shape of a harness results file."""
    return (
        isinstance(document, dict)
        and isinstance(document.get("results"), dict)
        and any(key in document for key in ("versions", "configs", "config", "n-shot"))
    )


def read_lm_eval(path: Path, *, where: str | None = None) -> list[dict[str, Any]]:
    """Read a harness results file into one eval result per task with metrics.

    Each result is ``{"source": "lm-eval", "task", "dataset", "metrics", "produced_at",
    "details"}``; ``details`` holds the file, ``model_name`` (the file's, else the
    ``pretrained=`` of ``model_args``), ``model`` (the harness backend, e.g. ``hf``), the
    task ``version``, ``n_shot``, ``higher_is_better`` and ``n_samples`` (``None`` when
    the file predates them), ``stderr``, ``dataset_name``, the run ``config``,
    ``lm_eval_version`` and ``git_hash``.

    Raises:
        BadInput: the file is not JSON, not a results file, or has no numeric metric.
    """
    shown_as = where or path.name
    return parse_lm_eval(read_json(path, shown_as, allow_nan=True), shown_as)


def parse_lm_eval(document: Any, where: str) -> list[dict[str, Any]]:
    """Parse a results document already read; see :func:`read_lm_eval`."""
    if not is_lm_eval(document):
        raise BadInput(
            f"{where}: not an lm-evaluation-harness results file (no 'results' mapping of "
            "task to metrics beside 'versions' or 'config')"
        )
    results = json_object(document["results"], f"{where} results")
    configs = _mapping(document, "configs", where)
    versions = _mapping(document, "versions", where)
    shots = _mapping(document, "n-shot", where)
    better = document.get("higher_is_better")
    samples = document.get("n-samples")
    run = _mapping(document, "config", where)
    produced_at = iso_instant(document.get("date"))
    model_name = document.get("model_name") or _pretrained(run.get("model_args"))
    evals: list[dict[str, Any]] = []
    for task, values in results.items():
        scores = json_object(values, f"{where} results.{task}")
        metrics, stderr, skipped = _metrics(task, scores, where)
        if not metrics:
            continue
        found = configs.get(task)
        task_config: dict[str, Any] = found if isinstance(found, dict) else {}
        dataset = task_config.get("dataset_path")
        n_shot = shots.get(task, run.get("num_fewshot", task_config.get("num_fewshot")))
        details: dict[str, Any] = {
            "file": where,
            "model_name": model_name if isinstance(model_name, str) else None,
            "model": run.get("model"),
            "version": versions.get(task),
            "n_shot": n_shot,
            "higher_is_better": better.get(task) if isinstance(better, dict) else None,
            "n_samples": samples.get(task) if isinstance(samples, dict) else None,
            "stderr": stderr,
            "dataset_name": task_config.get("dataset_name"),
            "config": run,
            "lm_eval_version": document.get("lm_eval_version"),
            "git_hash": document.get("git_hash"),
        }
        if skipped:
            details["skipped"] = skipped
        evals.append(
            {
                "source": SOURCE,
                "task": task,
                "dataset": dataset if isinstance(dataset, str) else "",
                "metrics": metrics,
                "produced_at": produced_at,
                "details": json_safe(details),
            }
        )
    if not evals:
        raise BadInput(f"{where}: no task in 'results' has a numeric metric")
    return evals


def _pretrained(model_args: Any) -> str | None:
    # config.model is the harness backend ("hf"); the model itself is in pretrained=...
    if isinstance(model_args, dict):
        value = model_args.get("pretrained")
        return value if isinstance(value, str) else None
    if isinstance(model_args, str):
        for part in model_args.split(","):
            key, _, value = part.partition("=")
            if key.strip() == "pretrained" and value.strip():
                return value.strip()
    return None


def _mapping(document: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = document.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadInput(f"{where}: {key!r} must be a JSON object, not {shown(value)}")
    return value


def _metrics(
    task: str, scores: dict[str, Any], where: str
) -> tuple[dict[str, float], dict[str, float], list[str]]:
    metrics: dict[str, float] = {}
    stderr: dict[str, float] = {}
    skipped: list[str] = []
    for key, value in scores.items():
        if key in _NOT_METRICS or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        metric, _, kind = key.partition(",")
        is_stderr = metric.endswith("_stderr")
        metric = metric.removesuffix("_stderr")
        name = metric_name(f"{task}/{metric},{kind or 'none'}", where)
        if not is_number(value):
            skipped.append(f"{name} (stderr)" if is_stderr else name)
        elif is_stderr:
            stderr[name] = float(value)
        else:
            metrics[name] = float(value)
    return metrics, stderr, skipped
