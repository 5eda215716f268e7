"""Online A/B evidence: one experiment's result comparing two versions of an entry, and
when it counts as a win for its treatment.

The JSON document users hand in is validated at the trust boundary
(:mod:`registry_pipeline.formats.ab_tests`); this is the value the gates and the store use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class ABDecision(StrEnum):
    """What the experiment's owners decided to do with the treatment."""

    SHIP = "ship"
    HOLD = "hold"
    ROLLBACK = "rollback"


class LiftKind(StrEnum):
    """Whether the lift is in the metric's units or a fraction of the control."""

    ABSOLUTE = "absolute"
    RELATIVE = "relative"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfidenceInterval:
    """The interval around the lift, at ``level`` confidence."""

    low: float
    high: float
    level: float = 0.95

    @property
    def clear_of_zero(self) -> bool:
        """True when the whole interval is on one side of zero."""
        return self.low > 0 or self.high < 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ABResult:
    """One experiment's result for one metric: treatment against control.

    ``recorded_at`` and ``recorded_by`` are set once the registry has recorded it.
    """

    experiment: str
    entry: str
    control_version: int
    treatment_version: int
    treatment_share: float
    metric: str
    lift: float
    lift_kind: LiftKind
    confidence_interval: ConfidenceInterval
    p_value: float
    decision: ABDecision
    started_at: datetime
    ended_at: datetime
    recorded_at: datetime | None = None
    recorded_by: str | None = None

    def is_win(self, max_p: float) -> bool:
        """True when the result wins for its treatment: shipped, the lift's interval clear of
        zero, and a p-value of at most ``max_p``."""
        return (
            self.decision is ABDecision.SHIP
            and self.confidence_interval.clear_of_zero
            and self.p_value <= max_p
        )

    def to_document(self) -> dict[str, Any]:
        """The result as its JSON document (the format users hand in; instants in UTC)."""
        interval = self.confidence_interval
        return {
            "experiment": self.experiment,
            "entry": self.entry,
            "control_version": self.control_version,
            "treatment_version": self.treatment_version,
            "treatment_share": self.treatment_share,
            "metric": self.metric,
            "lift": self.lift,
            "lift_kind": self.lift_kind.value,
            "confidence_interval": {
                "low": interval.low,
                "high": interval.high,
                "level": interval.level,
            },
            "p_value": self.p_value,
            "decision": self.decision.value,
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
        }


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")
