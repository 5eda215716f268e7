"""Promotion and production: requests and their decisions, rollback, resolve, history,
reviews due, deployment manifests."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from registry_pipeline.server.deps import Reg
from registry_pipeline.server.hot import resolution
from registry_pipeline.server.paging import DEFAULT_PAGE, PageSize, PageToken, page
from registry_pipeline.server.responses import (
    DecidedDoc,
    GateReportDoc,
    HistoryDoc,
    RequestDoc,
    RequestList,
    RequestStatusDoc,
    ResolutionDoc,
    ReviewDue,
    StageChangeDoc,
    ToSignDoc,
    WithdrawnDoc,
    Written,
    ok,
)
from registry_pipeline.server.schemas import (
    ID,
    NAME,
    STAGE,
    ApproveBody,
    DeployBody,
    PromoteBody,
    ReasonBody,
    RollbackBody,
)

router = APIRouter()
RequestId = Annotated[int, PathParam(**ID)]
Name = Annotated[str, PathParam(pattern=NAME)]


@router.post("/requests", status_code=201, response_model=None, responses=ok(RequestDoc, 201))
def promote(reg: Reg, body: PromoteBody) -> Any:
    """Open a promotion request."""
    return reg.request_promotion(body.ref, to=body.to, reason=body.reason).to_dict()


@router.get("/requests", response_model=None, responses=ok(RequestList))
def pending(reg: Reg, page_size: PageSize = DEFAULT_PAGE, page_token: PageToken = None) -> Any:
    """Every request still pending, oldest first."""
    items, after = page(reg.pending_requests(), page_size, page_token)
    return {"requests": [r.to_dict() for r in items], "next_page_token": after}


@router.get("/requests/{request_id}", response_model=None, responses=ok(RequestStatusDoc))
def request_status(reg: Reg, request_id: RequestId) -> Any:
    """A request's status (``pending``, ``applied``, ``rejected`` or ``withdrawn``)."""
    return {"request": request_id, "status": reg.request_status(request_id)}


@router.get("/requests/{request_id}/gates", response_model=None, responses=ok(GateReportDoc))
def gates(reg: Reg, request_id: RequestId) -> Any:
    """Every gate of a request: pass or fail, and why."""
    return reg.gates(request_id).to_dict()


@router.post("/requests/{request_id}/to-sign", response_model=None, responses=ok(ToSignDoc))
def to_sign(reg: Reg, request_id: RequestId, body: ReasonBody) -> Any:
    """The approval document the caller would sign to approve with this reason: sign
    ``message`` with your Ed25519 key and send the signature with ``signed_at`` to
    ``approve`` within ``expires_in_seconds``."""
    return reg.to_sign(request_id, reason=body.reason).to_dict()


@router.post("/requests/{request_id}/approve", response_model=None, responses=ok(DecidedDoc))
def approve(reg: Reg, request_id: RequestId, body: ApproveBody) -> Any:
    """Approve a request as the authenticated principal (never one's own)."""
    from registry_pipeline.core.errors import BadInput
    from registry_pipeline.service.approvals import Signed

    if (body.signature is None) != (body.signed_at is None):
        raise BadInput("a signed approval needs both signature and signed_at")
    signed = (
        Signed(body.signature, body.signed_at)
        if body.signature is not None and body.signed_at is not None
        else None
    )
    return reg.approve(request_id, reason=body.reason, signed=signed).to_dict()


@router.post("/requests/{request_id}/reject", response_model=None, responses=ok(DecidedDoc))
def reject(reg: Reg, request_id: RequestId, body: ReasonBody) -> Any:
    """Reject a request; it can no longer be applied."""
    return reg.reject(request_id, reason=body.reason).to_dict()


@router.post("/requests/{request_id}/withdraw", response_model=None, responses=ok(WithdrawnDoc))
def withdraw(reg: Reg, request_id: RequestId, body: ReasonBody) -> Any:
    """Withdraw a pending request (its requester or an admin)."""
    return reg.withdraw(request_id, reason=body.reason).to_dict()


@router.post("/requests/{request_id}/apply", response_model=None, responses=ok(StageChangeDoc))
def apply(reg: Reg, request_id: RequestId) -> Any:
    """Apply a request if every gate passes (re-checked in the same transaction)."""
    return reg.apply(request_id).to_dict()


@router.post("/entries/{entry}/rollback", response_model=None, responses=ok(StageChangeDoc))
def rollback(reg: Reg, entry: Name, body: RollbackBody) -> Any:
    """Return a stage of an entry to the version that held it before."""
    return reg.rollback(entry, stage=body.stage, reason=body.reason).to_dict()


@router.get("/workloads/{workload}/resolve", response_model=None, responses=ok(ResolutionDoc))
def resolve(
    request: Request,
    reg: Reg,
    workload: Name,
    at: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The production stack of a workload, now or ``at`` an instant.

    The weak ``ETag`` is the ledger head the answer was read at: two answers with one head
    differ at most in ``as_of.time``. ``If-None-Match`` with it answers 304."""
    return resolution(reg, workload, at, request.headers.get("if-none-match", ""))


@router.get("/entries/{entry}/history", response_model=None, responses=ok(HistoryDoc))
def history(
    reg: Reg,
    entry: Name,
    stage: Annotated[str | None, Query(pattern=STAGE)] = None,
    page_size: PageSize = DEFAULT_PAGE,
    page_token: PageToken = None,
) -> Any:
    """Who moved which version of an entry into which stage, and when (oldest first)."""
    items, after = page(reg.history(entry, stage=stage), page_size, page_token)
    return {"entry": entry, "history": [h.to_dict() for h in items], "next_page_token": after}


@router.get("/reviews/due", response_model=None, responses=ok(ReviewDue))
def review_due(
    reg: Reg,
    entry: Annotated[str | None, Query(pattern=NAME)] = None,
    page_size: PageSize = DEFAULT_PAGE,
    page_token: PageToken = None,
) -> Any:
    """Production versions whose approval or evals have outlived the policy."""
    items, after = page(reg.review_due(entry=entry), page_size, page_token)
    return {"due": [r.to_dict() for r in items], "next_page_token": after}


@router.post("/deployments", response_model=None, responses=ok(Written))
def deploy(reg: Reg, body: DeployBody) -> Any:
    """Rewrite the server's deployment manifests from the store (all workloads, or those a
    stack serves); answers the paths written."""
    return {"written": reg.write_deployments(body.stack)}
