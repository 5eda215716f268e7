"""Answers kept in memory until the ledger moves: a change made through another process's
store is seen by the next read, a revoked token fails at once, and a kept answer is never
older than the head it is served at."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import promote_through

from registry_pipeline.errors import Unauthenticated
from registry_pipeline.service import Registry
from registry_pipeline.service import tokens as token_use_cases
from registry_pipeline.service.cache import cache_of

pytestmark = pytest.mark.integration

CATALOG = Path(__file__).parents[1] / "fixtures" / "catalog.yaml"
ADMIN = "carol@example.com"


def test_a_change_through_another_store_is_seen_by_the_next_read(
    store_url: str, artifacts: Callable[[str, dict[str, bytes]], Path]
) -> None:
    Registry.init(store_url, catalog=CATALOG, actor=ADMIN)
    reader = Registry.open(store_url, actor=ADMIN)
    writer = Registry.open(store_url, actor=ADMIN)  # its own engine: another process's view
    writer.register("bge-small", artifacts("v1", {"m.bin": b"one"}))
    assert reader.show("bge-small").version == 1
    assert reader.show("bge-small").version == 1  # kept
    assert len(reader.history("bge-small")) == 1
    writer.register("bge-small", artifacts("v2", {"m.bin": b"two"}))
    assert reader.show("bge-small").version == 2
    assert len(reader.history("bge-small")) == 2
    assert reader.show("bge-small@1").version == 1


def test_a_revoked_token_fails_at_once_though_its_lookup_was_kept(store_url: str) -> None:
    Registry.init(store_url, catalog=CATALOG, actor=ADMIN)
    admin = Registry.open(store_url, actor=ADMIN)
    minted = admin.tokens.create(principal="bob@example.com", name="ci")
    server = Registry.open(store_url, actor="server")
    store = server._ctx.store
    assert token_use_cases.authenticate(store, minted.token).name == "bob@example.com"
    assert token_use_cases.authenticate(store, minted.token).name == "bob@example.com"
    admin.tokens.revoke(minted.info.id)
    with pytest.raises(Unauthenticated, match="revoked"):
        token_use_cases.authenticate(store, minted.token)


def test_a_kept_resolution_is_answered_now_at_the_head_it_was_read_at(
    example_estate: Registry, db_url: str
) -> None:
    registry = example_estate
    promote_through(db_url, "support-bot@1", "staging", "production")
    first = registry.resolve("customer-support")
    time.sleep(0.01)
    again = registry.resolve("customer-support")
    assert again.stack == first.stack
    assert again.as_of.ledger_seq == first.as_of.ledger_seq == registry.ledger_head().seq
    assert again.as_of.time > first.as_of.time
    head = registry._ctx.store.head_key()
    hit, kept = cache_of(registry._ctx.store).get(head, ("resolve", "customer-support", None))
    assert hit
    assert kept.stack == first.stack
