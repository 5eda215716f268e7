"""Decisions on promotion requests: approve, reject (each approver once, replaceable while
the request is pending), and withdraw. Refuses at the door what the approvals gate would
never count: the requester's own approval, a registrant's where the policy separates them,
an unsigned or wrongly signed one where the rule needs signatures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from registry_pipeline.core.catalog import Catalog, Operation
from registry_pipeline.core.digests import canonical_json
from registry_pipeline.core.names import check_reason
from registry_pipeline.core.promotion import (
    Decision,
    DutyConflict,
    PromotionRequest,
    RequestStatus,
    approval_payload,
    approval_problem,
)
from registry_pipeline.core.times import format_time, parse_stored
from registry_pipeline.errors import BadInput, Conflict, Refused, Step
from registry_pipeline.service.context import Context
from registry_pipeline.service.results import Decided, Withdrawn
from registry_pipeline.store import promotions, versions

SIGNING_WINDOW = timedelta(minutes=10)
"""How long the document :func:`to_sign` gives stays good for a detached signature."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ToSign:
    """The approval document an approver signs away from the server (a client holding the
    key, or a person pasting a detached signature): its time is fixed when it is asked for
    and it is taken back for :data:`SIGNING_WINDOW`."""

    payload: Mapping[str, Any]

    @property
    def signed_at(self) -> str:
        """The time inside the document, to send back with the signature."""
        return str(self.payload["time"])

    def to_dict(self) -> dict[str, Any]:
        """``{payload, message, signed_at, expires_in_seconds}``: ``message`` is the exact
        text (canonical JSON) an Ed25519 key signs."""
        return {
            "payload": dict(self.payload),
            "message": canonical_json(self.payload).decode("utf-8"),
            "signed_at": self.signed_at,
            "expires_in_seconds": int(SIGNING_WINDOW.total_seconds()),
        }


@dataclass(frozen=True, slots=True)
class Signed:
    """A detached Ed25519 signature (base64) over the document :func:`to_sign` gave."""

    signature: str
    signed_at: str


def to_sign(ctx: Context, request_id: int, *, reason: str) -> ToSign:
    """The approval document ``ctx``'s principal would sign to approve ``request_id`` now.

    Raises:
        Conflict: the request is no longer pending.
        Refused: the principal may not approve it (role or separation of duties).
    """
    why = check_reason(reason)
    with ctx.store.read() as conn:
        req = decidable(ctx, conn, request_id, Decision.APPROVE, lock=False)
    return ToSign(
        payload=_payload(req, ctx.actor, Decision.APPROVE, why, format_time(datetime.now(UTC)))
    )


def _signed_time(signed: Signed, now: datetime) -> str:
    """The time of a detached signature's document, if it is still good."""
    try:
        at = parse_stored(signed.signed_at)
    except ValueError:
        raise BadInput(
            f"signed_at {signed.signed_at[:40]!r} is not a time the registry gave to sign"
        ) from None
    if not now - SIGNING_WINDOW <= at <= now + timedelta(seconds=5):
        raise Refused(
            f"the approval document was given to sign at {signed.signed_at}, more than "
            f"{int(SIGNING_WINDOW.total_seconds() // 60)} minutes ago; ask for a new one"
        )
    return signed.signed_at


def decide(
    ctx: Context,
    request_id: int,
    decision: Decision,
    *,
    reason: str,
    key: str | Path | None = None,
    signed: Signed | None = None,
) -> Decided:
    """Approve or reject a pending request, optionally signing with an Ed25519 key file
    (``key``) or with a detached signature over the document :func:`to_sign` gave
    (``signed``).

    An approver who already decided replaces their decision (both stay in the ledger).

    Raises:
        Conflict: the request is no longer pending, or its version's content changed.
        Refused: the actor may not decide, approves their own request or version, or
            approves unsigned (or with a key the policy does not hold) where the rule
            needs signed approvals.
    """
    from registry_pipeline import signatures

    why = check_reason(reason)
    if key is not None and signed is not None:
        raise BadInput("sign with a key file or send a detached signature, not both")
    private = signatures.load_private(Path(key)) if key is not None else None
    with ctx.write() as tx:
        catalog = ctx.catalog(tx.conn)
        req = decidable(ctx, tx.conn, request_id, decision, lock=True)
        at = _signed_time(signed, tx.now) if signed is not None else tx.now_text
        earlier = [a for a in promotions.approvals(tx.conn, request_id) if a.approver == ctx.actor]
        payload = _payload(req, ctx.actor, decision, why, at)
        signature = (
            signatures.sign(private, payload)
            if private is not None
            else (signed.signature if signed is not None else None)
        )
        if decision is Decision.APPROVE:
            _check_signature(catalog, req, ctx.actor, payload, signature)
        promotions.record_decision(
            tx.conn,
            request_id=request_id,
            approver=ctx.actor,
            decision=decision,
            reason=why,
            digest=req.digest,
            signature=signature,
            at=at,
            replaces=bool(earlier),
            groups=ctx.principal.groups,
        )
        if decision is Decision.REJECT:
            promotions.set_status(tx.conn, request_id, RequestStatus.REJECTED, tx.now_text)
        event: dict[str, object] = {**payload, "signature": signature}
        if earlier:
            event["replaces"] = {
                "decision": earlier[0].decision.value,
                "reason": earlier[0].reason,
                "time": format_time(earlier[0].created_at),
                "signed": earlier[0].signature is not None,
            }
        tx.append(f"promotion.{decision}", f"request:{request_id}", event)
    return Decided(
        request=request_id,
        decision=decision.value,
        approver=ctx.actor,
        signed=signature is not None,
        replaced=bool(earlier),
    )


def _payload(
    req: PromotionRequest, approver: str, decision: Decision, reason: str, at: str
) -> Mapping[str, Any]:
    """The document ``approver`` signs to decide ``req`` at ``at``."""
    return approval_payload(
        request_id=req.id,
        entry=req.entry,
        version=req.version,
        digest=req.digest,
        target=req.target,
        approver=approver,
        decision=decision,
        reason=reason,
        created_at=at,
    )


def decidable(
    ctx: Context, conn: Connection, request_id: int, decision: Decision, *, lock: bool = False
) -> PromotionRequest:
    """The request, if ``ctx``'s principal may make ``decision`` on it now: still pending,
    the principal an approver of its entry (and, to approve, not barred by separation of
    duties), its version's content unchanged."""
    catalog = ctx.catalog(conn)
    req = promotions.request(conn, request_id, lock=lock)
    if req.status is not RequestStatus.PENDING:
        raise Conflict(f"request {request_id} is already {req.status}")
    ctx.require(catalog, Operation.APPROVE, req.entry)
    version = versions.version(conn, req.entry, req.version)
    if decision is Decision.APPROVE:
        _check_may_approve(ctx, catalog, req, registrant=version.created_by)
    if version.digest != req.digest:
        raise Conflict(f"request {request_id}'s version content changed; open a new one")
    return req


def _check_may_approve(
    ctx: Context, catalog: Catalog, req: PromotionRequest, *, registrant: str
) -> None:
    conflict = approval_problem(
        approver=ctx.actor, request=req, registrant=registrant, policy=catalog.policy
    )
    if conflict is DutyConflict.REQUESTER:
        raise Refused(
            f"{ctx.actor} requested {req.entry}@{req.version} -> {req.target} and "
            "cannot approve it; another approver must"
        )
    if conflict is DutyConflict.REGISTRANT:
        raise Refused(
            f"{ctx.actor} registered {req.entry}@{req.version} and cannot approve it "
            "(policy.separate_registrant); another approver must"
        )


def _check_signature(
    catalog: Catalog,
    req: PromotionRequest,
    approver: str,
    payload: Mapping[str, object],
    signature: str | None,
) -> None:
    """Refuse an approval that the approvals gate would never count for want of a valid
    signature, so that it is not recorded as if it were one."""
    from registry_pipeline import signatures

    rule = catalog.policy.rule_for(req.target, catalog.risk_class(req.entry))
    if not rule.signed_approvals:
        return
    public = catalog.policy.approver_keys.get(approver)
    if signature is None:
        raise Refused(
            f"{req.entry}@{req.version} -> {req.target} needs signed approvals and this one "
            "is unsigned",
            entry=req.entry,
            version=req.version,
            stage=req.target,
            step=Step.SIGN_APPROVAL,
            about={"approver": approver},
        )
    if public is None or not signatures.verify(public, payload, signature):
        raise Refused(
            f"{req.entry}@{req.version} -> {req.target} needs signed approvals and "
            f"policy.approver_keys has {'no key' if public is None else 'another key'} "
            f"for {approver}",
            entry=req.entry,
            version=req.version,
            stage=req.target,
            hint="sign with the key the policy names, or have an admin add yours",
        )


def withdraw(ctx: Context, request_id: int, *, reason: str) -> Withdrawn:
    """Withdraw a pending request: its requester or an admin frees the version for a new one.

    Raises:
        Conflict: the request is no longer pending.
        Refused: the actor is neither the requester nor an admin.
    """
    why = check_reason(reason)
    with ctx.write() as tx:
        catalog = ctx.catalog(tx.conn)
        req = promotions.request(tx.conn, request_id, lock=True)
        if req.status is not RequestStatus.PENDING:
            raise Conflict(f"request {request_id} is already {req.status}")
        if ctx.actor != req.requester and ctx.actor not in catalog.policy.admins:
            raise Refused(
                f"{ctx.actor} may not withdraw request {request_id}: only its requester "
                f"({req.requester}) or an admin (policy.admins) may",
                entry=req.entry,
            )
        promotions.set_status(tx.conn, request_id, RequestStatus.WITHDRAWN, tx.now_text)
        tx.append(
            "promotion.withdraw",
            f"request:{request_id}",
            {
                "request": request_id,
                "entry": req.entry,
                "version": req.version,
                "target": req.target,
                "reason": why,
            },
        )
    return Withdrawn(
        request=request_id,
        entry=req.entry,
        version=req.version,
        target=req.target.value,
        by=ctx.actor,
        reason=why,
    )
