"""Stage assignments: intervals of a version in a stage, opened and closed, never edited."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, Select, bindparam, or_, select, update

from registry_pipeline.core.assignments import Assignment
from registry_pipeline.core.stages import SINGLE_HOLDER_STAGES, Stage
from registry_pipeline.store import dumps, loads, schema

t = schema.stage_assignments
_CURRENT = select(t).where(
    t.c.entry == bindparam("entry"), t.c.number == bindparam("number"), t.c.effective_to.is_(None)
)
_OPEN_IN_STAGE = select(t).where(
    t.c.entry == bindparam("entry"), t.c.stage == bindparam("stage"), t.c.effective_to.is_(None)
)
_HOLDER = _OPEN_IN_STAGE.where(schema.open_single_holder(t))


def _assignment(row: RowMapping) -> Assignment:
    return Assignment(
        id=row["id"],
        entry=row["entry"],
        number=row["number"],
        stage=Stage(row["stage"]),
        effective_from=row["effective_from"],
        effective_to=row["effective_to"],
        actor=row["actor"],
        reason=row["reason"],
        cause=row["cause"],
        request_id=row["request_id"],
        approved_by=tuple(loads(row["approved_by"])),
        ledger_seq=row["ledger_seq"],
    )


def _first(
    conn: Connection, query: Select[tuple[object, ...]], params: dict[str, Any] | None = None
) -> Assignment | None:
    row = conn.execute(query, params or {}).mappings().first()
    return _assignment(row) if row is not None else None


def current(conn: Connection, entry: str, number: int) -> Assignment | None:
    """The version's open assignment."""
    return _first(conn, _CURRENT, {"entry": entry, "number": number})


def holder(conn: Connection, entry: str, stage: Stage) -> Assignment | None:
    """The open assignment holding ``stage`` for ``entry`` (single-holder stages; of
    another, its first open assignment)."""
    statement = _HOLDER if stage in SINGLE_HOLDER_STAGES else _OPEN_IN_STAGE
    return _first(conn, statement, {"entry": entry, "stage": stage})


def holder_at(conn: Connection, entry: str, stage: Stage, at: str) -> Assignment | None:
    """The assignment that held ``stage`` for ``entry`` at instant ``at``."""
    return _first(
        conn,
        select(t)
        .where(
            t.c.entry == entry,
            t.c.stage == stage,
            t.c.effective_from <= at,
            or_(t.c.effective_to.is_(None), t.c.effective_to > at),
        )
        .order_by(t.c.effective_from.desc(), t.c.id.desc())
        .limit(1),
    )


def previous_holder(
    conn: Connection, entry: str, stage: Stage, *, not_number: int
) -> Assignment | None:
    """The closed assignment of ``stage`` that ended last, of a version other than
    ``not_number``: what a rollback returns to."""
    return _first(
        conn,
        select(t)
        .where(
            t.c.entry == entry,
            t.c.stage == stage,
            t.c.effective_to.is_not(None),
            t.c.number != not_number,
        )
        .order_by(t.c.effective_to.desc(), t.c.id.desc())
        .limit(1),
    )


def holders(conn: Connection) -> dict[tuple[str, Stage], int]:
    """``{(entry, stage): number}`` for every open single-holder assignment."""
    query = select(t.c.entry, t.c.stage, t.c.number).where(schema.open_single_holder(t))
    return {(e, Stage(s)): n for e, s, n in conn.execute(query).all()}


def in_stage(conn: Connection, stage: Stage, *, entry: str | None = None) -> list[Assignment]:
    """Open assignments of ``stage`` (of one entry, or all), by entry."""
    query = select(t).where(t.c.stage == stage, t.c.effective_to.is_(None))
    if entry is not None:
        query = query.where(t.c.entry == entry)
    return [_assignment(r) for r in conn.execute(query.order_by(t.c.entry)).mappings()]


def history(conn: Connection, entry: str, stage: Stage | None = None) -> list[Assignment]:
    """Every assignment of ``entry`` (optionally of one stage), oldest first."""
    query = select(t).where(t.c.entry == entry)
    if stage is not None:
        query = query.where(t.c.stage == stage)
    rows = conn.execute(query.order_by(t.c.effective_from, t.c.id)).mappings()
    return [_assignment(r) for r in rows]


_OPEN = t.insert()


def open_(
    conn: Connection,
    *,
    entry: str,
    number: int,
    stage: Stage,
    at: str,
    actor: str,
    reason: str,
    cause: str,
    request_id: int | None,
    approved_by: Sequence[str],
    ledger_seq: int,
) -> None:
    """Open a new assignment of ``entry@number`` to ``stage`` from ``at``."""
    conn.execute(
        _OPEN,
        {
            "entry": entry,
            "number": number,
            "stage": stage,
            "effective_from": at,
            "effective_to": None,
            "recorded_at": at,
            "actor": actor,
            "reason": reason,
            "cause": cause,
            "request_id": request_id,
            "approved_by": dumps(list(approved_by)),
            "ledger_seq": ledger_seq,
        },
    )


def reassign(
    conn: Connection,
    current_id: int,
    *,
    entry: str,
    number: int,
    stage: Stage,
    at: str,
    actor: str,
    reason: str,
    cause: str,
    request_id: int | None,
    approved_by: Sequence[str],
    ledger_seq: int,
) -> None:
    """Close assignment ``current_id`` at ``at`` and open ``entry@number`` in ``stage``."""
    conn.execute(update(t).where(t.c.id == current_id).values(effective_to=at))
    open_(
        conn,
        entry=entry,
        number=number,
        stage=stage,
        at=at,
        actor=actor,
        reason=reason,
        cause=cause,
        request_id=request_id,
        approved_by=approved_by,
        ledger_seq=ledger_seq,
    )
