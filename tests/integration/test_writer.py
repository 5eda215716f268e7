"""The server's writer: registrations queued by the event loop are applied by one thread in
batches sharing one commit; nobody is answered before their batch is durable, a refusal
is undone alone, and a commit that fails is every member's failure."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import raw_rows
from starlette.responses import Response
from support.server import served_estate

from registry_pipeline.errors import Conflict
from registry_pipeline.server import _errors
from registry_pipeline.server.writer import Writer
from registry_pipeline.service import Registry
from registry_pipeline.store import Store

pytestmark = pytest.mark.integration

CATALOG = Path(__file__).parents[1] / "fixtures" / "catalog.yaml"
ADMIN = "carol@example.com"
CLIENTS = 16


def _counter(metrics: str, name: str) -> float:
    found = re.search(rf"^{name}_total (\S+)$", metrics, re.MULTILINE)
    assert found, f"{name} is not in /metrics"
    return float(found.group(1))


def _inspection(root: Path, text: str) -> dict[str, Any]:
    from registry_pipeline.inspection import inspect_source

    source = root / f"prompt-{abs(hash(text))}"
    source.mkdir()
    (source / "prompt.txt").write_text(text)
    return inspect_source(source).to_dict()


def test_concurrent_registrations_share_commits_and_wait_for_them(tmp_path: Path) -> None:
    """While another process holds SQLite's write lock, 16 registrations queue; nobody is
    answered until the lock goes; then they commit in at most a few batches, numbered
    one after another, and every answered version is on disk."""
    with served_estate(tmp_path) as estate, estate.client("support-ml") as owner:
        bodies = [
            {"entry": "support-prompt", "inspection": _inspection(tmp_path, f"Queued {n}.\n")}
            for n in range(CLIENTS)
        ]
        before = owner.get("/metrics").text
        lock = sqlite3.connect(estate.database.removeprefix("sqlite:///"), timeout=30)
        lock.execute("BEGIN IMMEDIATE")
        answers: list[httpx.Response | None] = [None] * CLIENTS

        def post(n: int) -> None:
            with estate.client("support-ml") as client:
                answers[n] = client.post("/api/v1/versions", json=bodies[n], timeout=60)

        threads = [threading.Thread(target=post, args=(n,)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        time.sleep(1.5)  # every request reaches the server and queues behind the lock
        assert answers == [None] * CLIENTS  # nobody is answered before a commit
        lock.rollback()
        lock.close()
        for t in threads:
            t.join(60)
        after = owner.get("/metrics").text
    assert [a.status_code if a else None for a in answers] == [201] * CLIENTS
    versions = sorted(a.json()["version"] for a in answers if a)
    assert versions == list(range(versions[0], versions[0] + CLIENTS))
    changes = _counter(after, "registry_write_batch_changes") - _counter(
        before, "registry_write_batch_changes"
    )
    batches = _counter(after, "registry_write_batches") - _counter(before, "registry_write_batches")
    assert changes == CLIENTS
    assert batches <= 3, f"{CLIENTS} registrations took {batches} commits"
    stored = raw_rows(estate.database, "SELECT number FROM versions WHERE entry = 'support-prompt'")
    assert set(versions) <= {n for (n,) in stored}


def _writer_on(store_url: str) -> tuple[Store, Writer, Registry]:
    Registry.init(store_url, catalog=CATALOG, actor=ADMIN)
    store = Store.open(store_url)
    store.group_commits()
    return store, Writer(lambda: store), Registry(store, actor=ADMIN)


def _one_batch(writer: Writer, jobs: list[Callable[[], tuple[Response, bool]]]) -> list[Response]:
    """Apply ``jobs`` in one batch: a first job holds the writer until all are queued."""

    async def main() -> list[Response]:
        gate = threading.Event()

        def hold() -> tuple[Response, bool]:
            gate.wait(20)
            return Response(status_code=204), False

        held = asyncio.ensure_future(writer.submit(hold))
        while writer._thread is None or not writer._queue.empty():
            await asyncio.sleep(0.001)  # the writer took the first job
        queued = [asyncio.ensure_future(writer.submit(job)) for job in jobs]
        while writer._queue.qsize() < len(jobs):
            await asyncio.sleep(0.001)
        gate.set()
        return list(await asyncio.gather(held, *queued))[1:]

    return asyncio.run(main())


def test_a_refused_change_is_answered_alone_and_the_rest_commit_together(
    store_url: str, artifacts: Callable[[str, dict[str, bytes]], Path]
) -> None:
    store, writer, registry = _writer_on(store_url)
    sources = [artifacts(f"v{i}", {"model.bin": f"weights {i}".encode()}) for i in range(3)]

    def register(i: int) -> Callable[[], tuple[Response, bool]]:
        def job() -> tuple[Response, bool]:
            return Response(str(registry.register("bge-small", sources[i]).version)), True

        return job

    def refused() -> tuple[Response, bool]:
        try:
            with store.write(ADMIN) as tx:
                tx.append("test.undone", "x", {})
                raise Conflict("this change fails after appending an event")
        except Conflict as error:
            return _errors.problem_response(error), False

    batches = store.group.batches if store.group else 0
    answers = _one_batch(writer, [register(0), refused, register(1), register(2)])
    assert [a.status_code for a in answers] == [200, 409, 200, 200]
    assert sorted(int(a.body) for a in (answers[0], answers[2], answers[3])) == [1, 2, 3]
    assert store.group is not None
    assert store.group.batches == batches + 1
    actions = [r[0] for r in raw_rows(store_url, "SELECT action FROM ledger")]
    assert "test.undone" not in actions
    assert registry.verify().ok
    store.dispose()


def test_a_batch_whose_commit_fails_answers_every_change_with_the_failure(
    store_url: str, artifacts: Callable[[str, dict[str, bytes]], Path]
) -> None:
    """The batch's connection is lost before it commits: the change already applied in it
    is answered 503, none of it is stored, and the writer goes on with the next batch."""
    store, writer, registry = _writer_on(store_url)
    first, later = (artifacts(n, {"model.bin": n.encode()}) for n in ("first", "later"))
    head = registry.ledger_head().seq

    def register() -> tuple[Response, bool]:
        return Response(str(registry.register("bge-small", first).version)), True

    def lose_the_connection() -> tuple[Response, bool]:
        assert store.group is not None
        assert store.group._batch is not None
        store.group._batch.raw.invalidate()
        return Response(status_code=204), False

    answers = _one_batch(writer, [register, lose_the_connection])
    assert answers[0].status_code == 503, answers[0].body
    assert answers[0].media_type == "application/problem+json"
    assert raw_rows(store_url, "SELECT max(seq) FROM ledger") == [(head,)]
    assert registry.history("bge-small") == []

    async def next_batch() -> Response:
        return await writer.submit(
            lambda: (Response(str(registry.register("bge-small", later).version)), True)
        )

    assert asyncio.run(next_batch()).status_code == 200
    assert [v.version for v in registry.history("bge-small")] == [1]
    assert registry.verify().ok
    store.dispose()
