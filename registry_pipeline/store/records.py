"""Row-level reads and writes. Each function runs on the caller's connection, inside the
caller's transaction; none commits."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, and_, func, or_, select, update

from registry_pipeline.core.cards import ModelCard
from registry_pipeline.core.evals import EvalResult
from registry_pipeline.core.ledger import LedgerEvent
from registry_pipeline.core.promotion import (
    Approval,
    Decision,
    PromotionRequest,
    RequestStatus,
)
from registry_pipeline.core.stages import Stage
from registry_pipeline.core.times import parse_stored
from registry_pipeline.errors import NotFound
from registry_pipeline.store import dumps, loads, schema

Row = RowMapping
MAX_ID = 2**63 - 1


def version_row(conn: Connection, entry: str, number: int) -> Row:
    """The version row; raises :class:`NotFound` naming ``entry@number``."""
    t = schema.versions
    row = conn.execute(select(t).where(t.c.entry == entry, t.c.number == number)).mappings().first()
    if row is None:
        latest = conn.execute(select(func.max(t.c.number)).where(t.c.entry == entry)).scalar_one()
        hint = f"latest is {entry}@{latest}" if latest else f"{entry} has no versions yet"
        raise NotFound(f"no version {entry}@{number}", entry=entry, version=number, hint=hint)
    return row


def recorded_format(conn: Connection, entry: str, number: int) -> dict[str, Any]:
    """The format facts ``register`` recorded for a version (``{}`` when none)."""
    t = schema.versions
    text = conn.execute(
        select(t.c.format).where(t.c.entry == entry, t.c.number == number)
    ).scalar_one_or_none()
    found = loads(text) if text else {}
    return found if isinstance(found, dict) else {}


def version_by_digest(conn: Connection, entry: str, digest: str) -> Row | None:
    """The version of ``entry`` with content ``digest``, if registered."""
    t = schema.versions
    return (
        conn.execute(select(t).where(t.c.entry == entry, t.c.digest == digest)).mappings().first()
    )


def allocate_number(conn: Connection, entry: str) -> int:
    """Take the next version number of ``entry`` (row-locked; gap-free because the
    transaction that takes it either commits the version or rolls the counter back)."""
    t = schema.entries
    current = conn.execute(
        select(t.c.next_version).where(t.c.name == entry).with_for_update()
    ).scalar_one()
    conn.execute(update(t).where(t.c.name == entry).values(next_version=current + 1))
    return int(current)


def open_assignment(conn: Connection, entry: str, number: int) -> Row | None:
    """The version's current stage assignment."""
    t = schema.stage_assignments
    return (
        conn.execute(
            select(t).where(t.c.entry == entry, t.c.number == number, t.c.effective_to.is_(None))
        )
        .mappings()
        .first()
    )


def holder(conn: Connection, entry: str, stage: Stage) -> Row | None:
    """The open assignment holding ``stage`` for ``entry`` (single-holder stages)."""
    t = schema.stage_assignments
    return (
        conn.execute(
            select(t).where(t.c.entry == entry, t.c.stage == stage, t.c.effective_to.is_(None))
        )
        .mappings()
        .first()
    )


def holder_at(conn: Connection, entry: str, stage: Stage, at: str) -> Row | None:
    """The assignment that held ``stage`` for ``entry`` at instant ``at``."""
    t = schema.stage_assignments
    return (
        conn.execute(
            select(t)
            .where(
                t.c.entry == entry,
                t.c.stage == stage,
                t.c.effective_from <= at,
                or_(t.c.effective_to.is_(None), t.c.effective_to > at),
            )
            .order_by(t.c.effective_from.desc(), t.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )


def close_assignment(conn: Connection, assignment_id: int, at: str) -> None:
    """End an assignment at ``at``."""
    t = schema.stage_assignments
    conn.execute(update(t).where(t.c.id == assignment_id).values(effective_to=at))


def add_assignment(
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
        schema.stage_assignments.insert().values(
            entry=entry,
            number=number,
            stage=stage,
            effective_from=at,
            effective_to=None,
            recorded_at=at,
            actor=actor,
            reason=reason,
            cause=cause,
            request_id=request_id,
            approved_by=dumps(list(approved_by)),
            ledger_seq=ledger_seq,
        )
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
    close_assignment(conn, current_id, at)
    add_assignment(
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


def upstream_of(conn: Connection, entry: str, number: int) -> list[Row]:
    """Direct upstream edges of a version with the upstream's kind and digest."""
    lin, ver, ent = schema.lineage, schema.versions, schema.entries
    query = (
        select(
            lin.c.upstream_entry.label("entry"),
            lin.c.upstream_number.label("version"),
            lin.c.relation,
            ver.c.digest,
            ent.c.kind,
        )
        .join(
            ver,
            and_(ver.c.entry == lin.c.upstream_entry, ver.c.number == lin.c.upstream_number),
        )
        .join(ent, ent.c.name == lin.c.upstream_entry)
        .where(lin.c.entry == entry, lin.c.number == number)
        .order_by(lin.c.upstream_entry)
    )
    return list(conn.execute(query).mappings())


def downstream_of(conn: Connection, entry: str, number: int) -> list[Row]:
    """Direct downstream edges: versions that name this one as upstream."""
    lin = schema.lineage
    query = (
        select(lin.c.entry, lin.c.number.label("version"), lin.c.relation)
        .where(lin.c.upstream_entry == entry, lin.c.upstream_number == number)
        .order_by(lin.c.entry, lin.c.number)
    )
    return list(conn.execute(query).mappings())


def eval_results(conn: Connection, entry: str, number: int) -> list[EvalResult]:
    """Every eval result recorded for a version, oldest first."""
    t = schema.evals
    rows = conn.execute(
        select(t).where(t.c.entry == entry, t.c.number == number).order_by(t.c.id)
    ).mappings()
    return [_eval_result(r) for r in rows]


def _eval_result(r: Row) -> EvalResult:
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


def latest_card(conn: Connection, entry: str, number: int) -> ModelCard | None:
    """The card most recently set for a version."""
    t = schema.cards
    row = (
        conn.execute(
            select(t)
            .where(t.c.entry == entry, t.c.number == number)
            .order_by(t.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
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


def request(conn: Connection, request_id: int, *, lock: bool = False) -> PromotionRequest:
    """A promotion request; raises :class:`NotFound`."""
    if not 1 <= request_id <= MAX_ID:
        raise NotFound(
            f"no promotion request {request_id}",
            hint="request ids are positive numbers printed by `registry promote`",
        )
    t = schema.requests
    query = select(t).where(t.c.id == request_id)
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise NotFound(
            f"no promotion request {request_id}",
            hint="`registry promote ENTRY@VERSION --to STAGE` opens one",
        )
    return to_request(row)


def to_request(row: Row) -> PromotionRequest:
    """Build a :class:`PromotionRequest` from its row."""
    return PromotionRequest(
        id=row["id"],
        entry=row["entry"],
        version=row["number"],
        digest=row["digest"],
        target=Stage(row["target"]),
        requester=row["requester"],
        reason=row["reason"],
        status=RequestStatus(row["status"]),
        created_at=parse_stored(row["created_at"]),
        decided_at=parse_stored(row["decided_at"]) if row["decided_at"] else None,
    )


def approval_rows(conn: Connection, request_id: int) -> list[Row]:
    """Every decision recorded on a request, oldest first."""
    t = schema.approvals
    return list(
        conn.execute(select(t).where(t.c.request_id == request_id).order_by(t.c.id)).mappings()
    )


def to_approval(row: Row, signature_valid: bool | None) -> Approval:
    """Build an :class:`Approval` from its row and the verdict on its signature."""
    return Approval(
        request_id=row["request_id"],
        approver=row["approver"],
        decision=Decision(row["decision"]),
        reason=row["reason"],
        created_at=parse_stored(row["created_at"]),
        digest=row["digest"],
        signature=row["signature"],
        signature_valid=signature_valid,
    )


def set_request_status(conn: Connection, request_id: int, status: RequestStatus, at: str) -> None:
    """Mark a request applied or rejected."""
    t = schema.requests
    conn.execute(update(t).where(t.c.id == request_id).values(status=status, decided_at=at))


def ledger_events(conn: Connection, *, batch: int = 5000) -> Iterator[LedgerEvent]:
    """Every ledger event in seq order, streamed in batches."""
    t = schema.ledger
    last = 0
    while True:
        rows = (
            conn.execute(select(t).where(t.c.seq > last).order_by(t.c.seq).limit(batch))
            .mappings()
            .all()
        )
        if not rows:
            return
        for r in rows:
            yield LedgerEvent(
                seq=r["seq"],
                recorded_at=r["recorded_at"],
                actor=r["actor"],
                action=r["action"],
                subject=r["subject"],
                payload=_payload(r["payload"]),
                prev_hash=r["prev_hash"],
                hash=r["hash"],
            )
        last = rows[-1]["seq"]


def _payload(text: str) -> Mapping[str, Any]:
    try:
        value = loads(text)
    except ValueError:
        return {"unparseable_payload": text}
    return value if isinstance(value, dict) else {"non_object_payload": value}
