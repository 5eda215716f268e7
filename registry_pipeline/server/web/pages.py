"""The pages where people decide: the inbox, a request, a workload.

Each action is a form POST that calls the same service method as the CLI, as the logged-in
principal; what a page offers (a decide button, a rollback form) is what the service says
that principal may do, and the service checks it again when the form arrives.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from registry_pipeline.core.errors import BadInput
from registry_pipeline.core.identity import Principal
from registry_pipeline.core.promotion import Decision
from registry_pipeline.server.deps import state
from registry_pipeline.server.web.auth import Csrf, Person, checked
from registry_pipeline.server.web.render import dagster_link, page
from registry_pipeline.service import Registry
from registry_pipeline.service.approvals import Signed

router = APIRouter(include_in_schema=False)
RequestId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Name = Annotated[str, Path(min_length=1, max_length=128)]
Reason = Annotated[str, Form(min_length=1, max_length=2000)]


def acting(request: Request, who: Principal) -> Registry:
    """The registry acting as ``who``."""
    return state(request).acting_as(who)


@router.get("/", name="inbox")
def inbox(request: Request, who: Person) -> Response:
    """Requests I may decide, and requests I opened."""
    return page(request, "inbox.html", {"inbox": acting(request, who).review.inbox()})


@router.get("/requests/{request_id}", name="request_page")
def request_page(request: Request, who: Person, request_id: RequestId) -> Response:
    """Every gate with why, the evidence beside what it would replace, and the decision."""
    registry = acting(request, who)
    review = registry.review.request(request_id)
    catalog = registry.catalog()
    dagster = getattr(request.app.state, "dagster_url", None)

    def link(entry: str) -> str | None:
        spec = catalog.entries.get(entry)
        return dagster_link(dagster, spec.kind.value if spec else None, entry)

    return page(request, "request.html", {"r": review, "dagster": link})


@router.post("/requests/{request_id}/decide", name="decide")
def decide(
    request: Request,
    request_id: RequestId,
    decision: Annotated[str, Form(max_length=16)],
    reason: Reason,
    csrf: Csrf = None,
    signature: Annotated[str | None, Form(max_length=512)] = None,
    signed_at: Annotated[str | None, Form(max_length=64)] = None,
) -> Response:
    """Approve or reject, with a reason (and, where the policy needs it, a signature)."""
    who = checked(request, csrf)
    if decision not in (Decision.APPROVE.value, Decision.REJECT.value):
        raise BadInput(f"decision must be approve or reject, not {decision[:16]!r}")
    signed = (
        Signed(signature=signature.strip(), signed_at=(signed_at or "").strip())
        if signature and signature.strip()
        else None
    )
    registry = acting(request, who)
    if decision == Decision.APPROVE.value:
        registry.approve(request_id, reason=reason, signed=signed)
    else:
        registry.reject(request_id, reason=reason)
    return RedirectResponse(f"/requests/{request_id}", status_code=303)


@router.get("/requests/{request_id}/sign", name="to_sign")
def to_sign(
    request: Request,
    who: Person,
    request_id: RequestId,
    reason: Annotated[str, Query(min_length=1, max_length=2000)],
) -> Response:
    """The document to sign for approving with ``reason``, and the signature form."""
    document = acting(request, who).to_sign(request_id, reason=reason).to_dict()
    digest = hashlib.sha256(document["message"].encode("utf-8")).hexdigest()
    return page(
        request,
        "sign.html",
        {"request_id": request_id, "reason": reason, "doc": document, "digest": digest},
    )


@router.post("/requests/{request_id}/apply", name="apply")
def apply(request: Request, request_id: RequestId, csrf: Csrf = None) -> Response:
    """Apply the request (every gate re-checked in the write)."""
    who = checked(request, csrf)
    acting(request, who).apply(request_id)
    return RedirectResponse(f"/requests/{request_id}", status_code=303)


@router.get("/workloads", name="workloads")
def workloads(request: Request, who: Person) -> Response:
    """Every workload and its stack."""
    catalog = acting(request, who).catalog()
    return page(
        request,
        "workloads.html",
        {"workloads": sorted(catalog.workloads.values(), key=lambda w: w.name)},
    )


@router.get("/workloads/{name}", name="workload")
def workload(
    request: Request,
    who: Person,
    name: Name,
    at: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Who moved production when, approved by whom; what ran at an instant."""
    view = acting(request, who).review.workload(name, at=at or None)
    return page(request, "workload.html", {"w": view})


@router.post("/workloads/{name}/rollback", name="rollback")
def rollback(request: Request, name: Name, reason: Reason, csrf: Csrf = None) -> Response:
    """Put the previous production stack back, with a reason."""
    who = checked(request, csrf)
    registry = acting(request, who)
    stack = registry.catalog().workload(name).stack
    registry.rollback(stack, stage="production", reason=reason)
    return RedirectResponse(f"/workloads/{name}", status_code=303)
