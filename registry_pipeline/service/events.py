"""The event feed: ledger events after a cursor, in order, with the next cursor.

A poller that keeps its cursor never misses an event: seqs are assigned in the write
transaction that holds the ledger-head lock, so an event is visible only after every
event before it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from registry_pipeline.core.errors import BadInput
from registry_pipeline.core.ledger import LedgerEvent
from registry_pipeline.core.webhooks import message
from registry_pipeline.service.context import Context
from registry_pipeline.store import ledger

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedEvent:
    """One ledger event as the feed and webhooks show it."""

    event: LedgerEvent

    def to_dict(self) -> dict[str, Any]:
        """``{type, seq, recorded_at, principal, subject, data, auth_method}``."""
        auth = self.event.auth or {}
        return {**message(self.event), "auth_method": auth.get("method")}


@dataclass(frozen=True, slots=True, kw_only=True)
class Feed:
    """Events after a cursor; ``cursor`` is what to ask after next, ``head`` the newest."""

    events: Sequence[FeedEvent]
    cursor: int
    head: int

    def to_dict(self) -> dict[str, Any]:
        """``{events, cursor, head}``."""
        return {
            "events": [e.to_dict() for e in self.events],
            "cursor": self.cursor,
            "head": self.head,
        }


def check_cursor(after: int, limit: int) -> None:
    """Raises :class:`BadInput` for a negative cursor or a limit outside 1..1000."""
    if after < 0:
        raise BadInput(f"invalid cursor {after}: use 0 or an event seq the feed gave")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadInput(f"invalid limit {limit}: use 1 to {MAX_LIMIT}")


def feed(ctx: Context, *, after: int = 0, limit: int = DEFAULT_LIMIT) -> Feed:
    """Up to ``limit`` ledger events after seq ``after``, oldest first."""
    check_cursor(after, limit)
    with ctx.store.read() as conn:
        head = ledger.head(conn).seq
        found = list(islice(ledger.events(conn, after=after, batch=limit), limit))
    return Feed(
        events=[FeedEvent(event=e) for e in found],
        cursor=found[-1].seq if found else after,
        head=head,
    )
