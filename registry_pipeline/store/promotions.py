"""Promotion requests, the decisions on them and the gate results that judged them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, RowMapping, select, update

from registry_pipeline.core.gates import GateResult
from registry_pipeline.core.promotion import Approval, Decision, PromotionRequest, RequestStatus
from registry_pipeline.core.stages import Stage
from registry_pipeline.core.times import parse_stored
from registry_pipeline.errors import NotFound, Step
from registry_pipeline.store import dumps, loads, schema

MAX_ID = 2**63 - 1


def _request(row: RowMapping) -> PromotionRequest:
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


def request(conn: Connection, request_id: int, *, lock: bool = False) -> PromotionRequest:
    """A promotion request; raises :class:`NotFound`."""
    if not 1 <= request_id <= MAX_ID:
        raise NotFound(
            f"no promotion request {request_id}",
            step=Step.REQUEST_IDS,
        )
    t = schema.requests
    query = select(t).where(t.c.id == request_id)
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise NotFound(
            f"no promotion request {request_id}",
            step=Step.OPEN_REQUEST,
        )
    return _request(row)


def pending(conn: Connection) -> list[PromotionRequest]:
    """Every request still pending, oldest first."""
    t = schema.requests
    rows = conn.execute(
        select(t).where(t.c.status == RequestStatus.PENDING).order_by(t.c.id)
    ).mappings()
    return [_request(r) for r in rows]


def pending_for(conn: Connection, entry: str, number: int, stage: Stage) -> int | None:
    """The id of a pending request asking for ``entry@number -> stage``, if any."""
    t = schema.requests
    found = conn.execute(
        select(t.c.id).where(
            t.c.entry == entry,
            t.c.number == number,
            t.c.target == stage,
            t.c.status == RequestStatus.PENDING,
        )
    ).scalar()
    return int(found) if found is not None else None


def insert_request(
    conn: Connection,
    *,
    entry: str,
    number: int,
    digest: str,
    stage: Stage,
    requester: str,
    reason: str,
    at: str,
) -> int:
    """Open a pending request; returns its id."""
    result = conn.execute(
        schema.requests.insert().values(
            entry=entry,
            number=number,
            digest=digest,
            target=stage,
            requester=requester,
            reason=reason,
            status=RequestStatus.PENDING,
            created_at=at,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def set_status(conn: Connection, request_id: int, status: RequestStatus, at: str) -> None:
    """Mark a request applied, rejected or withdrawn."""
    t = schema.requests
    conn.execute(update(t).where(t.c.id == request_id).values(status=status, decided_at=at))


def approvals(conn: Connection, request_id: int) -> list[Approval]:
    """Every decision recorded on a request, oldest first (signatures not yet judged)."""
    t = schema.approvals
    rows = conn.execute(select(t).where(t.c.request_id == request_id).order_by(t.c.id)).mappings()
    return [
        Approval(
            request_id=r["request_id"],
            approver=r["approver"],
            decision=Decision(r["decision"]),
            reason=r["reason"],
            created_at=parse_stored(r["created_at"]),
            digest=r["digest"],
            signature=r["signature"],
            groups=tuple(loads(r["groups"])) if r["groups"] else (),
        )
        for r in rows
    ]


def record_decision(
    conn: Connection,
    *,
    request_id: int,
    approver: str,
    decision: Decision,
    reason: str,
    digest: str,
    signature: str | None,
    at: str,
    replaces: bool,
    groups: Sequence[str] = (),
) -> None:
    """Record ``approver``'s decision, or replace the one they gave before (the ledger
    keeps both)."""
    t = schema.approvals
    values = {
        "decision": decision,
        "reason": reason,
        "digest": digest,
        "signature": signature,
        "created_at": at,
        "groups": dumps(list(groups)) if groups else None,
    }
    if replaces:
        conn.execute(
            update(t).where(t.c.request_id == request_id, t.c.approver == approver).values(**values)
        )
    else:
        conn.execute(t.insert().values(request_id=request_id, approver=approver, **values))


def insert_gate_results(
    conn: Connection, request_id: int, results: Sequence[GateResult], *, seq: int, at: str
) -> None:
    """Store each gate's verdict as evidence of the ledger event ``seq``."""
    for g in results:
        conn.execute(
            schema.gate_results.insert().values(
                request_id=request_id,
                ledger_seq=seq,
                evaluated_at=at,
                name=g.name,
                passed=g.passed,
                detail=g.detail,
            )
        )


def opened_by(conn: Connection, requester: str, *, limit: int = 50) -> list[PromotionRequest]:
    """The newest ``limit`` requests ``requester`` opened, whatever their status."""
    t = schema.requests
    rows = conn.execute(
        select(t).where(t.c.requester == requester).order_by(t.c.id.desc()).limit(limit)
    ).mappings()
    return [_request(r) for r in rows]


def of_version(conn: Connection, entry: str, number: int) -> list[PromotionRequest]:
    """Every request for version ``entry@number``, newest first."""
    t = schema.requests
    rows = conn.execute(
        select(t).where(t.c.entry == entry, t.c.number == number).order_by(t.c.id.desc()).limit(100)
    ).mappings()
    return [_request(r) for r in rows]
