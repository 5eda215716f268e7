"""The AI-use notice anyone may embed: ``/embed/v1/notice.js`` and its public JSON.

Only workloads the policy lists under ``public:`` answer, and only with an approved stack
in production; anything else is a 404 that says nothing about why. No cookie is read or
set, every answer carries an ETag (the ledger head), and the script builds the notice with
DOM calls only (no inline script, no HTML from the server).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from registry_pipeline.server.deps import state
from registry_pipeline.server.web.render import HERE, page
from registry_pipeline.service import Registry

router = APIRouter(include_in_schema=False)
PUBLIC = {
    "Access-Control-Allow-Origin": "*",
    "Cache-Control": "public, max-age=60",
    "Vary": "Origin",
    "X-Content-Type-Options": "nosniff",
}
Workload = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[a-z0-9][a-z0-9._-]*$")]


def _public(request: Request) -> Registry:
    return Registry(state(request).store(), actor="public")


def _etag(registry: Registry, workload: str) -> str:
    return f'W/"{workload}-{registry.ledger_head().seq}"'


def _not_modified(request: Request, etag: str) -> Response | None:
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={**PUBLIC, "ETag": etag})
    return None


def _missing() -> Response:
    return JSONResponse(
        {"detail": "no public notice for this workload"}, status_code=404, headers=PUBLIC
    )


@router.get("/embed/v1/notice.js")
def notice_script() -> Response:
    """The script: renders the notice of its ``data-workload`` after itself."""
    return FileResponse(
        HERE / "static" / "notice.js",
        media_type="text/javascript",
        headers={**PUBLIC, "Cache-Control": "public, max-age=300"},
    )


@router.get("/embed/v1/workloads/{workload}.json")
def notice(request: Request, workload: Workload) -> Response:
    """What the notice shows: the system's name, its production stack version, when that
    was approved and where its public card is."""
    registry = _public(request)
    etag = _etag(registry, workload)
    unchanged = _not_modified(request, etag)
    if unchanged is not None:
        return unchanged
    found = registry.review.notice(workload)
    if found is None:
        return _missing()
    resolution, _card = found
    body: dict[str, Any] = {
        "workload": workload,
        "ai_system": True,
        "stack": resolution.stack.entry,
        "version": resolution.stack.version,
        "digest": resolution.stack.digest,
        "approved_at": resolution.since,
        "card_url": str(request.url_for("public_card", workload=workload)),
    }
    return JSONResponse(body, headers={**PUBLIC, "ETag": etag})


@router.get("/embed/v1/workloads/{workload}/card", name="public_card")
def public_card(request: Request, workload: Workload) -> Response:
    """The production stack's card, for a public workload."""
    registry = _public(request)
    found = registry.review.notice(workload)
    if found is None:
        return page(
            request, "error.html", {"status": 404, "detail": "no public card"}, status_code=404
        )
    resolution, card = found
    response = page(request, "public_card.html", {"res": resolution, "card": card})
    response.headers["Cache-Control"] = "public, max-age=60"
    return response
