"""Identity, the catalog, tokens and the ledger."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam

from registry_pipeline.server.deps import Reg
from registry_pipeline.server.paging import DEFAULT_PAGE, PageSize, PageToken, page
from registry_pipeline.server.responses import (
    AnchorDoc,
    CatalogDoc,
    CatalogRecorded,
    TokenCreatedDoc,
    TokenInfoDoc,
    TokenList,
    Verdict,
    WhoAmIDoc,
    ok,
)
from registry_pipeline.server.schemas import ID, CatalogBody, TokenBody

router = APIRouter()


@router.get("/whoami", response_model=None, responses=ok(WhoAmIDoc))
def whoami(reg: Reg) -> Any:
    """The caller, how it was authenticated, and its roles."""
    return reg.whoami().to_dict()


@router.get("/catalog", response_model=None, responses=ok(CatalogDoc))
def catalog(reg: Reg) -> Any:
    """The catalog document current in the registry (entries, workloads, policy)."""
    from registry_pipeline.service.catalog_sync import recorded_document

    return {"document": recorded_document(reg.store)}


@router.put("/catalog", response_model=None, responses=ok(CatalogRecorded))
def record_catalog(reg: Reg, body: CatalogBody) -> Any:
    """Record a new catalog (entries, workloads, policy) if it changed; admins only."""
    from registry_pipeline.catalog import catalog_from_document

    loaded = catalog_from_document(body.document)
    change = reg.record_catalog(loaded, body.document, source=body.source)
    return {**change.to_dict(), "entries": len(loaded.entries)}


@router.get("/ledger/head", response_model=None, responses=ok(AnchorDoc))
def ledger_head(reg: Reg) -> Any:
    """The ledger head as an anchor (``SEQ:HASH``)."""
    return reg.anchor().to_dict()


@router.get("/ledger/verify", response_model=None, responses=ok(Verdict))
def verify(
    reg: Reg,
    anchor: Annotated[str | None, Query(pattern=r"^([0-9]{1,19}:)?[0-9a-f]{64}$")] = None,
) -> Any:
    """Recompute the hash chain (and check an anchor taken earlier)."""
    return reg.verify(anchor=anchor).to_dict()


@router.get("/tokens", response_model=None, responses=ok(TokenList))
def tokens_list(reg: Reg, page_size: PageSize = DEFAULT_PAGE, page_token: PageToken = None) -> Any:
    """Tokens the caller may see (never their secrets)."""
    items, after = page(reg.tokens.list(), page_size, page_token)
    return {"tokens": [t.to_dict() for t in items], "next_page_token": after}


@router.post("/tokens", status_code=201, response_model=None, responses=ok(TokenCreatedDoc, 201))
def tokens_create(reg: Reg, body: TokenBody) -> Any:
    """Mint a token (for oneself; admins for anyone). The secret is in this answer only."""
    created = reg.tokens.create(
        principal=body.principal, name=body.name, expires_in=body.expires_in
    )
    return created.to_dict()


@router.delete("/tokens/{token_id}", response_model=None, responses=ok(TokenInfoDoc))
def tokens_revoke(reg: Reg, token_id: Annotated[int, PathParam(**ID)]) -> Any:
    """Revoke a token."""
    return reg.tokens.revoke(token_id).to_dict()
