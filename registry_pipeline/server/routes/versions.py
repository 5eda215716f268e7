"""Entries and versions: register, show, lineage, cards, evals, A/B results, and the
questions the Dagster layer asks about them."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam

from registry_pipeline.core.kinds import EntryKind
from registry_pipeline.core.names import parse_pairs
from registry_pipeline.server.deps import Reg
from registry_pipeline.server.paging import DEFAULT_PAGE, PageSize, PageToken, page
from registry_pipeline.server.responses import (
    CardDoc,
    CardSetDoc,
    EntryList,
    EvalRecordedDoc,
    LatestPinsDoc,
    LineageDoc,
    ReadinessDoc,
    RegisteredDoc,
    SearchDoc,
    StackDueDoc,
    VersionDoc,
    ok,
)
from registry_pipeline.server.schemas import (
    NAME,
    REF,
    STAGE,
    ABBody,
    CardBody,
    EvalsBody,
    RegisterBody,
    StackBody,
)

router = APIRouter()
Ref = Annotated[str, PathParam(pattern=REF, max_length=300)]
Name = Annotated[str, PathParam(pattern=NAME)]


@router.get("/entries", response_model=None, responses=ok(EntryList))
def list_entries(
    reg: Reg,
    kind: Annotated[EntryKind | None, Query()] = None,
    page_size: PageSize = DEFAULT_PAGE,
    page_token: PageToken = None,
) -> Any:
    """Catalog entries with their versions and stage holders, by name."""
    listed = reg.list_entries(kind=kind.value if kind else None)
    items, after = page(listed, page_size, page_token)
    return {"entries": [e.to_dict() for e in items], "next_page_token": after}


@router.get("/versions", response_model=None, responses=ok(SearchDoc))
def search(
    reg: Reg,
    param: Annotated[
        list[Annotated[str, Query(max_length=400)]],
        Query(max_length=8, description="KEY=VALUE a version's params must hold"),
    ] = [],  # noqa: B006 (FastAPI copies the default)
    metric: Annotated[str | None, Query(max_length=128)] = None,
    at_least: Annotated[float | None, Query(alias="min", allow_inf_nan=False)] = None,
    at_most: Annotated[float | None, Query(alias="max", allow_inf_nan=False)] = None,
    suite: Annotated[str | None, Query(pattern=NAME)] = None,
    entry: Annotated[str | None, Query(pattern=NAME)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    page_size: PageSize = DEFAULT_PAGE,
    page_token: PageToken = None,
) -> Any:
    """Versions by tag (``param=KEY=VALUE``, repeatable) and eval metric (``metric`` within
    ``min``..``max``), from the registry's search indexes; at most ``limit`` in all."""
    found = reg.search(
        params=parse_pairs(param),
        metric=metric,
        at_least=at_least,
        at_most=at_most,
        suite=suite,
        entry=entry,
        limit=limit,
    )
    items, after = page(found.versions, page_size, page_token)
    return {
        "versions": [v.to_dict() for v in items],
        "truncated": found.truncated,
        "ledger_seq": found.ledger_seq,
        "next_page_token": after,
    }


@router.post("/versions", status_code=201, response_model=None, responses=ok(RegisteredDoc, 201))
def register(reg: Reg, body: RegisterBody) -> Any:
    """Register a version from the client's inspection (its manifest digest is recomputed
    from its files); identical content answers the existing version."""
    from registry_pipeline.inspection import inspection_from_dict

    inspection = inspection_from_dict(body.inspection)
    result = reg.register_inspected(
        body.entry, inspection, params=body.params, upstream=body.upstream
    )
    return result.to_dict()


@router.post("/stacks", status_code=201, response_model=None, responses=ok(RegisteredDoc, 201))
def register_stack(reg: Reg, body: StackBody) -> Any:
    """Register a stack version pinning an exact version of each component."""
    return reg.register_stack(body.stack, body.pins).to_dict()


@router.post(
    "/versions/{ref}/evals",
    status_code=201,
    response_model=None,
    responses=ok(EvalRecordedDoc, 201),
)
def ingest_evals(reg: Reg, ref: Ref, body: EvalsBody) -> Any:
    """Record eval results of a suite version for a version."""
    return reg.ingest_evals(ref, body.results, suite=body.suite).to_dict()


@router.post("/ab-tests", status_code=201)
def ingest_ab(reg: Reg, body: ABBody) -> Any:
    """Record an online A/B test result as evidence on both versions it compared."""
    return reg.ingest_ab(body.result).to_dict()


@router.get("/versions/{ref}", response_model=None, responses=ok(VersionDoc))
def show(reg: Reg, ref: Ref) -> Any:
    """A version (``ENTRY@VERSION``, ``ENTRY@STAGE`` or ``ENTRY``)."""
    return reg.show(ref).to_dict()


@router.get("/versions/{ref}/lineage", response_model=None, responses=ok(LineageDoc))
def lineage(reg: Reg, ref: Ref) -> Any:
    """The upstream tree and direct downstream of a version."""
    return reg.lineage(ref).to_dict()


@router.get("/versions/{ref}/card", response_model=None, responses=ok(CardDoc))
def card(reg: Reg, ref: Ref) -> Any:
    """A version's model card."""
    return reg.card(ref).to_dict()


@router.put("/versions/{ref}/card", response_model=None, responses=ok(CardSetDoc))
def set_card(reg: Reg, ref: Ref, body: CardBody) -> Any:
    """Set a version's model card from a card file's text, read as ``registry card --set``
    reads the file."""
    from registry_pipeline.inputs.card_files import parse_card_text

    document = parse_card_text(body.text, markdown=body.markdown, where="card")
    return reg.set_card(ref, document).to_dict()


@router.get("/entries/{entry}/latest-pins", response_model=None, responses=ok(LatestPinsDoc))
def latest_pins(reg: Reg, entry: Name) -> Any:
    """The latest version of each upstream entry (stack component) the entry declares."""
    found = reg.automation.latest_pins(entry)
    return {"entry": found.entry, "pins": found.refs(), "missing": list(found.missing)}


@router.get("/stacks/{stack}/due", response_model=None, responses=ok(StackDueDoc))
def stack_due(reg: Reg, stack: Name) -> Any:
    """The pins of a new version of the stack when one is due (``pins`` null when not)."""
    due = reg.automation.stack_pins_due(stack)
    return {"stack": stack, "pins": due.refs() if due is not None else None}


@router.get("/entries/{entry}/readiness", response_model=None, responses=ok(ReadinessDoc))
def readiness(
    reg: Reg, entry: Name, target: Annotated[str, Query(pattern=STAGE)] = "production"
) -> Any:
    """The evidence checks, with severities, on the entry's latest version."""
    found = reg.automation.latest_readiness(entry, target=target)
    return {
        "entry": found.entry,
        "version": found.version,
        "checks": [
            {"name": c.name, "passed": c.passed, "severity": c.severity.value, "detail": c.detail}
            for c in found.checks
        ],
    }
