"""Evidence on versions: eval results, model cards, A/B test results. Appended, never edited."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, or_, select

from registry_pipeline.core.ab_tests import ABDecision, ABResult, ConfidenceInterval, LiftKind
from registry_pipeline.core.cards import ModelCard
from registry_pipeline.core.evals import EvalResult
from registry_pipeline.core.times import parse_stored, read_instant
from registry_pipeline.errors import StoreUnavailable
from registry_pipeline.store import dumps, loads, schema, search


def _eval_result(r: RowMapping) -> EvalResult:
    return EvalResult(
        id=r["id"],
        entry=r["entry"],
        version=r["number"],
        suite=r["suite"],
        suite_version=r["suite_number"],
        metrics=loads(r["metrics"]),
        details=loads(r["details"]),
        produced_at=parse_stored(r["produced_at"]),
        recorded_at=parse_stored(r["recorded_at"]),
        recorded_by=r["recorded_by"],
    )


_ev, _cd, _ab = schema.evals, schema.cards, schema.ab_results
# Read by every ``show``: built once.
_EVALS = (
    select(_ev)
    .where(_ev.c.entry == bindparam("entry"), _ev.c.number == bindparam("number"))
    .order_by(_ev.c.id)
)
_CARD = (
    select(_cd)
    .where(_cd.c.entry == bindparam("entry"), _cd.c.number == bindparam("number"))
    .order_by(_cd.c.id.desc())
    .limit(1)
)
_AB = (
    select(_ab)
    .where(
        _ab.c.entry == bindparam("entry"),
        or_(
            _ab.c.control_number == bindparam("number"),
            _ab.c.treatment_number == bindparam("number"),
        ),
    )
    .order_by(_ab.c.id)
)


def eval_results(conn: Connection, entry: str, number: int) -> list[EvalResult]:
    """Every eval result recorded for a version, oldest first."""
    rows = conn.execute(_EVALS, {"entry": entry, "number": number}).mappings()
    return [_eval_result(r) for r in rows]


def all_eval_results(conn: Connection) -> list[EvalResult]:
    """Every eval result in the registry, oldest first."""
    t = schema.evals
    return [_eval_result(r) for r in conn.execute(select(t).order_by(t.c.id)).mappings()]


def insert_eval(
    conn: Connection,
    *,
    entry: str,
    number: int,
    suite: str,
    suite_number: int,
    metrics: Mapping[str, float],
    details_json: str,
    produced_at: str,
    at: str,
    actor: str,
) -> int | None:
    """Record one eval result; returns its id."""
    result = conn.execute(
        schema.evals.insert().values(
            entry=entry,
            number=number,
            suite=suite,
            suite_number=suite_number,
            metrics=dumps(metrics),
            details=details_json,
            produced_at=produced_at,
            recorded_at=at,
            recorded_by=actor,
        )
    )
    eval_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
    if eval_id is not None:
        search.index_metrics(conn, int(eval_id), entry, number, suite, metrics)
    return eval_id


def latest_card(conn: Connection, entry: str, number: int) -> ModelCard | None:
    """The card most recently set for a version."""
    row = conn.execute(_CARD, {"entry": entry, "number": number}).mappings().first()
    return card_of(entry, number, row) if row is not None else None


def card_of(entry: str, number: int, row: RowMapping | Mapping[str, Any]) -> ModelCard:
    """A card from its row (``fields``, ``set_at``, ``set_by``, ``body``, ``front_matter``)."""
    fields = {k: (tuple(v) if isinstance(v, list) else v) for k, v in loads(row["fields"]).items()}
    return ModelCard(
        entry=entry,
        version=number,
        fields=fields,
        set_at=parse_stored(row["set_at"]),
        set_by=row["set_by"],
        body=row["body"] or "",
        front_matter=loads(row["front_matter"]) if row["front_matter"] else {},
    )


def insert_card(
    conn: Connection,
    *,
    entry: str,
    number: int,
    fields: Mapping[str, Any],
    at: str,
    actor: str,
    body: str = "",
    front_matter: Mapping[str, Any] | None = None,
) -> None:
    """Record a card for a version (the newest one counts), with the Markdown body and
    front matter of a card set from a Hugging Face README.md."""
    conn.execute(
        schema.cards.insert().values(
            entry=entry,
            number=number,
            fields=dumps(fields),
            set_at=at,
            set_by=actor,
            body=body or None,
            front_matter=dumps(front_matter) if front_matter else None,
        )
    )


def ab_results(conn: Connection, entry: str, number: int) -> list[ABResult]:
    """A/B test results in which a version took part (as control or treatment), oldest
    first."""
    rows = conn.execute(_AB, {"entry": entry, "number": number}).mappings()
    return [_ab_result(r) for r in rows]


def _ab_result(row: RowMapping) -> ABResult:
    document = loads(row["document"])
    interval = document["confidence_interval"]
    return ABResult(
        experiment=document["experiment"],
        entry=document["entry"],
        control_version=document["control_version"],
        treatment_version=document["treatment_version"],
        treatment_share=document["treatment_share"],
        metric=document["metric"],
        lift=document["lift"],
        lift_kind=LiftKind(document["lift_kind"]),
        confidence_interval=ConfidenceInterval(
            low=interval["low"], high=interval["high"], level=interval["level"]
        ),
        p_value=document["p_value"],
        decision=ABDecision(document["decision"]),
        started_at=_instant(document["started_at"]),
        ended_at=_instant(document["ended_at"]),
        recorded_at=parse_stored(row["recorded_at"]),
        recorded_by=row["recorded_by"],
    )


def _instant(text: str) -> datetime:
    instant = read_instant(text)
    if instant is None:
        raise StoreUnavailable(f"a stored A/B result holds an unreadable instant {text!r}")
    return instant


def ab_recorded(conn: Connection, *, experiment: str, entry: str, metric: str) -> bool:
    """Whether this experiment's result for ``metric`` on ``entry`` is already recorded."""
    t = schema.ab_results
    found = conn.execute(
        select(t.c.id).where(t.c.experiment == experiment, t.c.entry == entry, t.c.metric == metric)
    ).scalar()
    return found is not None


def insert_ab(
    conn: Connection,
    *,
    experiment: str,
    entry: str,
    control: int,
    treatment: int,
    metric: str,
    document: Mapping[str, Any],
    decision: str,
    ended_at: str,
    at: str,
    actor: str,
) -> None:
    """Record one A/B test result."""
    conn.execute(
        schema.ab_results.insert().values(
            experiment=experiment,
            entry=entry,
            control_number=control,
            treatment_number=treatment,
            metric=metric,
            document=dumps(document),
            decision=decision,
            ended_at=ended_at,
            recorded_at=at,
            recorded_by=actor,
        )
    )
