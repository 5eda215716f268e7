"""The ledger's Merkle tree over HTTP (DESIGN.md §12): the signed checkpoint, inclusion and
consistency proofs, and the checkpoint key clients pin."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response

from registry_pipeline import signatures
from registry_pipeline.core.errors import NotFound
from registry_pipeline.server.deps import Reg
from registry_pipeline.server.responses import ConsistencyDoc, InclusionDoc, InfoDoc, ok

router = APIRouter()
Size = Annotated[int, Query(ge=1, le=2**62)]


def _signer(request: Request) -> Any:
    signer = getattr(request.app.state, "checkpoints", None)
    if signer is None:
        raise NotFound("this server signs no checkpoints: it was started without a key")
    return signer


@router.get("/info", response_model=None, responses=ok(InfoDoc))
def info(request: Request, reg: Reg) -> Any:
    """The server's version and the checkpoint key to pin (``null`` when it signs none)."""
    signer = getattr(request.app.state, "checkpoints", None)
    reg.ledger_head()
    return {
        "version": "1",
        "checkpoint": {"origin": signer.origin, "key": signer.verifier_key}
        if signer is not None
        else None,
    }


@router.get(
    "/ledger/checkpoint",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "A C2SP signed note"}},
)
def checkpoint(request: Request, reg: Reg) -> Response:
    """The tree head as a C2SP ``tlog-checkpoint``, signed by the server's key."""
    signer = _signer(request)
    note = signatures.sign_checkpoint(signer.key, reg.ledger.head(signer.origin))
    return PlainTextResponse(
        note, media_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-store"}
    )


@router.get("/ledger/proof/inclusion", response_model=None, responses=ok(InclusionDoc))
def inclusion(reg: Reg, seq: Size, tree_size: Size | None = None) -> Any:
    """The proof that event ``seq`` is in the tree of ``tree_size`` events (RFC 9162)."""
    return reg.ledger.inclusion(seq, tree_size=tree_size).to_dict()


@router.get("/ledger/proof/consistency", response_model=None, responses=ok(ConsistencyDoc))
def consistency(reg: Reg, first: Size, second: Size | None = None) -> Any:
    """The proof that the tree of ``second`` events extends the tree of ``first``."""
    return reg.ledger.consistency(first, second=second).to_dict()
