"""Engines for the registry's database: SQLite (WAL, immediate write locks) or PostgreSQL."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from registry_pipeline.errors import BadInput, NotFound, Step
from registry_pipeline.settings import DEFAULT_DATABASE_URL

DEFAULT_URL = DEFAULT_DATABASE_URL
WRITE = "registry_write"
#: An execution option: the connection runs single statements, no ``BEGIN`` (each one is
#: its own snapshot; for reads that need no more).
SINGLE = "registry_single"
BUSY_TIMEOUT_MS = 60_000
#: Connections kept open: a SQLite connection is a file handle (the server runs up to 40
#: request threads); a PostgreSQL one is a server process, so fewer are kept.
SQLITE_POOL = 40
POSTGRES_POOL = 10


def sqlite_path(url: str) -> Path | None:
    """The file behind a ``sqlite:///`` URL, or ``None`` for other backends."""
    parsed = _parse(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise BadInput(f"database URL {url!r}: in-memory SQLite cannot hold a registry")
    return Path(parsed.database)


def _parse(url: str) -> Any:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise BadInput(
            f"invalid database URL {url!r}; use sqlite:///PATH or postgresql+psycopg2://..."
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise BadInput(f"database URL {url!r}: only sqlite and postgresql are supported")
    return parsed


def make_engine(url: str, *, create: bool = False) -> Engine:
    """Open an engine on ``url``.

    Args:
        url: a SQLAlchemy URL; SQLite files are opened in WAL mode.
        create: allow creating a missing SQLite file (only ``registry init`` does).

    Raises:
        NotFound: the SQLite file does not exist and ``create`` is false.
        BadInput: the URL is malformed or names an unsupported backend.
    """
    path = sqlite_path(url)
    if path is None:
        return create_engine(
            url, pool_pre_ping=True, pool_size=POSTGRES_POOL, max_overflow=POSTGRES_POOL
        )
    if not path.exists():
        if not create:
            raise NotFound(
                f"no registry database at {str(path)!r}",
                step=Step.INIT_HERE,
            )
        path.parent.mkdir(parents=True, exist_ok=True)
    # A pooled connection stays open between operations: closing the last connection to
    # a WAL database checkpoints it, which would cost every CLI-scale operation a few ms.
    # The pool is as large as the server's worker threads, so that no request pays for a
    # connection (and its pragmas) that an overflow slot would close again on return.
    engine = create_engine(
        url,
        pool_size=SQLITE_POOL,
        max_overflow=SQLITE_POOL,
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get(SINGLE, False):
            return
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(WRITE, False) else "BEGIN")

    return engine


def wal_checkpoints_in_background(engine: Engine, *, every: float = 1.0) -> threading.Thread | None:
    """From now on, no commit on ``engine`` (a SQLite one) copies the write-ahead log back
    into the database file itself: a daemon thread does, every ``every`` seconds.

    SQLite's automatic checkpoint runs inside the commit that crosses 1,000 log pages, so
    every ~80th registration paid for copying the log and syncing the database file (tens
    of ms on a large file: the tail of a server's writes). The thread's checkpoints are
    ``PASSIVE``: they never wait for, or block, a writer or a reader, and what they
    cannot copy yet (a reader still needs it) is copied on a later turn. Durability does
    not change: a commit is durable once its log frames are synced, as before. Pooled
    connections are closed, so every connection from now on is opened without the
    automatic checkpoint. ``None`` (nothing done) on PostgreSQL."""
    path = sqlite_path(str(engine.url))
    if path is None:
        return None

    @event.listens_for(engine, "connect")
    def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

    engine.dispose()
    in_use = weakref.ref(engine)

    def checkpoint() -> None:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        while in_use() is not None:  # the engine's last user is gone: so is the thread
            time.sleep(every)
            with contextlib.suppress(sqlite3.Error):  # busy, or the disk: the next turn
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        conn.close()

    thread = threading.Thread(target=checkpoint, name="registry-wal-checkpoint", daemon=True)
    thread.start()
    return thread
