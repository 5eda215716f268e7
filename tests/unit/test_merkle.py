"""The ledger's Merkle tree against RFC 9162 section 2.1, implemented here again straight
from the RFC's recursive definitions (MTH, PATH, PROOF) over plain lists: roots, inclusion
and consistency proofs agree on every tree size from 1 to 300, and the verifiers accept
exactly the proofs they should."""

from __future__ import annotations

import hashlib
import random

import pytest

from registry_pipeline.core import merkle

pytestmark = pytest.mark.unit
SIZES = range(1, 301)


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    if not d:
        return _h(b"")
    if len(d) == 1:
        return _h(b"\x00" + d[0])
    k = _k(len(d))
    return _h(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


LEAVES = [hashlib.sha256(f"event {i}".encode()).digest() for i in range(max(SIZES))]
TREE = merkle.build(merkle.leaf_hash(x) for x in LEAVES)


def node(level: int, index: int) -> bytes:
    return TREE[(level, index)]


def _sample(n: int, rng: random.Random) -> list[int]:
    return list(range(n)) if n <= 40 else sorted({0, n - 1, *rng.sample(range(n), 12)})


@pytest.mark.parametrize("size", SIZES)
def test_roots_and_proofs_agree_with_rfc_9162(size: int) -> None:
    rng = random.Random(size)
    data = LEAVES[:size]
    root = mth(data)
    assert merkle.root(node, size) == root
    streamed = merkle.Streamed()
    for x in data:
        streamed.add(merkle.leaf_hash(x))
    assert streamed.root() == root
    for m in _sample(size, rng):
        proof = merkle.inclusion_proof(node, m, size)
        assert proof == path(m, data)
        leaf = merkle.leaf_hash(data[m])
        assert merkle.verify_inclusion(leaf, m, size, proof, root)
        assert not merkle.verify_inclusion(merkle.leaf_hash(b"forged"), m, size, proof, root)
        if proof:
            bent = [*proof[:-1], _h(proof[-1])]
            assert not merkle.verify_inclusion(leaf, m, size, bent, root)
    for first in _sample(size, rng):
        if first == 0:
            continue
        proof = merkle.consistency_proof(node, first, size)
        assert proof == (subproof(first, data, True) if first < size else [])
        old = mth(data[:first])
        assert merkle.verify_consistency(first, size, old, root, proof)
        if first < size:
            assert not merkle.verify_consistency(first, size, _h(b"another past"), root, proof)
            assert not merkle.verify_consistency(first, size, old, _h(b"a fork"), proof)


def test_a_tree_never_shrinks_or_forks_under_a_consistency_check() -> None:
    root5, root4 = mth(LEAVES[:5]), mth(LEAVES[:4])
    assert not merkle.verify_consistency(5, 4, root5, root4, [])
    assert not merkle.verify_consistency(4, 4, root4, root5, [])
    assert merkle.verify_consistency(4, 4, root4, root4, [])


def test_appending_completes_the_nodes_above_a_leaf() -> None:
    assert merkle.completed(4) == []
    assert merkle.completed(5) == [(1, 2)]
    assert merkle.completed(7) == [(1, 3), (2, 1), (3, 0)]
