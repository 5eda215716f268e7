"""Promotion: requests, decisions, gates, apply, rollback, and stages brought by imports.

Every path that moves a stage evaluates the one gate implementation
(:func:`registry_pipeline.core.gates.evaluate_gates`) inside the transaction that moves it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime

from sqlalchemy import Connection

from registry_pipeline.core.catalog import Catalog, Operation
from registry_pipeline.core.gates import Gate, GateFacts, GateResult, blocking, evaluate_gates
from registry_pipeline.core.kinds import EntryKind, check_name
from registry_pipeline.core.names import check_reason
from registry_pipeline.core.promotion import (
    Approval,
    Decision,
    PromotionRequest,
    RequestStatus,
    approval_payload,
)
from registry_pipeline.core.provider import ProviderPin
from registry_pipeline.core.refs import parse_exact, parse_ref
from registry_pipeline.core.stages import (
    DISPLACED_TO,
    SINGLE_HOLDER_STAGES,
    Stage,
    parse_stage,
    transition_problem,
)
from registry_pipeline.core.times import format_time
from registry_pipeline.errors import BadInput, Conflict, GateRefused, NotFound, Refused, Step
from registry_pipeline.service import deployments
from registry_pipeline.service.context import Context
from registry_pipeline.service.queries import resolve_ref
from registry_pipeline.service.results import GateReport, StageChange
from registry_pipeline.store import Tx, evidence, promotions, stages, versions

EVIDENCE_GATES = frozenset({Gate.EVALS, Gate.CARD, Gate.LICENSE, Gate.PROVIDER})


def request_promotion(ctx: Context, ref: str, *, to: str, reason: str) -> PromotionRequest:
    """Open a request to move version ``ref`` to stage ``to``.

    Raises:
        Refused: the stage transition is not allowed from the version's stage.
        Conflict: a pending request for the same version and stage exists.
    """
    target = parse_exact(ref)
    stage = parse_stage(to)
    why = check_reason(reason)
    with ctx.write() as tx:
        ctx.require(ctx.catalog(tx.conn), Operation.REQUEST, target.entry)
        version = versions.version(tx.conn, target.entry, target.version)
        problem = transition_problem(_stage_of(tx.conn, target.entry, target.version), stage)
        if problem:
            raise Refused(
                f"cannot request {target} -> {stage}: {problem}",
                entry=target.entry,
                version=target.version,
                stage=stage,
            )
        duplicate = promotions.pending_for(tx.conn, target.entry, target.version, stage)
        if duplicate is not None:
            raise Conflict(
                f"request {duplicate} already asks for {target} -> {stage}",
                entry=target.entry,
                step=Step.SEE_GATES,
                about={"request": duplicate},
            )
        request_id = promotions.insert_request(
            tx.conn,
            entry=target.entry,
            number=target.version,
            digest=version.digest,
            stage=stage,
            requester=ctx.actor,
            reason=why,
            at=tx.now_text,
        )
        tx.append(
            "promotion.request",
            f"request:{request_id}",
            {
                "request": request_id,
                "entry": target.entry,
                "version": target.version,
                "digest": version.digest,
                "target": stage,
                "reason": why,
            },
        )
        return promotions.request(tx.conn, request_id)


def _stage_of(conn: Connection, entry: str, number: int) -> Stage:
    current = stages.current(conn, entry, number)
    if current is None:
        raise NotFound(f"{entry}@{number} has no stage", entry=entry, version=number)
    return current.stage


def _facts(conn: Connection, catalog: Catalog, req: PromotionRequest, now: datetime) -> GateFacts:
    version = versions.version(conn, req.entry, req.version)
    approvals = [
        replace(a, signature_valid=_signature_valid(catalog, req, a))
        for a in promotions.approvals(conn, req.id)
    ]
    components: dict[str, str | None] = {}
    if catalog.entry(req.entry).kind is EntryKind.STACK:
        for up in versions.upstream_of(conn, req.entry, req.version):
            components[up.entry] = catalog.entry(up.entry).license
    return GateFacts(
        registrant=version.created_by,
        request=req,
        current_stage=_stage_of(conn, req.entry, req.version),
        version_digest=version.digest,
        approvals=approvals,
        evals=evidence.eval_results(conn, req.entry, req.version),
        card=evidence.latest_card(conn, req.entry, req.version),
        component_licenses=components,
        now=now,
        ab_results=evidence.ab_results(conn, req.entry, req.version),
        provider_pins=provider_pins(conn, catalog, req.entry, req.version),
    )


def provider_pins(
    conn: Connection, catalog: Catalog, entry: str, number: int
) -> dict[str, ProviderPin | None]:
    """What each provider model a version concerns pins (the version itself when it is a
    provider model, a stack's pinned provider models), keyed ``ENTRY@VERSION``."""
    concerned: list[tuple[str, int]] = []
    kind = catalog.entry(entry).kind
    if kind is EntryKind.PROVIDER_MODEL:
        concerned.append((entry, number))
    elif kind is EntryKind.STACK:
        concerned += [
            (u.entry, u.version)
            for u in versions.upstream_of(conn, entry, number)
            if u.kind == EntryKind.PROVIDER_MODEL
        ]
    return {
        f"{e}@{n}": ProviderPin.from_format(dict(versions.version(conn, e, n).format))
        for e, n in concerned
    }


def _signature_valid(catalog: Catalog, req: PromotionRequest, approval: Approval) -> bool | None:
    if approval.signature is None:
        return None
    from registry_pipeline import signatures

    public = catalog.policy.approver_keys.get(approval.approver)
    if public is None:
        return False
    payload = approval_payload(
        request_id=req.id,
        entry=req.entry,
        version=req.version,
        digest=approval.digest,
        target=req.target,
        approver=approval.approver,
        decision=approval.decision,
        reason=approval.reason,
        created_at=format_time(approval.created_at),
    )
    return signatures.verify(public, payload, approval.signature)


def gates(ctx: Context, request_id: int) -> GateReport:
    """Evaluate every gate of request ``request_id`` now, without changing anything."""
    with ctx.store.read() as conn:
        catalog = ctx.catalog(conn)
        req = promotions.request(conn, request_id)
        results = evaluate_gates(catalog, _facts(conn, catalog, req, datetime.now(UTC)))
    return GateReport(
        request=req.id,
        entry=req.entry,
        version=req.version,
        target=req.target.value,
        passed=not blocking(results),
        gates=results,
    )


def verdicts(ctx: Context, request_ids: Sequence[int]) -> dict[int, bool]:
    """Whether every gate of each request passes now, read in one transaction."""
    now = datetime.now(UTC)
    with ctx.store.read() as conn:
        catalog = ctx.catalog(conn)
        return {
            rid: not blocking(
                evaluate_gates(catalog, _facts(conn, catalog, promotions.request(conn, rid), now))
            )
            for rid in request_ids
        }


def readiness(ctx: Context, ref: str, *, target: str = "production") -> list[GateResult]:
    """The evidence gates (evals, card, license) of version ``ref`` for ``target``, as a
    promotion to ``target`` would see them now."""
    parsed = parse_ref(ref)
    stage = parse_stage(target)
    now = datetime.now(UTC)
    with ctx.store.read() as conn:
        catalog = ctx.catalog(conn)
        version = resolve_ref(conn, catalog, parsed)
        hypothetical = PromotionRequest(
            id=0,
            entry=version.entry,
            version=version.number,
            digest=version.digest,
            target=stage,
            requester="",
            reason="readiness check",
            status=RequestStatus.PENDING,
            created_at=now,
        )
        facts = _facts(conn, catalog, hypothetical, now)
    return [g for g in evaluate_gates(catalog, facts) if g.name in EVIDENCE_GATES]


def request_status(ctx: Context, request_id: int) -> str:
    """``pending``, ``applied``, ``rejected`` or ``withdrawn``; raises :class:`NotFound`."""
    with ctx.store.read() as conn:
        return promotions.request(conn, request_id).status.value


def pending_requests(ctx: Context) -> list[PromotionRequest]:
    """Every request still pending, oldest first."""
    with ctx.store.read() as conn:
        return promotions.pending(conn)


def apply(ctx: Context, request_id: int) -> StageChange:
    """Apply request ``request_id`` if every gate passes, re-checked in this transaction.

    Raises:
        GateRefused: a gate failed; the refusal is recorded in the ledger.
    """
    with ctx.write() as tx:
        catalog = ctx.catalog(tx.conn)
        req = promotions.request(tx.conn, request_id, lock=True)
        ctx.require(catalog, Operation.APPLY, req.entry)
        results = evaluate_gates(catalog, _facts(tx.conn, catalog, req, tx.now))
        failed = blocking(results)
        if not failed:
            approvers = [
                a.approver
                for a in promotions.approvals(tx.conn, request_id)
                if a.decision is Decision.APPROVE
            ]
            held = (
                stages.holder(tx.conn, req.entry, req.target)
                if req.target in SINGLE_HOLDER_STAGES
                else None
            )
            event = tx.append(
                "promotion.apply",
                f"{req.entry}@{req.version}",
                {
                    "displaces": held.number if held is not None else None,
                    "request": req.id,
                    "entry": req.entry,
                    "version": req.version,
                    "digest": req.digest,
                    "target": req.target,
                    "approved_by": approvers,
                    "gates": [asdict(g) for g in results],
                },
            )
            change = move(
                ctx,
                tx,
                entry=req.entry,
                number=req.version,
                stage=req.target,
                reason=req.reason,
                cause="promotion",
                request_id=req.id,
                approved_by=approvers,
                ledger_seq=event.seq,
            )
            promotions.set_status(tx.conn, req.id, RequestStatus.APPLIED, tx.now_text)
            promotions.insert_gate_results(tx.conn, req.id, results, seq=event.seq, at=tx.now_text)
    if not failed:
        if change.stage == Stage.PRODUCTION or change.left == Stage.PRODUCTION:
            deployments.write_deployments(ctx, change.entry)
        return change
    if req.status is RequestStatus.PENDING:
        with ctx.write() as tx:
            event = tx.append(
                "promotion.refused",
                f"{req.entry}@{req.version}",
                {"request": req.id, "failed": [asdict(g) for g in failed]},
            )
            promotions.insert_gate_results(tx.conn, req.id, results, seq=event.seq, at=tx.now_text)
    raise GateRefused(
        f"request {request_id} refused: " + "; ".join(f"{g.name}: {g.detail}" for g in failed),
        gates=results,
        entry=req.entry,
        version=req.version,
        stage=req.target,
    )


def move(
    ctx: Context,
    tx: Tx,
    *,
    entry: str,
    number: int,
    stage: Stage,
    reason: str,
    cause: str,
    request_id: int | None,
    approved_by: Sequence[str],
    ledger_seq: int,
) -> StageChange:
    """Put ``entry@number`` in ``stage`` inside ``tx``, displacing the current holder of a
    single-holder stage to the stage below it."""
    previous: int | None = None
    if stage in SINGLE_HOLDER_STAGES:
        held = stages.holder(tx.conn, entry, stage)
        if held is not None and held.number != number:
            previous = held.number
            stages.reassign(
                tx.conn,
                held.id,
                entry=entry,
                number=held.number,
                stage=DISPLACED_TO[stage],
                at=tx.now_text,
                actor=ctx.actor,
                reason=f"displaced from {stage} by {entry}@{number}",
                cause="displaced",
                request_id=request_id,
                approved_by=[],
                ledger_seq=ledger_seq,
            )
    current = stages.current(tx.conn, entry, number)
    if current is None:
        raise NotFound(f"{entry}@{number} has no stage", entry=entry, version=number)
    stages.reassign(
        tx.conn,
        current.id,
        entry=entry,
        number=number,
        stage=stage,
        at=tx.now_text,
        actor=ctx.actor,
        reason=reason,
        cause=cause,
        request_id=request_id,
        approved_by=approved_by,
        ledger_seq=ledger_seq,
    )
    return StageChange(
        entry=entry,
        stage=stage.value,
        version=number,
        previous=previous,
        ledger_seq=ledger_seq,
        request=request_id,
        approved_by=list(approved_by),
        left=current.stage.value,
    )


def import_stage(
    ctx: Context, entry: str, version: int, *, stage: str, origin: Mapping[str, object]
) -> StageChange | None:
    """Put an imported version in ``stage`` as its origin registry had it, recorded as an
    import (no approvals were given here). ``None`` when it already holds the stage."""
    target = parse_stage(stage)
    with ctx.write() as tx:
        ctx.require(ctx.catalog(tx.conn), Operation.IMPORT, entry)
        versions.version(tx.conn, entry, version)
        current = stages.current(tx.conn, entry, version)
        if current is not None and current.stage == target:
            return None
        event = tx.append(
            "stage.import",
            f"{entry}@{version}",
            {
                "entry": entry,
                "version": version,
                "stage": target,
                "imported": True,
                "origin": dict(origin),
            },
        )
        change = move(
            ctx,
            tx,
            entry=entry,
            number=version,
            stage=target,
            reason=f"imported: {origin.get('system', 'external')} had it in {target}",
            cause="import",
            request_id=None,
            approved_by=[],
            ledger_seq=event.seq,
        )
    if target is Stage.PRODUCTION:
        deployments.write_deployments(ctx, entry)
    return change


def rollback(ctx: Context, entry: str, *, stage: str, reason: str) -> StageChange:
    """Return ``stage`` of ``entry`` to the version that held it before the current one;
    the restored version keeps the approvals it was promoted with.

    Raises:
        NotFound: nothing holds the stage, or nothing held it before.
        Conflict: the earlier holder is now in another single-holder stage.
        Refused: the actor may not roll back.
    """
    check_name(entry)
    target = parse_stage(stage)
    why = check_reason(reason)
    if target not in SINGLE_HOLDER_STAGES:
        raise BadInput(f"rollback works on staging or production, not {target}")
    with ctx.write() as tx:
        catalog = ctx.catalog(tx.conn)
        catalog.entry(entry)
        ctx.require(catalog, Operation.ROLLBACK, entry)
        held = stages.holder(tx.conn, entry, target)
        if held is None:
            raise NotFound(f"no version of {entry} is in {target}; nothing to roll back")
        before = stages.previous_holder(tx.conn, entry, target, not_number=held.number)
        if before is None:
            raise NotFound(
                f"no earlier version of {entry} held {target}; nothing to roll back to",
                entry=entry,
                stage=target,
            )
        restored = before.number
        now_in = stages.current(tx.conn, entry, restored)
        if now_in is not None and now_in.stage in SINGLE_HOLDER_STAGES:
            raise Conflict(
                f"{entry}@{restored}, which held {target} before, is now in "
                f"{now_in.stage}; rolling {target} back would take it out of "
                f"{now_in.stage}. Promote another version to {target} instead",
                entry=entry,
                stage=target,
            )
        approvers = list(before.approved_by)
        event = tx.append(
            "stage.rollback",
            f"{entry}@{restored}",
            {
                "entry": entry,
                "stage": target,
                "from_version": held.number,
                "to_version": restored,
                "reason": why,
                "approved_by": approvers,
            },
        )
        stages.reassign(
            tx.conn,
            held.id,
            entry=entry,
            number=held.number,
            stage=DISPLACED_TO[target],
            at=tx.now_text,
            actor=ctx.actor,
            reason=f"rolled back: {why}",
            cause="rollback",
            request_id=None,
            approved_by=[],
            ledger_seq=event.seq,
        )
        if now_in is None:
            raise NotFound(f"{entry}@{restored} has no stage", entry=entry, version=restored)
        stages.reassign(
            tx.conn,
            now_in.id,
            entry=entry,
            number=restored,
            stage=target,
            at=tx.now_text,
            actor=ctx.actor,
            reason=f"rollback: {why}",
            cause="rollback",
            request_id=before.request_id,
            approved_by=approvers,
            ledger_seq=event.seq,
        )
    if target is Stage.PRODUCTION:
        deployments.write_deployments(ctx, entry)
    return StageChange(
        entry=entry,
        stage=target.value,
        version=restored,
        previous=held.number,
        ledger_seq=event.seq,
        request=before.request_id,
        approved_by=approvers,
    )
