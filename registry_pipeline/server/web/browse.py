"""The pages for looking things up: entries and versions, the audit page, exports."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from registry_pipeline.core.errors import NotFound
from registry_pipeline.server.web.auth import Person
from registry_pipeline.server.web.pages import Name, acting
from registry_pipeline.server.web.render import dagster_link, page

router = APIRouter(include_in_schema=False)
RECENT_EVENTS = 50


@router.get("/entries", name="entries")
def entries(request: Request, who: Person) -> Response:
    """Every catalog entry with its latest version and stage holders."""
    return page(request, "entries.html", {"entries": acting(request, who).list_entries()})


@router.get("/entries/{name}", name="entry")
def entry(request: Request, who: Person, name: Name) -> Response:
    """An entry's newest versions, their stages and requests."""
    view = acting(request, who).review.entry(name)
    dagster = getattr(request.app.state, "dagster_url", None)
    return page(
        request, "entry.html", {"e": view, "dagster": dagster_link(dagster, view.kind, view.entry)}
    )


@router.get("/entries/{name}/versions/{number}", name="version")
def version(
    request: Request,
    who: Person,
    name: Name,
    number: Annotated[int, Path(ge=1, le=2**31)],
) -> Response:
    """One version: its digest, stage, lineage, evals, card and requests."""
    registry = acting(request, who)
    ref = f"{name}@{number}"
    return page(
        request,
        "version.html",
        {
            "v": registry.show(ref),
            "card": registry.card(ref),
            "lineage": registry.lineage(ref),
            "requests": registry.review.version_requests(name, number),
        },
    )


@router.get("/audit", name="audit")
def audit(request: Request, who: Person, verify: bool = False) -> Response:
    """The ledger head and the latest events; with ``verify``, the verdict of recomputing
    the whole chain (on demand: it reads every event)."""
    registry = acting(request, who)
    head = registry.ledger_head()
    feed = registry.events(after=max(0, head.seq - RECENT_EVENTS), limit=RECENT_EVENTS)
    return page(
        request,
        "audit.html",
        {
            "head": head,
            "verdict": registry.verify() if verify else None,
            "events": [e.to_dict() for e in reversed(feed.events)],
        },
    )


@router.get("/exports", name="exports")
def exports(request: Request, who: Person) -> Response:
    """The governance exports, each a download."""
    from registry_pipeline.exports import FORMATS

    acting(request, who).ledger_head()
    return page(request, "exports.html", {"formats": FORMATS})


@router.get("/exports/{fmt}.zip", name="export")
def export(request: Request, who: Person, fmt: Annotated[str, Path(max_length=32)]) -> Response:
    """Build export ``fmt`` of the registry as it is now and send it as a zip."""
    from registry_pipeline.exports import FORMATS
    from registry_pipeline.exports import export as build

    if fmt not in FORMATS:
        raise NotFound(f"no export {fmt[:32]!r}; the exports are {', '.join(FORMATS)}")
    registry = acting(request, who)
    with tempfile.TemporaryDirectory(prefix="registry-export-") as out:
        built = build(registry, fmt, out)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            root = FilePath(out)
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(root).as_posix())
    body = buffer.getvalue()
    seq = built.get("as_of", {}).get("ledger_seq", "")
    return Response(
        body,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="registry-{fmt}-seq{seq}.zip"',
            "Cache-Control": "no-store",
        },
    )
