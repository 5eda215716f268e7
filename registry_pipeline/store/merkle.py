"""The ledger's Merkle tree in the store: its complete subtrees, written as events are
appended (in the same transaction) and read a batch at a time for roots and proofs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import TypeVar

from sqlalchemy import Connection, TextClause, func, select, text

from registry_pipeline.core import merkle
from registry_pipeline.store import schema

T = TypeVar("T")
_BATCH = 5000


_INSERT_NODES = schema.merkle_nodes.insert()


def append(conn: Connection, seq: int, event_hash: str) -> None:
    """Add the leaf of event ``seq`` and every node it completes."""
    index = seq - 1
    leaf = merkle.leaf_hash(bytes.fromhex(event_hash))
    above = merkle.completed(index)
    rows = [{"level": 0, "idx": index, "hash": leaf.hex()}]
    if above:
        found = _fetch(conn, [(level - 1, 2 * at) for level, at in above])
        right = leaf
        for level, at in above:
            right = merkle.node_hash(found[(level - 1, 2 * at)], right)
            rows.append({"level": level, "idx": at, "hash": right.hex()})
    conn.execute(_INSERT_NODES, rows)


@lru_cache(maxsize=128)
def _lookup(count: int) -> TextClause:
    """``count`` (level, idx) point lookups in one statement (each walks the primary key);
    plain SQL text, so that building it costs nothing per proof."""
    pairs = " OR ".join(f"(level = :l{i} AND idx = :i{i})" for i in range(count))
    return text(f"SELECT level, idx, hash FROM merkle_nodes WHERE {pairs}")


def _fetch(conn: Connection, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """The stored nodes among ``keys``, in one query per 200."""
    wanted = sorted(set(keys))
    found: dict[tuple[int, int], bytes] = {}
    for start in range(0, len(wanted), 200):
        chunk = wanted[start : start + 200]
        params: dict[str, int] = {}
        for i, (level, index) in enumerate(chunk):
            params[f"l{i}"], params[f"i{i}"] = level, index
        for level, index, value in conn.execute(_lookup(len(chunk)), params):
            found[(int(level), int(index))] = bytes.fromhex(value)
    return found


def compute(conn: Connection, work: Callable[[merkle.Node], T]) -> T:
    """Run ``work`` over the stored tree, its nodes fetched in one query."""
    keys = merkle.needed(work)
    nodes = _fetch(conn, keys)
    missing = sorted(k for k in keys if k not in nodes)
    if missing:
        raise LookupError(f"the ledger's Merkle tree lacks node {missing[0]}")
    return work(lambda level, index: nodes[(level, index)])


def size(conn: Connection) -> int:
    """How many leaves the stored tree has."""
    t = schema.merkle_nodes
    last = conn.execute(select(func.max(t.c.idx)).where(t.c.level == 0)).scalar_one()
    return 0 if last is None else int(last) + 1


def rebuild(conn: Connection, hashes: Iterable[str]) -> int:
    """Replace the tree with one over ``hashes`` (event hashes in seq order); its size."""
    conn.execute(schema.merkle_nodes.delete())
    nodes = merkle.build(merkle.leaf_hash(bytes.fromhex(h)) for h in hashes)
    for batch in _chunks(nodes.items()):
        conn.execute(
            schema.merkle_nodes.insert(),
            [{"level": lv, "idx": ix, "hash": h.hex()} for (lv, ix), h in batch],
        )
    return sum(1 for level, _ in nodes if level == 0)


def _chunks(items: Iterable[T]) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
