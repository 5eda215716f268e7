"""Proofs over the ledger's Merkle tree (DESIGN.md §12): its head, the inclusion of one
event in a tree of a given size, and the consistency of two sizes. Signing a checkpoint is
the server's (it holds the key); checking one is the client's."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from registry_pipeline.core import merkle
from registry_pipeline.core.checkpoints import Checkpoint
from registry_pipeline.core.errors import BadInput, NotFound
from registry_pipeline.core.ledger import LedgerEvent
from registry_pipeline.service.context import Context
from registry_pipeline.store import ledger
from registry_pipeline.store import merkle as stored

MAX_SIZE = 2**62


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


@dataclass(frozen=True, slots=True, kw_only=True)
class Inclusion:
    """Event ``seq`` (leaf ``seq - 1``) is in the tree of ``tree_size`` leaves."""

    event: LedgerEvent
    tree_size: int
    hashes: list[bytes]

    def to_dict(self) -> dict[str, Any]:
        """``{seq, leaf_index, tree_size, event_hash, hashes}`` (hashes in base64)."""
        return {
            "seq": self.event.seq,
            "leaf_index": self.event.seq - 1,
            "tree_size": self.tree_size,
            "event_hash": self.event.hash,
            "event": {**self.event.body(), "prev_hash": self.event.prev_hash},
            "hashes": [_b64(h) for h in self.hashes],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Consistency:
    """The tree of ``second`` leaves extends the tree of ``first``."""

    first: int
    second: int
    hashes: list[bytes]

    def to_dict(self) -> dict[str, Any]:
        """``{first, second, hashes}`` (hashes in base64)."""
        return {
            "first": self.first,
            "second": self.second,
            "hashes": [_b64(h) for h in self.hashes],
        }


def _size(value: int | None, head: int, what: str) -> int:
    if value is None:
        return head
    if not 1 <= value <= MAX_SIZE:
        raise BadInput(f"{what} must be a positive number of events")
    if value > head:
        raise NotFound(f"{what} {value} is past the ledger's {head} events")
    return value


class Ledger:
    """The ledger's tree (``registry.ledger``)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def head(self, origin: str) -> Checkpoint:
        """The current tree head as a checkpoint of ``origin`` (unsigned)."""
        with self._ctx.store.read() as conn:
            size = ledger.head(conn).seq
            root = stored.compute(conn, lambda n: merkle.root(n, size))
        return Checkpoint(origin=origin, size=size, root=root)

    def inclusion(self, seq: int, *, tree_size: int | None = None) -> Inclusion:
        """The proof that event ``seq`` is in the tree of ``tree_size`` events (the whole
        ledger when not given).

        Raises:
            BadInput: a non-positive seq or size. NotFound: past the ledger's end, or a
                seq past the tree size.
        """
        with self._ctx.store.read() as conn:
            size = _size(tree_size, ledger.head(conn).seq, "tree_size")
            if not 1 <= seq <= size:
                raise NotFound(f"event {seq} is not in a tree of {size} events")
            event = next(ledger.events(conn, after=seq - 1, batch=1))
            hashes = stored.compute(conn, lambda n: merkle.inclusion_proof(n, seq - 1, size))
        return Inclusion(event=event, tree_size=size, hashes=hashes)

    def consistency(self, first: int, *, second: int | None = None) -> Consistency:
        """The proof that the tree of ``second`` events (the whole ledger when not given)
        extends the tree of ``first``.

        Raises:
            BadInput: a non-positive size, or ``first`` past ``second``. NotFound: past
                the ledger's end.
        """
        with self._ctx.store.read() as conn:
            head = ledger.head(conn).seq
            newer = _size(second, head, "second")
            older = _size(first, head, "first")
            if older > newer:
                raise BadInput(f"first ({older}) is past second ({newer})")
            hashes = stored.compute(conn, lambda n: merkle.consistency_proof(n, older, newer))
        return Consistency(first=older, second=newer, hashes=hashes)
