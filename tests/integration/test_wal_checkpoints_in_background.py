"""A server's commits leave the write-ahead log to a background checkpoint: no commit
copies the log into the database file (SQLite would, in the commit that crosses 1,000
pages), and the background thread does copy it, without blocking writers or readers."""

from __future__ import annotations

import gc
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from registry_pipeline.store.engine import make_engine, wal_checkpoints_in_background

pytestmark = pytest.mark.integration

PAGES = 2_500  # past SQLite's automatic checkpoint at 1,000 log pages


def test_commits_do_not_checkpoint_and_the_background_thread_does(tmp_path: Path) -> None:
    database = tmp_path / "registry.db"
    engine = make_engine(f"sqlite:///{database}", create=True)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE blobs (b BLOB)"))
    thread = wal_checkpoints_in_background(engine, every=0.2)
    assert thread is not None
    assert thread.is_alive()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0

    before = database.stat().st_size
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO blobs VALUES (randomblob(:n))"), {"n": PAGES * 4096})
    with engine.connect() as conn:  # read while the log holds the rows: readers see them
        assert conn.exec_driver_sql("SELECT length(b) FROM blobs").scalar() == PAGES * 4096

    deadline = time.monotonic() + 30
    while database.stat().st_size < before + PAGES * 4096:
        assert time.monotonic() < deadline, "the background thread never copied the log"
        time.sleep(0.05)

    engine.dispose()
    del engine, conn
    gc.collect()
    thread.join(timeout=5)
    assert not thread.is_alive(), "the thread outlived its engine"


def test_postgres_needs_no_thread() -> None:
    """PostgreSQL checkpoints in its own background processes; nothing is started (and
    nothing connects)."""
    engine = make_engine("postgresql+psycopg2://registry@127.0.0.1:1/registry")
    assert wal_checkpoints_in_background(engine) is None
