"""The event feed (a long poll on the ledger) and webhooks."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool

from registry_pipeline.server.deps import Reg, state
from registry_pipeline.server.paging import DEFAULT_PAGE, PageSize, PageToken, page
from registry_pipeline.server.responses import (
    DeliveryDoc,
    DeliveryList,
    FeedDoc,
    WebhookCreatedDoc,
    WebhookDoc,
    WebhookList,
    ok,
)
from registry_pipeline.server.schemas import ID, WebhookBody
from registry_pipeline.service.events import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter()
MAX_WAIT = 60.0


@router.get("/events", response_model=None, responses=ok(FeedDoc))
async def events(
    request: Request,
    reg: Reg,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="The cursor: a seq")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT, description="Seconds to wait for an event")
    ] = 0,
) -> Any:
    """Ledger events after seq ``after``, oldest first, and the cursor to ask after next;
    with ``wait``, an empty answer waits (up to that many seconds) for the next event."""
    feed = await run_in_threadpool(reg.events, after=after, limit=limit)
    if not feed.events and wait > 0:
        await state(request).heads.wait_past(after, wait)
        feed = await run_in_threadpool(reg.events, after=after, limit=limit)
    return feed.to_dict()


@router.post(
    "/webhooks", status_code=201, response_model=None, responses=ok(WebhookCreatedDoc, 201)
)
def webhooks_add(reg: Reg, body: WebhookBody) -> Any:
    """Subscribe a receiver (admins). The signing secret is in this answer only."""
    created = reg.webhooks.add(
        body.url, events=body.events, entry=body.entry, workload=body.workload
    )
    return created.to_dict()


@router.get("/webhooks", response_model=None, responses=ok(WebhookList))
def webhooks_list(
    reg: Reg, page_size: PageSize = DEFAULT_PAGE, page_token: PageToken = None
) -> Any:
    """Webhooks not removed, with their progress (admins; never their secrets)."""
    items, after = page(reg.webhooks.list(), page_size, page_token)
    return {"webhooks": [w.to_dict() for w in items], "next_page_token": after}


@router.delete("/webhooks/{webhook}", response_model=None, responses=ok(WebhookDoc))
def webhooks_remove(reg: Reg, webhook: Annotated[int, PathParam(**ID)]) -> Any:
    """Stop a webhook for good (its delivery log is kept)."""
    return reg.webhooks.remove(webhook).to_dict()


@router.post("/webhooks/{webhook}/enable", response_model=None, responses=ok(WebhookDoc))
def webhooks_enable(reg: Reg, webhook: Annotated[int, PathParam(**ID)]) -> Any:
    """Start a disabled webhook again, from the event where it stopped."""
    return reg.webhooks.enable(webhook).to_dict()


@router.get("/webhooks/{webhook}/deliveries", response_model=None, responses=ok(DeliveryList))
def webhooks_deliveries(
    reg: Reg,
    webhook: Annotated[int, PathParam(**ID)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """Every attempt (time, status code, latency, error), newest first."""
    found = reg.webhooks.deliveries(webhook, limit=limit)
    return {"deliveries": [d.to_dict() for d in found]}


@router.post(
    "/webhook-deliveries/{delivery}/redeliver", response_model=None, responses=ok(DeliveryDoc)
)
def webhooks_redeliver(reg: Reg, delivery: Annotated[int, PathParam(**ID)]) -> Any:
    """Send an attempt's event to its webhook again, now; answers the new attempt."""
    return reg.webhooks.redeliver(delivery).to_dict()
