"""Concurrent writers in separate processes: numbers stay gap-free and unique, production
never has two holders (replayed from the ledger), and the chain verifies."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import raw_rows

from registry_pipeline.service import Registry

pytestmark = pytest.mark.integration


@pytest.fixture
def db_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


WORKER = Path(__file__).with_name("concurrency_worker.py")
CATALOG = Path(__file__).parents[1] / "fixtures" / "concurrency.yaml"
WORKERS = 4
ROUNDS = 12


def test_concurrent_writers_keep_numbers_gap_free_and_one_production_holder(
    tmp_path: Path, db_url: str
) -> None:
    Registry.init(db_url, catalog=CATALOG, actor="w0@example.com")
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), db_url, str(i), str(WORKERS), str(ROUNDS), str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(WORKERS)
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))

    assert [r["errors"] for r in reports] == [[]] * WORKERS
    numbers = sorted(n for r in reports for n in r["registered"])
    assert numbers == list(range(1, WORKERS * ROUNDS + 1))

    registry = Registry.open(db_url, actor="w0@example.com")
    verdict = registry.verify().to_dict()
    assert verdict["ok"], verdict

    _replay_production_holders(db_url)


def _replay_production_holders(url: str) -> None:
    """Replay the ledger: every event that moves production must name, as the version it
    displaces, exactly the holder the replay has; stage intervals must never overlap."""
    events = raw_rows(url, "SELECT seq, action, payload FROM ledger ORDER BY seq")
    intervals = raw_rows(
        url,
        "SELECT number, effective_from, effective_to FROM stage_assignments "
        "WHERE stage = 'production' ORDER BY effective_from, id",
    )
    holder: int | None = None
    moves = 0
    for seq, action, raw in events:
        payload = json.loads(raw)
        if action == "promotion.apply" and payload["target"] == "production":
            assert payload["displaces"] == holder, f"event {seq} displaced the wrong holder"
            holder = payload["version"]
            moves += 1
        elif action == "stage.rollback" and payload["stage"] == "production":
            assert payload["from_version"] == holder, f"event {seq} rolled back a non-holder"
            holder = payload["to_version"]
            moves += 1
    assert moves > WORKERS
    open_intervals = [i for i in intervals if i[2] is None]
    assert len(open_intervals) == 1
    assert open_intervals[0][0] == holder
    for (_, _, end), (_, start, _) in itertools.pairwise(intervals):
        assert end is not None, "two versions held production at once"
        assert end <= start, "two versions held production at once"
