"""Tamper evidence: the ledger head as an anchor, and verification of the chain."""

from __future__ import annotations

from collections.abc import Iterator

from registry_pipeline.core import merkle
from registry_pipeline.core.ledger import LedgerEvent, parse_anchor, verify_chain
from registry_pipeline.service.context import Context
from registry_pipeline.service.results import Anchor, AnchorCheck, LedgerVerdict
from registry_pipeline.store import ledger
from registry_pipeline.store import merkle as stored_tree


def anchor(ctx: Context) -> Anchor:
    """The ledger head as an anchor to keep outside the registry."""
    with ctx.store.read() as conn:
        head = ledger.head(conn)
    return Anchor(seq=head.seq, hash=head.hash, recorded_at=head.recorded_at)


def verify(ctx: Context, *, anchor: str | None = None) -> LedgerVerdict:
    """Recompute the ledger chain and compare it with the recorded head, and with an
    anchor taken earlier (``SEQ:HASH`` or ``HASH``) when given.

    A chain that verifies but no longer holds the anchor's hash was rewritten (and
    rehashed) after the anchor was taken.

    Raises:
        BadInput: the anchor is malformed.
    """
    wanted_seq, wanted_hash = parse_anchor(anchor) if anchor else (None, None)
    found_at: int | None = None
    tree = merkle.Streamed()
    with ctx.store.read() as conn:

        def watch() -> Iterator[LedgerEvent]:
            nonlocal found_at
            for event in ledger.events(conn):
                if event.hash == wanted_hash and found_at is None:
                    found_at = event.seq
                tree.add(merkle.leaf_hash(bytes.fromhex(event.hash)))
                yield event

        result = verify_chain(watch())
        recorded = ledger.head(conn)
        stored_size = stored_tree.size(conn)
        try:
            stored_root = stored_tree.compute(conn, lambda n: merkle.root(n, stored_size))
        except LookupError:
            stored_root = b""
    ok, broken_at, problem = result.ok, result.broken_at, result.problem
    if ok and (recorded.seq != result.events or recorded.hash != result.head):
        ok = False
        broken_at = result.events + 1 if recorded.seq > result.events else recorded.seq
        problem = (
            f"the recorded head is event {recorded.seq} ({recorded.hash[:12]}), "
            f"but the chain ends at event {result.events} ({result.head[:12]}): "
            "events were removed from the end or the head was rewritten"
        )
    if ok and (stored_size != tree.size or stored_root != tree.root()):
        ok = False
        broken_at = min(stored_size, tree.size) + 1 if stored_size != tree.size else None
        problem = (
            f"the Merkle tree ({stored_size} leaves, root {stored_root.hex()[:12]}) does not "
            f"match the chain ({tree.size} events, root {tree.root().hex()[:12]}): the "
            "tree or the events were rewritten"
        )
    check = None
    if wanted_hash is not None:
        check = AnchorCheck(seq=wanted_seq, hash=wanted_hash, found_at=found_at)
        if ok and (found_at is None or (wanted_seq and found_at != wanted_seq)):
            ok = False
            broken_at = wanted_seq
            problem = (
                f"the anchor {wanted_hash[:12]} (event {wanted_seq or '?'}) is not in "
                "the chain: history up to the anchor was rewritten"
            )
    return LedgerVerdict(
        ok=ok,
        events=result.events,
        head=result.head,
        broken_at=broken_at,
        problem=problem,
        anchor=check,
    )
