"""Answers kept until the ledger moves: one cheap head read per request instead of the
statements an answer takes.

Every change to what the registry answers (a version, a stage, an approval, a catalog, a
token minted or revoked) appends a ledger event in the same transaction, so an answer read
at a head stays true until the head moves. :func:`cached` reads the head (one row, one
statement) and returns the answer kept for it, or computes the answer, noting the head the
answer's own transaction read. The first request that sees a new head drops everything
kept for the old one. One cache per :class:`~registry_pipeline.store.Store` (so per
database), bounded, shared by the threads of a server process.

What this does not see: rows changed behind the registry's back without a ledger event
(someone editing the database by hand). Verification (``audit verify``, a client's own
proofs) reads the store itself, never this cache.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from registry_pipeline.store import Store

T = TypeVar("T")

#: Answers kept per head; past this the oldest go first.
LIMIT = 4096

Head = tuple[int, str]


class HeadCache:
    """Answers by key, valid for one ledger head."""

    def __init__(self, limit: int = LIMIT) -> None:
        self._limit = limit
        self._head: Head | None = None
        self._items: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    def get(self, head: Head, key: Hashable) -> tuple[bool, Any]:
        """``(True, answer)`` when an answer for ``key`` was kept at ``head``."""
        with self._lock:
            if head != self._head:
                self._head, self._items = head, {}
                return False, None
            if key in self._items:
                return True, self._items[key]
            return False, None

    def put(self, head: Head, key: Hashable, answer: Any) -> None:
        """Keep ``answer``, read at ``head``, unless the cache has moved on to another."""
        with self._lock:
            if head != self._head:
                if self._head is not None and head[0] < self._head[0]:
                    return  # read before a newer head was seen
                self._head, self._items = head, {}
            if len(self._items) >= self._limit:
                self._items.pop(next(iter(self._items)))
            self._items[key] = answer


_CACHES: weakref.WeakKeyDictionary[Store, HeadCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def cache_of(store: Store) -> HeadCache:
    """The cache of ``store``'s database in this process."""
    with _CACHES_LOCK:
        found = _CACHES.get(store)
        if found is None:
            found = _CACHES[store] = HeadCache()
        return found


def cached_after(store: Store, key: Hashable, compute: Callable[[], T]) -> T:
    """Like :func:`cached`, for an answer one statement reads: ``compute()`` runs after
    the head was read, so what it sees is at least as new as that head, and it is kept
    under it (a head that moved since is a miss for every later caller)."""
    cache = cache_of(store)
    head = store.head_key()
    hit, answer = cache.get(head, key)
    if hit:
        return answer  # type: ignore[no-any-return]
    fresh = compute()
    cache.put(head, key, fresh)
    return fresh


def cached(store: Store, key: Hashable, compute: Callable[[], tuple[Head, T]]) -> T:
    """The answer for ``key`` at the current head: kept, or ``compute()``d, which returns
    the head its own read transaction saw with the answer."""
    cache = cache_of(store)
    hit, answer = cache.get(store.head_key(), key)
    if hit:
        return answer  # type: ignore[no-any-return]
    head, fresh = compute()
    cache.put(head, key, fresh)
    return fresh
