"""The system of record: SQL through SQLAlchemy Core, SQLite by default, PostgreSQL to scale.

:class:`Store` hands out read connections and write transactions. A write transaction
takes the ledger-head lock first (``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE``
on PostgreSQL), so writers are serialized and every mutation and its ledger event commit
together or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, select
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
from registry_pipeline.store.engine import WRITE, make_engine


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
        head: RowMapping,
        auth: Mapping[str, Any] | None = None,
    ):
        self.conn = conn
        self.actor = actor
        self.auth = dict(auth) if auth is not None else None
        self.now = now
        self.now_text = format_time(now)
        self._seq = int(head["seq"])
        self._hash = str(head["hash"])

    @property
    def head_seq(self) -> int:
        """The seq of the newest event, including those appended in this transaction."""
        return self._seq

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
            schema.ledger.insert().values(
                seq=event.seq,
                recorded_at=event.recorded_at,
                actor=event.actor,
                action=event.action,
                subject=event.subject,
                payload=dumps(event.payload),
                prev_hash=event.prev_hash,
                hash=event.hash,
                auth=dumps(event.auth) if event.auth is not None else None,
            )
        )
        merkle.append(self.conn, event.seq, event.hash)
        self.conn.execute(
            schema.ledger_head.update()
            .where(schema.ledger_head.c.id == 1)
            .values(seq=event.seq, hash=event.hash, recorded_at=event.recorded_at)
        )
        self._seq, self._hash = event.seq, event.hash
        return event


class Store:
    """The registry database."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url

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
    def write(self, actor: str, auth: Mapping[str, Any] | None = None) -> Iterator[Tx]:
        """A write transaction holding the ledger-head lock; commits on success only."""
        with self.translate(), self.engine.connect() as raw:
            conn = raw.execution_options(**{WRITE: True})
            with conn.begin():
                head = (
                    conn.execute(
                        select(schema.ledger_head)
                        .where(schema.ledger_head.c.id == 1)
                        .with_for_update()
                    )
                    .mappings()
                    .one()
                )
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


def _first_line(error: object) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
