"""Webhook subscriptions, their delivery progress, every delivery attempt, and leases.

Progress only moves forward (``delivered_seq`` is raised, never lowered), so a dispatcher
that lost its lease mid-delivery cannot rewind another one's work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, RowMapping, func, select, text

from registry_pipeline.errors import NotFound
from registry_pipeline.store import dumps, loads, schema

ACTIVE = "active"
DISABLED = "disabled"
REMOVED = "removed"


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredWebhook:
    """A webhook as stored, without its secret."""

    id: int
    url: str
    events: tuple[str, ...]
    entry: str | None
    workload: str | None
    created_at: str
    created_by: str
    status: str
    delivered_seq: int
    failures: int
    failing_since: str | None
    next_attempt_at: str | None
    changed_at: str
    changed_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredDelivery:
    """One attempt to deliver event ``seq`` to webhook ``webhook_id``."""

    id: int
    webhook_id: int
    seq: int
    attempt: int
    redelivery: bool
    attempted_at: str
    status_code: int | None
    latency_ms: float
    error: str | None
    ok: bool


def _webhook(row: RowMapping) -> StoredWebhook:
    values = {k: v for k, v in row.items() if k != "secret"}
    values["events"] = tuple(loads(row["events"]))
    return StoredWebhook(**values)


def insert(
    conn: Connection,
    *,
    url: str,
    events: tuple[str, ...],
    entry: str | None,
    workload: str | None,
    secret: str,
    at: str,
    by: str,
    after_seq: int,
) -> StoredWebhook:
    """Record a subscription that starts after event ``after_seq`` (inside the write
    transaction, which serialises ids)."""
    t = schema.webhooks
    next_id = int(conn.execute(select(func.coalesce(func.max(t.c.id), 0))).scalar_one()) + 1
    conn.execute(
        t.insert().values(
            id=next_id,
            url=url,
            events=dumps(list(events)),
            entry=entry,
            workload=workload,
            secret=secret,
            created_at=at,
            created_by=by,
            status=ACTIVE,
            delivered_seq=after_seq,
            failures=0,
            changed_at=at,
            changed_by=by,
        )
    )
    return by_id(conn, next_id)


def by_id(conn: Connection, webhook_id: int) -> StoredWebhook:
    """The webhook ``webhook_id`` (removed ones too); raises :class:`NotFound`."""
    t = schema.webhooks
    row = conn.execute(select(t).where(t.c.id == webhook_id)).mappings().first()
    if row is None:
        raise NotFound(f"no webhook {webhook_id}")
    return _webhook(row)


def secret(conn: Connection, webhook_id: int) -> str:
    """The signing secret of ``webhook_id`` (the dispatcher's, never an answer's)."""
    t = schema.webhooks
    return str(conn.execute(select(t.c.secret).where(t.c.id == webhook_id)).scalar_one())


def listed(conn: Connection, *, status: str | None = None) -> list[StoredWebhook]:
    """Every webhook not removed (or of ``status``), oldest first."""
    t = schema.webhooks
    query = select(t).order_by(t.c.id)
    query = query.where(t.c.status == status) if status else query.where(t.c.status != REMOVED)
    return [_webhook(r) for r in conn.execute(query).mappings()]


def set_status(conn: Connection, webhook_id: int, status: str, *, at: str, by: str) -> None:
    """Mark a webhook active, disabled or removed; enabling starts its retries afresh."""
    t = schema.webhooks
    values: dict[str, Any] = {"status": status, "changed_at": at, "changed_by": by}
    if status == ACTIVE:
        values |= {"failures": 0, "failing_since": None, "next_attempt_at": None}
    conn.execute(t.update().where(t.c.id == webhook_id).values(**values))


def advance(conn: Connection, webhook_id: int, seq: int) -> None:
    """Every event up to ``seq`` is done for ``webhook_id``: move its cursor forward (never
    back) and clear its failures."""
    t = schema.webhooks
    conn.execute(
        t.update()
        .where(t.c.id == webhook_id, t.c.delivered_seq < seq)
        .values(delivered_seq=seq, failures=0, failing_since=None, next_attempt_at=None)
    )


def fail(
    conn: Connection, webhook_id: int, *, seq: int, failing_since: str, next_attempt_at: str
) -> None:
    """Count one more failed attempt at the event after the cursor (still ``seq``)."""
    t = schema.webhooks
    conn.execute(
        t.update()
        .where(t.c.id == webhook_id, t.c.delivered_seq < seq)
        .values(
            failures=t.c.failures + 1,
            failing_since=func.coalesce(t.c.failing_since, failing_since),
            next_attempt_at=next_attempt_at,
        )
    )


def record_delivery(
    conn: Connection,
    *,
    webhook_id: int,
    seq: int,
    attempt: int,
    redelivery: bool,
    attempted_at: str,
    status_code: int | None,
    latency_ms: float,
    error: str | None,
    ok: bool,
) -> StoredDelivery:
    """Log one attempt."""
    t = schema.webhook_deliveries
    result = conn.execute(
        t.insert().values(
            webhook_id=webhook_id,
            seq=seq,
            attempt=attempt,
            redelivery=redelivery,
            attempted_at=attempted_at,
            status_code=status_code,
            latency_ms=round(latency_ms, 3),
            error=error,
            ok=ok,
        )
    )
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - both backends return the new id
        raise RuntimeError("the database returned no id for the delivery")
    return delivery(conn, int(key[0]))


def delivery(conn: Connection, delivery_id: int) -> StoredDelivery:
    """The attempt ``delivery_id``; raises :class:`NotFound`."""
    t = schema.webhook_deliveries
    row = conn.execute(select(t).where(t.c.id == delivery_id)).mappings().first()
    if row is None:
        raise NotFound(f"no webhook delivery {delivery_id}")
    return StoredDelivery(**row)


def deliveries(conn: Connection, webhook_id: int, *, limit: int) -> list[StoredDelivery]:
    """The newest ``limit`` attempts for ``webhook_id``, newest first."""
    t = schema.webhook_deliveries
    rows = conn.execute(
        select(t).where(t.c.webhook_id == webhook_id).order_by(t.c.id.desc()).limit(limit)
    ).mappings()
    return [StoredDelivery(**r) for r in rows]


def take_lease(
    conn: Connection,
    name: str,
    *,
    holder: str,
    now: str,
    until: str,
    gone: Callable[[str], bool],
) -> bool:
    """Hold lease ``name`` until ``until`` if it is free, lapsed, already ``holder``'s, or
    its holder is ``gone`` (known to have died)."""
    t = schema.leases
    row = conn.execute(select(t).where(t.c.name == name)).mappings().first()
    if row is None:
        conn.execute(t.insert().values(name=name, holder=holder, expires_at=until))
        return True
    if row["holder"] != holder and row["expires_at"] > now and not gone(row["holder"]):
        return False
    conn.execute(t.update().where(t.c.name == name).values(holder=holder, expires_at=until))
    return True


def release_lease(conn: Connection, name: str, *, holder: str) -> None:
    """Give lease ``name`` up, if ``holder`` has it."""
    t = schema.leases
    conn.execute(t.delete().where(t.c.name == name, t.c.holder == holder))


def attempts(conn: Connection, webhook_id: int, seq: int) -> int:
    """How many attempts at event ``seq`` were logged for ``webhook_id``."""
    t = schema.webhook_deliveries
    query = select(func.count()).where(t.c.webhook_id == webhook_id, t.c.seq == seq)
    return int(conn.execute(query).scalar_one())


def try_advisory_lock(conn: Connection, key: int) -> bool:
    """Take PostgreSQL's session advisory lock ``key`` if free (held until released or
    until the session ends)."""
    return bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())


def advisory_unlock(conn: Connection, key: int) -> None:
    """Release the session advisory lock ``key``."""
    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})


def ping(conn: Connection) -> None:
    """Fail if ``conn``'s session is gone."""
    conn.execute(text("SELECT 1"))
