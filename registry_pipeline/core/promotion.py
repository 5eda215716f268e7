"""Promotion requests and the approvals given on them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from registry_pipeline.core.stages import Stage


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
