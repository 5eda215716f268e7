"""The ledger's Merkle tree, RFC 9162 (Certificate Transparency 2.0), section 2.1.

Leaves are the ledger events in seq order: leaf ``i`` (0-based) is event ``seq = i + 1``,
its hash ``SHA-256(0x00 || event hash bytes)``; a node is ``SHA-256(0x01 || left || right)``.
The tree is kept as the hashes of its complete, aligned subtrees: node ``(level, index)``
covers leaves ``[index * 2**level, (index + 1) * 2**level)``. Any range the RFC's
recursion asks for splits into O(log n) of them, so roots and proofs read O(log n) nodes
(fetched in one batch: :func:`needed` says which) and an append writes O(1) amortized.

Everything here is pure: callers pass ``node(level, index) -> bytes``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

Node = Callable[[int, int], bytes]
HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def completed(index: int) -> list[tuple[int, int]]:
    """The nodes ``(level, index)`` above leaf ``index`` that its append completes, lowest
    first (leaf 5 completes none above itself; leaf 7 completes (1, 3), (2, 1), (3, 0))."""
    out = []
    level, at = 0, index
    while at & 1:
        level, at = level + 1, at >> 1
        out.append((level, at))
    return out


def range_hash(node: Node, start: int, end: int) -> bytes:
    """MTH of leaves ``[start, end)``, from complete aligned subtrees."""
    size = end - start
    if size <= 0:
        return EMPTY_ROOT
    if size & (size - 1) == 0 and start % size == 0:
        return node(size.bit_length() - 1, start // size)
    k = split(size)
    return node_hash(range_hash(node, start, start + k), range_hash(node, start + k, end))


def root(node: Node, size: int) -> bytes:
    """The root of the tree of the first ``size`` leaves."""
    return range_hash(node, 0, size)


def inclusion_proof(node: Node, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 2.1.3.1."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")

    def path(m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = split(n)
        if m < k:
            return [*path(m, start, start + k), range_hash(node, start + k, end)]
        return [*path(m - k, start + k, end), range_hash(node, start, start + k)]

    return path(index, 0, size)


def consistency_proof(node: Node, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[0:second]) of RFC 9162 2.1.4.1 (empty when ``first`` is 0 or equal)."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}")
    if first in (0, second):
        return []

    def subproof(m: int, start: int, end: int, whole: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if whole else [range_hash(node, start, end)]
        k = split(n)
        if m <= k:
            return [*subproof(m, start, start + k, whole), range_hash(node, start + k, end)]
        return [*subproof(m - k, start + k, end, False), range_hash(node, start, start + k)]

    return subproof(first, 0, second, True)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 2.1.3.2: whether ``leaf`` (a leaf hash) is leaf ``index`` of the tree of
    ``size`` whose root is ``expected_root``."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == expected_root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: whether the tree of ``second`` leaves with ``second_root`` extends
    the tree of ``first`` leaves with ``first_root``."""
    if not 0 <= first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path = [first_root, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root


def needed(compute: Callable[[Node], object]) -> set[tuple[int, int]]:
    """The nodes ``compute`` reads, found by running it over placeholder hashes, so that a
    store can fetch them all in one query before running it for real."""
    asked: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        asked.add((level, index))
        return bytes(HASH_SIZE)

    compute(record)
    return asked


def build(leaves: Iterable[bytes]) -> dict[tuple[int, int], bytes]:
    """Every complete node of a tree over ``leaves`` (leaf hashes), for a backfill."""
    nodes: dict[tuple[int, int], bytes] = {}
    for i, leaf in enumerate(leaves):
        nodes[(0, i)] = leaf
        for level, index in completed(i):
            nodes[(level, index)] = node_hash(
                nodes[(level - 1, 2 * index)], nodes[(level - 1, 2 * index + 1)]
            )
    return nodes


class Streamed:
    """The root of a tree whose leaves arrive one by one, in O(log n) memory."""

    def __init__(self) -> None:
        self._peaks: list[tuple[int, bytes]] = []  # (level, hash), levels decreasing
        self.size = 0

    def add(self, leaf: bytes) -> None:
        """Append a leaf hash."""
        level, value = 0, leaf
        while self._peaks and self._peaks[-1][0] == level:
            _, left = self._peaks.pop()
            level, value = level + 1, node_hash(left, value)
        self._peaks.append((level, value))
        self.size += 1

    def root(self) -> bytes:
        """The root of the leaves so far (RFC 9162 MTH)."""
        if not self._peaks:
            return EMPTY_ROOT
        value = self._peaks[-1][1]
        for _, left in reversed(self._peaks[:-1]):
            value = node_hash(left, value)
        return value
