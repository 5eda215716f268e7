"""Review ages: how old an approval or an eval result is, and when the policy says it has
expired.

One rule for the promotion gates (an expired approval is not counted, an expired eval
result does not pass), for ``Registry.review_due`` (what in production needs a fresh
review or a fresh eval run) and for the inventory (its ``review_due_at`` column).

An approval expires once it is older than the stage rule's ``review_every_days``; an
eval result once it is older than ``max_eval_age_days``. ``None`` means no limit. Ages
are measured to the microsecond and a limit is exceeded only when strictly passed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from registry_pipeline.core.catalog import StageRule
from registry_pipeline.core.evals import EvalResult, latest_per_suite

_DAY_SECONDS = 86_400


def age_in_days(age: timedelta) -> float:
    """``age`` in days, with the fraction (``timedelta.days`` rounds down)."""
    return age.total_seconds() / _DAY_SECONDS


def approved_at(*, since: datetime, approvals: Iterable[datetime]) -> datetime:
    """When a stage holder was last approved: the newest approval of the request that put
    it there, else ``since``, when it took the stage (a version imported or rolled back
    with no approval on record)."""
    return max(approvals, default=since)


def approval_age(approved: datetime, now: datetime) -> timedelta:
    """How old an approval given at ``approved`` is at ``now``."""
    return now - approved


def expired(rule: StageRule, age: timedelta) -> bool:
    """True when an approval ``age`` old no longer stands under ``rule``
    (``review_every_days``; ``None``: approvals never expire)."""
    return _over(rule.review_every_days, age)


def review_due_at(rule: StageRule, approved: datetime) -> datetime | None:
    """The instant after which an approval given at ``approved`` has expired under
    ``rule``, or ``None`` when approvals never expire."""
    if rule.review_every_days is None:
        return None
    return approved + timedelta(days=rule.review_every_days)


def eval_expired(rule: StageRule, age: timedelta) -> bool:
    """True when an eval result ``age`` old is too old to pass under ``rule``
    (``max_eval_age_days``; ``None``: results never expire)."""
    return _over(rule.max_eval_age_days, age)


@dataclass(frozen=True, slots=True, kw_only=True)
class StaleEvals:
    """Required suites whose judged result is missing or has expired.

    ``oldest`` is when the oldest of those results was produced; ``None`` when a suite has
    no result at all.
    """

    suites: tuple[str, ...]
    oldest: datetime | None


def stale_evals(
    rule: StageRule, suites: Iterable[str], results: Sequence[EvalResult], now: datetime
) -> StaleEvals | None:
    """The required ``suites`` whose latest result (the one the evals gate judges, see
    :func:`registry_pipeline.core.evals.latest_per_suite`) is missing or expired under
    ``rule`` at ``now``; ``None`` when every one is fresh or results never expire.
    """
    if rule.max_eval_age_days is None:
        return None
    latest = latest_per_suite(results)
    wanted = sorted(set(suites))
    missing = [s for s in wanted if s not in latest]
    old = [s for s in wanted if s in latest and eval_expired(rule, now - latest[s].produced_at)]
    if not missing and not old:
        return None
    oldest = None if missing else min(latest[s].produced_at for s in old)
    return StaleEvals(suites=tuple(sorted(missing + old)), oldest=oldest)


def _over(limit_days: float | None, age: timedelta) -> bool:
    return limit_days is not None and age > timedelta(days=limit_days)
