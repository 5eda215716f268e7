"""A/B test results: online evidence comparing two versions of one entry.

One JSON object per experiment and metric::

    {
      "experiment": "support-lora-2026-11-rollout",
      "entry": "support-lora",
      "control_version": 1,
      "treatment_version": 2,
      "treatment_share": 0.5,
      "metric": "resolution_rate",
      "lift": 0.031,
      "lift_kind": "absolute",
      "confidence_interval": {"low": 0.012, "high": 0.05, "level": 0.95},
      "p_value": 0.004,
      "decision": "ship",
      "started_at": "2026-11-01T00:00:00Z",
      "ended_at": "2026-11-15T00:00:00Z"
    }

- ``experiment``: the experiment's id (1-200 printable characters).
- ``entry``: the registry entry; ``control_version`` and ``treatment_version``: two
  different version numbers of it.
- ``treatment_share``: the share of traffic the treatment got, strictly between 0 and 1.
- ``metric``: the metric compared (the registry's metric-name rules).
- ``lift``: treatment minus control; ``lift_kind`` says whether in the metric's units
  (``"absolute"``, the default) or as a fraction of the control (``"relative"``).
- ``confidence_interval``: ``low <= lift <= high``; ``level`` (default 0.95) in (0, 1).
- ``p_value``: between 0 and 1.
- ``decision``: ``"ship"``, ``"hold"`` or ``"rollback"``.
- ``started_at`` < ``ended_at``: ISO 8601 instants (no offset reads as UTC).

No other key is accepted.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator, model_validator

from registry_pipeline.core import ab_tests
from registry_pipeline.core.ab_tests import ABDecision, ABResult, LiftKind
from registry_pipeline.core.evals import check_metric_name
from registry_pipeline.core.kinds import check_name
from registry_pipeline.core.times import read_instant
from registry_pipeline.errors import BadInput
from registry_pipeline.formats._common import read_json, validate


class ConfidenceInterval(BaseModel):
    """The interval around the lift."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    low: float
    high: float
    level: float = Field(default=0.95, gt=0, lt=1)


class ABResultDocument(BaseModel):
    """The A/B result document, validated; :meth:`value` is the core result."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    experiment: str = Field(min_length=1, max_length=200)
    entry: str
    control_version: int = Field(ge=1)
    treatment_version: int = Field(ge=1)
    treatment_share: float = Field(gt=0, lt=1)
    metric: str
    lift: float
    lift_kind: Annotated[LiftKind, Strict(False)] = LiftKind.ABSOLUTE
    confidence_interval: ConfidenceInterval
    p_value: float = Field(ge=0, le=1)
    decision: Annotated[ABDecision, Strict(False)]
    started_at: datetime
    ended_at: datetime

    @field_validator("experiment")
    @classmethod
    def _printable(cls, value: str) -> str:
        if not value.isprintable() or value != value.strip():
            raise ValueError("use printable characters without leading or trailing spaces")
        return value

    @field_validator("entry")
    @classmethod
    def _entry(cls, value: str) -> str:
        try:
            return check_name(value)
        except BadInput as e:
            raise ValueError(str(e)) from None

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        try:
            return check_metric_name(value)
        except BadInput as e:
            raise ValueError(str(e)) from None

    @field_validator("started_at", "ended_at", mode="before")
    @classmethod
    def _instant(cls, value: Any) -> Any:
        if isinstance(value, str):
            instant = read_instant(value)
            if instant is None:
                raise ValueError(f"{value!r} is not ISO 8601; write e.g. 2026-11-27T10:00:00Z")
            return instant
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ABResultDocument:
        if self.control_version == self.treatment_version:
            raise ValueError("control_version and treatment_version must differ")
        interval = self.confidence_interval
        if not interval.low <= self.lift <= interval.high:
            raise ValueError(
                f"the confidence interval [{interval.low:g}, {interval.high:g}] must contain "
                f"the lift {self.lift:g}"
            )
        if self.ended_at <= self.started_at:
            raise ValueError("ended_at must be after started_at")
        return self

    def value(self) -> ABResult:
        """The validated document as the core value."""
        interval = self.confidence_interval
        return ABResult(
            experiment=self.experiment,
            entry=self.entry,
            control_version=self.control_version,
            treatment_version=self.treatment_version,
            treatment_share=self.treatment_share,
            metric=self.metric,
            lift=self.lift,
            lift_kind=self.lift_kind,
            confidence_interval=ab_tests.ConfidenceInterval(
                low=interval.low, high=interval.high, level=interval.level
            ),
            p_value=self.p_value,
            decision=self.decision,
            started_at=self.started_at,
            ended_at=self.ended_at,
        )


def parse_ab_result(document: Any, where: str) -> ABResult:
    """Validate a parsed A/B result document and return it as the core value.

    Raises:
        BadInput: a key is missing, unknown or invalid; the message names the file.
    """
    return validate(ABResultDocument, document, where).value()


def read_ab_result(path: Path, *, where: str | None = None) -> ABResult:
    """Read and validate an A/B result JSON file; see the module docstring for the format.

    Raises:
        BadInput: the file is not JSON or the result is invalid; the message names it.
    """
    shown_as = where or path.name
    return parse_ab_result(read_json(path, shown_as), shown_as)
