"""The system of record: SQL through SQLAlchemy Core, SQLite by default, PostgreSQL to scale.

:class:`Store` hands out read connections and write transactions. A write transaction
takes the ledger-head lock first (``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE``
on PostgreSQL), so writers are serialized and every mutation and its ledger event commit
together or not at all.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from registry_pipeline.core.digests import canonical_json
from registry_pipeline.core.ledger import GENESIS, LedgerEvent, seal
from registry_pipeline.core.times import format_time, parse_stored
from registry_pipeline.errors import (
    BadInput,
    Conflict,
    NotFound,
    RegistryError,
    Step,
    StoreUnavailable,
)
from registry_pipeline.store import merkle, migrations, schema
from registry_pipeline.store.engine import SINGLE, WRITE, make_engine, wal_checkpoints_in_background

# Statements every write runs, built once: SQLAlchemy then only looks up their compiled
# form, instead of building and keying a new statement per call.
_LOCK_HEAD = select(schema.ledger_head).where(schema.ledger_head.c.id == 1).with_for_update()
_INSERT_EVENT = schema.ledger.insert()
_MOVE_HEAD = (
    schema.ledger_head.update()
    .where(schema.ledger_head.c.id == 1)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"), recorded_at=bindparam("new_at"))
)


def dumps(value: Any) -> str:
    """Canonical JSON text, as stored in JSON columns."""
    return canonical_json(value).decode("utf-8")


def loads(text: str) -> Any:
    """Parse a JSON column."""
    return json.loads(text)


class Tx:
    """One write transaction: its connection, its actor, its instant, its ledger appends."""

    def __init__(
        self,
        conn: Connection,
        *,
        actor: str,
        now: datetime,
        head: Mapping[str, Any],
        auth: Mapping[str, Any] | None = None,
    ):
        self.conn = conn
        self.actor = actor
        self.auth = dict(auth) if auth is not None else None
        self.now = now
        self.now_text = format_time(now)
        self._seq = int(head["seq"])
        self._hash = str(head["hash"])
        self.began: tuple[int, str] = (self._seq, self._hash)
        """The head this transaction began at (what an answer read before it is checked
        against: read after a head that is still the head, it is still true)."""
        self.memo: dict[str, Any] = {}
        """What the layer above has read in this transaction, to read it once."""

    @property
    def head_seq(self) -> int:
        """The seq of the newest event, including those appended in this transaction."""
        return self._seq

    def head(self) -> dict[str, Any]:
        """The ledger head row as it stands in this transaction."""
        return {"seq": self._seq, "hash": self._hash, "recorded_at": self.now_text}

    def append(self, action: str, subject: str, payload: Mapping[str, Any]) -> LedgerEvent:
        """Append one ledger event in this transaction and move the head."""
        event = seal(
            LedgerEvent(
                seq=self._seq + 1,
                recorded_at=self.now_text,
                actor=self.actor,
                action=action,
                subject=subject,
                payload=json.loads(dumps(payload)),
                prev_hash=self._hash,
                auth=self.auth,
            )
        )
        self.conn.execute(
            _INSERT_EVENT,
            {
                "seq": event.seq,
                "recorded_at": event.recorded_at,
                "actor": event.actor,
                "action": event.action,
                "subject": event.subject,
                "payload": dumps(event.payload),
                "prev_hash": event.prev_hash,
                "hash": event.hash,
                "auth": dumps(event.auth) if event.auth is not None else None,
            },
        )
        merkle.append(self.conn, event.seq, event.hash)
        self.conn.execute(
            _MOVE_HEAD,
            {"new_seq": event.seq, "new_hash": event.hash, "new_at": event.recorded_at},
        )
        self._seq, self._hash = event.seq, event.hash
        return event


class Store:
    """The registry database."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        self.group: GroupCommit | None = None

    def group_commits(self, *, cap: int = 64) -> GroupCommit:
        """From now on, concurrent :meth:`write` calls of this process share transactions
        (see :class:`GroupCommit`): what a server does; a one-shot CLI has nothing to share."""
        if self.group is None:
            self.group = GroupCommit(self, cap=cap)
        return self.group

    def wal_checkpoints_in_background(self) -> None:
        """From now on (SQLite), commits leave copying the write-ahead log into the
        database file to a background thread (see
        :func:`~registry_pipeline.store.engine.wal_checkpoints_in_background`): what a
        long-running server does, so that no request pays for a checkpoint."""
        wal_checkpoints_in_background(self.engine)

    @classmethod
    def open(cls, url: str, *, create: bool = False) -> Store:
        """Open the registry at ``url``.

        Args:
            create: create and migrate the database when missing (``registry init``).

        Raises:
            NotFound: there is no registry at ``url`` (and ``create`` is false).
            BadInput: the schema is newer than this program, or older (run init).
        """
        engine = make_engine(url, create=create)
        store = cls(engine, url)
        if create:
            store.upgrade()
            return store
        with store.translate(), engine.connect() as conn:
            version = migrations.current_version(conn)
        if version == 0:
            raise NotFound(f"{url} holds no registry", step=Step.INIT)
        if version > migrations.LATEST:
            raise BadInput(
                f"{url} was written by a newer registry (schema {version}); upgrade this program"
            )
        if version < migrations.LATEST:
            raise BadInput(
                f"{url} has schema {version}, this program needs {migrations.LATEST}",
                step=Step.UPGRADE_SCHEMA,
            )
        return store

    def upgrade(self) -> list[migrations.Migration]:
        """Apply pending migrations and make sure the ledger head row exists."""
        now = format_time(datetime.now(UTC))
        with self.translate():
            applied = migrations.upgrade(self.engine.execution_options(**{WRITE: True}), now=now)
            with self.engine.execution_options(**{WRITE: True}).begin() as conn:
                exists = conn.execute(select(schema.ledger_head.c.id)).first()
                if exists is None:
                    conn.execute(
                        schema.ledger_head.insert().values(
                            id=1, seq=0, hash=GENESIS, recorded_at=now
                        )
                    )
        return applied

    @contextmanager
    def translate(self) -> Iterator[None]:
        """Turn driver errors into registry errors, keeping the cause."""
        try:
            yield
        except RegistryError:
            raise
        except IntegrityError as e:
            raise Conflict(
                f"a concurrent change conflicted with this one ({_first_line(e.orig)}); retry"
            ) from e
        except (DBAPIError, SQLAlchemyError) as e:
            origin = getattr(e, "orig", None) or e
            raise StoreUnavailable(f"database error: {_first_line(origin)}") from e

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (a consistent snapshot on both backends)."""
        with self.translate(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def single_read(self) -> Iterator[Connection]:
        """A connection for reads that each stand alone: no transaction is begun, so each
        statement sees the newest commit (cheaper than :meth:`read`, but two statements
        may see two states: use it for one statement, or for rows that never change)."""
        with self.translate(), self.engine.connect() as conn:
            yield conn.execution_options(**{SINGLE: True})

    def head_key(self) -> tuple[int, str]:
        """The ledger head's ``(seq, hash)``, in one statement outside any transaction:
        what answers kept in memory are keyed by. It runs on the pooled driver connection
        itself (no SQLAlchemy connection, no ``BEGIN``): every request pays for it."""
        dbapi_error = self.engine.dialect.loaded_dbapi.Error
        with self.translate():
            raw = self.engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute("SELECT seq, hash FROM ledger_head WHERE id = 1")
                row = cursor.fetchone()
                cursor.close()
            except dbapi_error as e:
                raise StoreUnavailable(f"database error: {_first_line(e)}") from e
            finally:
                raw.close()
        if row is None:
            raise StoreUnavailable("the ledger head row is missing")
        return int(row[0]), str(row[1])

    @contextmanager
    def write(self, actor: str, auth: Mapping[str, Any] | None = None) -> Iterator[Tx]:
        """A write transaction holding the ledger-head lock; commits on success only, and
        returns only once the commit is durable (with group commits, once the batch is)."""
        if self.group is not None:
            with self.group.member(actor, auth) as tx:
                yield tx
            return
        with self.translate(), self.engine.connect() as raw:
            conn = raw.execution_options(**{WRITE: True})
            with conn.begin():
                head = _lock_head(conn)
                now = max(datetime.now(UTC), parse_stored(head["recorded_at"]))
                yield Tx(conn, actor=actor, now=now, head=head, auth=auth)

    @contextmanager
    def side_write(self) -> Iterator[Connection]:
        """A write transaction for bookkeeping outside the ledger (webhook progress and
        delivery logs, leases). It does not take the ledger-head lock on PostgreSQL, so
        registry writers never wait for it (SQLite still serializes it), and it commits
        without waiting for the disk (``synchronous_commit = off``; SQLite
        ``synchronous=NORMAL``): a process crash loses nothing, a power cut may lose the
        last few such commits, which only makes a webhook send an event again."""
        with self.translate(), self.engine.connect() as raw:
            sqlite = self.backend == "sqlite"
            if sqlite:
                raw.connection.dbapi_connection.execute("PRAGMA synchronous=NORMAL")  # type: ignore[union-attr]
            try:
                conn = raw.execution_options(**{WRITE: True})
                with conn.begin():
                    if not sqlite:
                        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                    yield conn
            finally:
                if sqlite:
                    raw.connection.dbapi_connection.execute("PRAGMA synchronous=FULL")  # type: ignore[union-attr]

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()


def _lock_head(conn: Connection) -> dict[str, Any]:
    """Read the ledger head, locking it until the transaction ends."""
    return dict(conn.execute(_LOCK_HEAD).mappings().one())


class _Batch:
    """One shared write transaction and the members it holds."""

    def __init__(self, raw: Connection, conn: Connection, head: dict[str, Any]) -> None:
        self.raw = raw
        self.conn = conn
        self.head = head
        self.members = 0
        self.durable = threading.Event()
        self.failure: BaseException | None = None


class GroupCommit:
    """Concurrent writers of one process share a transaction and its one commit.

    Writers queue on one lock. The first opens a transaction (taking the ledger-head lock);
    each, in turn, runs its change inside its own savepoint, so a change that fails is
    undone alone and the others stand. A member that finds nobody queued behind it, or
    fills the batch to ``cap``, commits the batch (one fsync for all of them, SQLite's
    ``synchronous=FULL`` or PostgreSQL's real commit) and wakes the members waiting for it;
    every member returns only once its batch is durable, and fails if the commit does.
    Alone, a writer commits at once, as without batching.
    """

    def __init__(self, store: Store, *, cap: int) -> None:
        self._store = store
        self._cap = cap
        self._turn = threading.Lock()
        self._queue = threading.Lock()
        self._queued = 0
        self._batch: _Batch | None = None
        self._inside = threading.local()
        #: Batches committed and changes they held (for tests and benchmarks).
        self.batches = 0
        self.changes = 0

    @contextmanager
    def member(self, actor: str, auth: Mapping[str, Any] | None) -> Iterator[Tx]:
        """One change in the current batch (see the class)."""
        if getattr(self._inside, "holding", False):
            with self._held(actor, auth) as tx:
                yield tx
            return
        if getattr(self._inside, "active", False):
            raise RuntimeError("a write transaction inside another on the same thread")
        with self._queue:
            self._queued += 1
        self._turn.acquire()
        with self._queue:
            self._queued -= 1
        self._inside.active = True
        batch: _Batch | None = None
        changed = False
        try:
            with self._store.translate():
                batch = self._batch or self._open()
                with self._change(batch, actor, auth) as tx:
                    yield tx
                changed = True
        finally:
            self._inside.active = False
            self._hand_on(batch, waits=changed)
        if changed and batch is not None and batch.failure is not None:
            raise StoreUnavailable(
                f"the batch this change was in did not commit ({_first_line(batch.failure)})"
            ) from batch.failure

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Hold one batch open on this thread: every write made inside is a member of it
        (its own savepoint), and the batch commits, once, when the block ends. For a
        thread that applies queued changes in turn (the server's writer); a caller whose
        change was made inside must not be answered before the block has returned, and
        when it raises :class:`StoreUnavailable` the commit failed and no change stands."""
        if getattr(self._inside, "active", False) or getattr(self._inside, "holding", False):
            raise RuntimeError("a write transaction inside another on the same thread")
        self._turn.acquire()
        self._inside.holding = True
        batch: _Batch | None = None
        try:
            yield
        finally:
            self._inside.holding = False
            batch = self._batch
            if batch is not None:
                self._finish(batch)
            self._turn.release()
        if batch is not None and batch.failure is not None:
            raise StoreUnavailable(
                f"the batch did not commit ({_first_line(batch.failure)})"
            ) from batch.failure

    @contextmanager
    def _held(self, actor: str, auth: Mapping[str, Any] | None) -> Iterator[Tx]:
        """One change in the batch this thread holds (see :meth:`holding`)."""
        if getattr(self._inside, "active", False):
            raise RuntimeError("a write transaction inside another on the same thread")
        self._inside.active = True
        try:
            with self._store.translate():
                batch = self._batch or self._open()
                if batch.failure is not None:
                    raise StoreUnavailable(
                        f"the batch this change was in failed ({_first_line(batch.failure)})"
                    )
                with self._change(batch, actor, auth) as tx:
                    yield tx
        finally:
            self._inside.active = False

    @staticmethod
    @contextmanager
    def _change(batch: _Batch, actor: str, auth: Mapping[str, Any] | None) -> Iterator[Tx]:
        """One member's change, in its own savepoint of ``batch``: undone alone if it fails."""
        now = max(datetime.now(UTC), parse_stored(batch.head["recorded_at"]))
        savepoint = batch.conn.begin_nested()
        try:
            tx = Tx(batch.conn, actor=actor, now=now, head=batch.head, auth=auth)
            yield tx
        except BaseException:
            try:
                savepoint.rollback()
            except SQLAlchemyError as e:  # the connection is gone: so is the batch
                batch.failure = e
            raise
        savepoint.commit()
        if tx.head_seq != batch.head["seq"]:
            batch.head = tx.head()
        batch.members += 1

    def _open(self) -> _Batch:
        raw = self._store.engine.connect()
        try:
            conn = raw.execution_options(**{WRITE: True})
            conn.begin()
            batch = _Batch(raw, conn, _lock_head(conn))
        except BaseException:
            raw.close()
            raise
        self._batch = batch
        return batch

    def _hand_on(self, batch: _Batch | None, *, waits: bool) -> None:
        """Commit the batch when nobody is queued behind this member (or it is full);
        otherwise leave it to the next and, if this member changed something (``waits``),
        wait until the batch is durable."""
        with self._queue:
            last = self._queued == 0
        if batch is None or batch.failure is not None or last or batch.members >= self._cap:
            if batch is not None:
                self._finish(batch)
            self._turn.release()
            return
        self._turn.release()
        if waits:
            batch.durable.wait()

    def _finish(self, batch: _Batch) -> None:
        self._batch = None
        try:
            if batch.failure is None:
                batch.conn.commit()
                self.batches += 1
                self.changes += batch.members
            else:
                batch.conn.rollback()
        except SQLAlchemyError as e:
            batch.failure = e
        finally:
            batch.raw.close()
            batch.durable.set()


def _first_line(error: object) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
