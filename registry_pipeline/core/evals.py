"""Eval results on a version and the metric thresholds a policy demands of them."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from registry_pipeline.core.errors import BadInput

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
_THRESHOLD = re.compile(r"^\s*(>=|<=|==|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
METRIC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/,@ -]{0,127}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Threshold:
    """``metric op value``, e.g. ``accuracy >= 0.8``."""

    metric: str
    op: str
    value: float

    def check(self, observed: float) -> bool:
        """True when ``observed`` meets the threshold."""
        return _OPERATORS[self.op](observed, self.value)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


def parse_threshold(metric: str, text: object) -> Threshold:
    """Parse a threshold such as ``">= 0.80"`` for ``metric``.

    Raises:
        BadInput: the text is not ``OP NUMBER`` with OP one of >=, >, <=, <, ==.
    """
    check_metric_name(metric)
    match = _THRESHOLD.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise BadInput(
            f"bad threshold {text!r} for metric {metric!r}: write it as a quoted string "
            'OP NUMBER, e.g. ">= 0.80" (OP is one of >=, >, <=, <, ==)'
        )
    value = float(match.group(2))
    if not math.isfinite(value):
        raise BadInput(f"bad threshold {text!r} for metric {metric!r}: the number must be finite")
    return Threshold(metric=metric, op=match.group(1), value=value)


def check_metric_name(metric: str) -> str:
    """Return ``metric`` if it is a usable metric name, else raise :class:`BadInput`."""
    if not isinstance(metric, str) or not METRIC_NAME.fullmatch(metric):
        raise BadInput(
            f"bad metric name {str(metric)[:60]!r}: use letters, digits and _ . : / , @ - "
            "(at most 128 characters)"
        )
    return metric


def check_metrics(metrics: Mapping[str, object]) -> dict[str, float]:
    """Validate a metrics mapping: names usable, values finite numbers.

    Raises:
        BadInput: a metric name or value is unusable; the message names it.
    """
    if not isinstance(metrics, Mapping) or not metrics:
        raise BadInput("eval results need a non-empty mapping of metric name to number")
    clean: dict[str, float] = {}
    for name, value in metrics.items():
        check_metric_name(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadInput(
                f"metric {name!r} is {type(value).__name__}; metric values must be numbers"
            )
        try:
            number = float(value)
        except OverflowError:
            raise BadInput(f"metric {name!r} is too large for a number") from None
        if not math.isfinite(number):
            raise BadInput(f"metric {name!r} is {value!r}; metric values must be finite")
        clean[name] = number
    return clean


@dataclass(frozen=True, slots=True, kw_only=True)
class EvalResult:
    """Offline eval evidence: a suite version's metrics for one version of an entry."""

    entry: str
    version: int
    suite: str
    suite_version: int
    metrics: Mapping[str, float]
    produced_at: datetime
    recorded_at: datetime
    recorded_by: str
    id: int | None = None
    details: Mapping[str, object] = field(default_factory=dict)


def latest_per_suite(results: Iterable[EvalResult]) -> dict[str, EvalResult]:
    """The latest result of each suite, by suite: the one the evals gate judges, and the
    one the exports report as current.

    Latest is the newest ``produced_at``, then the newest ``recorded_at``. Between results
    equal on both, the last recorded wins: the highest ``id``, and among results not
    stored yet (no ``id``), the later one in ``results``.
    """
    latest: dict[str, EvalResult] = {}
    for result in results:
        held = latest.get(result.suite)
        if held is None or _recency(result) >= _recency(held):
            latest[result.suite] = result
    return latest


def _recency(result: EvalResult) -> tuple[datetime, datetime, int]:
    return (result.produced_at, result.recorded_at, -1 if result.id is None else result.id)
