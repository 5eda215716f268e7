"""Group commit on real SQLite and PostgreSQL: concurrent writers of one process share a
transaction, each in its own savepoint, and each returns only once the batch is durable."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import raw_rows

from registry_pipeline.errors import Conflict, RegistryError
from registry_pipeline.service import Registry
from registry_pipeline.store import GroupCommit

pytestmark = pytest.mark.integration

CATALOG = Path(__file__).parents[1] / "fixtures" / "catalog.yaml"
ADMIN = "carol@example.com"
QUEUED = 6


def _wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def _queued(group: GroupCommit) -> int:
    return group._queued


def _held_batch(
    store_url: str, tmp_path: Path, writes: Callable[[Registry, int], Any]
) -> tuple[Registry, GroupCommit, list[Any], list[int]]:
    """Hold one write open until QUEUED others queue behind it, then let all go; return
    what each write returned (or raised) and the ledger seqs a separate connection saw
    committed the moment each write returned."""
    Registry.init(store_url, catalog=CATALOG, actor=ADMIN)
    registry = Registry.open(store_url, actor=ADMIN)
    group = registry._ctx.store.group_commits()
    release = threading.Event()
    holding = threading.Event()

    def hold() -> None:
        with registry._ctx.store.write(ADMIN) as tx:
            tx.append("test.hold", "first", {})
            holding.set()
            release.wait(20)

    outcomes: list[Any] = [None] * QUEUED
    seen: list[int] = [0] * QUEUED

    def member(i: int) -> None:
        try:
            outcomes[i] = writes(registry, i)
        except RegistryError as e:  # kept to check below
            outcomes[i] = e
        seen[i] = int(raw_rows(store_url, "SELECT max(seq) FROM ledger")[0][0])

    first = threading.Thread(target=hold)
    first.start()
    assert holding.wait(20)
    others = [threading.Thread(target=member, args=(i,)) for i in range(QUEUED)]
    for t in others:
        t.start()
    _wait_until(lambda: _queued(group) == QUEUED, "the writers to queue")
    release.set()
    for t in [first, *others]:
        t.join(30)
    return registry, group, outcomes, seen


def test_queued_writers_share_one_commit_and_each_sees_its_change_durable(
    store_url: str, tmp_path: Path, artifacts: Callable[[str, dict[str, bytes]], Path]
) -> None:
    sources = [artifacts(f"v{i}", {"model.bin": f"weights {i}".encode()}) for i in range(QUEUED)]
    registry, group, outcomes, seen = _held_batch(
        store_url, tmp_path, lambda reg, i: reg.register("bge-small", sources[i])
    )
    assert [type(o).__name__ for o in outcomes] == ["Registered"] * QUEUED
    assert group.batches == 1
    assert group.changes == QUEUED + 1
    assert sorted(o.version for o in outcomes) == list(range(1, QUEUED + 1))
    head = registry.ledger_head().seq
    assert min(seen) == head  # nobody was answered before the batch was on disk
    seqs = [r[0] for r in raw_rows(store_url, "SELECT seq FROM ledger ORDER BY seq")]
    assert seqs == list(range(1, head + 1))
    assert registry.verify().ok


def test_a_change_that_fails_in_a_batch_is_undone_alone(
    store_url: str, tmp_path: Path, artifacts: Callable[[str, dict[str, bytes]], Path]
) -> None:
    sources = [artifacts(f"v{i}", {"model.bin": f"weights {i}".encode()}) for i in range(QUEUED)]

    def write(reg: Registry, i: int) -> Any:
        if i == 2:
            with reg._ctx.store.write(ADMIN) as tx:
                tx.append("test.undone", "x", {})
                raise Conflict("this change fails after appending an event")
        return reg.register("bge-small", sources[i])

    registry, group, outcomes, _ = _held_batch(store_url, tmp_path, write)
    assert isinstance(outcomes[2], Conflict)
    assert [type(o).__name__ for i, o in enumerate(outcomes) if i != 2] == ["Registered"] * (
        QUEUED - 1
    )
    assert group.batches == 1
    assert group.changes == QUEUED
    assert registry.verify().ok
    assert len(registry.history("bge-small")) == QUEUED - 1
    actions = [r[0] for r in raw_rows(store_url, "SELECT action FROM ledger")]
    assert "test.undone" not in actions


def test_a_writer_alone_commits_at_once(store_url: str, tmp_path: Path) -> None:
    Registry.init(store_url, catalog=CATALOG, actor=ADMIN)
    registry = Registry.open(store_url, actor=ADMIN)
    group = registry._ctx.store.group_commits()
    with registry._ctx.store.write(ADMIN) as tx:
        tx.append("test.alone", "x", {})
    assert (group.batches, group.changes) == (1, 1)
    assert raw_rows(store_url, "SELECT action FROM ledger ORDER BY seq DESC LIMIT 1") == [
        ("test.alone",)
    ]
