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


def _with_entries(tmp_path: Path, *names: str) -> Path:
    import yaml

    document = yaml.safe_load(CATALOG.read_text())
    for name in names:
        document["entries"][name] = {"kind": "embedding_model", "owner": "ml@example.com"}
    path = tmp_path / f"catalog-{names[-1]}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_a_registration_plans_with_the_catalog_kept_at_the_head_it_left(
    store_url: str, artifacts: Callable[[str, dict[str, bytes]], Path], tmp_path: Path
) -> None:
    """A registrar's next registration reads no catalog while the head is the one its own
    last change left; a catalog recorded by anyone since, here or through another
    store, is the one the next registration is checked against."""
    from sqlalchemy import event

    from registry_pipeline.catalog import load_catalog

    Registry.init(store_url, catalog=CATALOG, actor=ADMIN)
    registrar = Registry.open(store_url, actor=ADMIN)
    registrar.register("bge-small", artifacts("v1", {"m.bin": b"one"}))
    statements: list[str] = []
    event.listen(
        registrar._ctx.store.engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_: statements.append(statement),
    )
    registrar.register("bge-small", artifacts("v2", {"m.bin": b"two"}))
    assert not [s for s in statements if "FROM catalogs" in s], statements

    Registry.init(store_url, catalog=_with_entries(tmp_path, "e5-base"), actor=ADMIN)
    assert registrar.register("e5-base", artifacts("e1", {"m.bin": b"e"})).version == 1

    catalog, document = load_catalog(_with_entries(tmp_path, "e5-base", "gte-small"))
    registrar.record_catalog(catalog, document, source="its own change")
    assert registrar.register("gte-small", artifacts("g1", {"m.bin": b"g"})).version == 1
