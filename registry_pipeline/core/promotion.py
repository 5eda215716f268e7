"""Promotion requests and the approvals given on them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from registry_pipeline.core.stages import Stage

if TYPE_CHECKING:
    from registry_pipeline.core.catalog import Policy


class RequestStatus(StrEnum):
    """A request is pending until it is applied, rejected or withdrawn by its requester."""

    PENDING = "pending"
    APPLIED = "applied"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Decision(StrEnum):
    """What an approver decided."""

    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True, slots=True, kw_only=True)
class PromotionRequest:
    """Someone asks that a version move to a stage, for a reason."""

    id: int
    entry: str
    version: int
    digest: str
    target: Stage
    requester: str
    reason: str
    status: RequestStatus
    created_at: datetime
    decided_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """The request as the API answers it (``request`` is its id)."""
        from registry_pipeline.core.times import format_time

        return {
            "request": self.id,
            "entry": self.entry,
            "version": self.version,
            "digest": self.digest,
            "target": self.target.value,
            "requester": self.requester,
            "reason": self.reason,
            "status": self.status.value,
            "created_at": format_time(self.created_at),
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> PromotionRequest:
        """The request a :meth:`to_dict` document describes."""
        from registry_pipeline.core.times import parse_stored

        return cls(
            id=document["request"],
            entry=document["entry"],
            version=document["version"],
            digest=document["digest"],
            target=Stage(document["target"]),
            requester=document["requester"],
            reason=document["reason"],
            status=RequestStatus(document["status"]),
            created_at=parse_stored(document["created_at"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Approval:
    """An approver's decision on a request. ``signature_valid`` is ``None`` when unsigned."""

    request_id: int
    approver: str
    decision: Decision
    reason: str
    created_at: datetime
    digest: str
    signature: str | None = None
    signature_valid: bool | None = None
    groups: tuple[str, ...] = ()
    """The identity provider's groups of the approver when they decided (policy lists
    grant roles to ``group:NAME``)."""


class DutyConflict(StrEnum):
    """Why separation of duties keeps someone from approving a request (the value reads
    "<approver> <value> and cannot approve it")."""

    REQUESTER = "requested it"
    REGISTRANT = "registered this version"


def approval_problem(
    *, approver: str, request: PromotionRequest, registrant: str, policy: Policy
) -> DutyConflict | None:
    """Why separation of duties forbids ``approver`` to approve ``request``, or ``None``.

    The requester never approves their own request; with ``policy.separate_registrant``
    the one who registered the version never approves it either. The registry refuses
    such an approval when it is given, and the approvals gate does not count one that got
    into the store anyway.

    Args:
        approver: who approves.
        request: the request approved.
        registrant: who registered the requested version.
        policy: the catalog's policy.
    """
    if approver == request.requester:
        return DutyConflict.REQUESTER
    if policy.separate_registrant and approver == registrant:
        return DutyConflict.REGISTRANT
    return None


def approval_payload(
    *,
    request_id: int,
    entry: str,
    version: int,
    digest: str,
    target: str,
    approver: str,
    decision: str,
    reason: str,
    created_at: str,
) -> Mapping[str, Any]:
    """The canonical document an approver signs: it binds the exact version digest."""
    return {
        "type": "registry-pipeline/approval/v1",
        "request": request_id,
        "entry": entry,
        "version": version,
        "digest": digest,
        "target_stage": target,
        "approver": approver,
        "decision": decision,
        "reason": reason,
        "time": created_at,
    }
