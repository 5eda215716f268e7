"""Reading the ledger (appends happen in :meth:`registry_pipeline.store.Tx.append`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import Connection, select

from registry_pipeline.core.ledger import LedgerEvent, LedgerHead
from registry_pipeline.store import loads, schema


def events(conn: Connection, *, after: int = 0, batch: int = 5000) -> Iterator[LedgerEvent]:
    """Every ledger event after seq ``after``, in seq order, streamed in batches."""
    t = schema.ledger
    last = after
    while True:
        rows = (
            conn.execute(select(t).where(t.c.seq > last).order_by(t.c.seq).limit(batch))
            .mappings()
            .all()
        )
        if not rows:
            return
        for r in rows:
            yield LedgerEvent(
                seq=r["seq"],
                recorded_at=r["recorded_at"],
                actor=r["actor"],
                action=r["action"],
                subject=r["subject"],
                payload=_payload(r["payload"]),
                prev_hash=r["prev_hash"],
                hash=r["hash"],
                auth=_payload(r["auth"]) if r["auth"] is not None else None,
            )
        last = rows[-1]["seq"]


def _payload(text: str) -> Mapping[str, Any]:
    try:
        value = loads(text)
    except ValueError:
        return {"unparseable_payload": text}
    return value if isinstance(value, dict) else {"non_object_payload": value}


_HEAD = select(schema.ledger_head).where(schema.ledger_head.c.id == 1)


def head(conn: Connection) -> LedgerHead:
    """The recorded head of the ledger."""
    row = conn.execute(_HEAD).mappings().one()
    return LedgerHead(seq=row["seq"], hash=row["hash"], recorded_at=row["recorded_at"])
