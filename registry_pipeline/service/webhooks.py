"""Webhooks: subscribe a receiver to ledger events (admins only; the signing secret is shown
once), list, remove, enable again, read every delivery attempt, and redeliver one.

Adding, removing, enabling and the dispatcher's disabling are ledger events. Deliveries
are made by :mod:`.dispatch` inside ``registry serve``; a redelivery is made here, at once,
and logged like any attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from sqlalchemy import Connection

from registry_pipeline import settings
from registry_pipeline.core.digests import canonical_json
from registry_pipeline.core.errors import BadInput, Conflict, NotFound, Refused
from registry_pipeline.core.ledger import LedgerEvent
from registry_pipeline.core.times import format_time
from registry_pipeline.core.webhooks import (
    check_url,
    message,
    new_secret,
    parse_types,
    shown_url,
    webhook_id,
)
from registry_pipeline.service.context import Context
from registry_pipeline.store import ledger
from registry_pipeline.store import webhooks as stored
from registry_pipeline.webhook_sender import Sender, check_receiver

MAX_DELIVERIES = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookInfo:
    """A webhook as an admin sees it: never its secret."""

    id: int
    url: str
    events: Sequence[str]
    entry: str | None
    workload: str | None
    status: str
    delivered_seq: int
    failures: int
    failing_since: str | None
    next_attempt_at: str | None
    created_at: str
    created_by: str

    def to_dict(self) -> dict[str, Any]:
        """The webhook's fields (``webhooks list``)."""
        return {**asdict(self), "events": list(self.events)}


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookCreated:
    """A new webhook with its signing secret, which is shown this once."""

    secret: str
    info: WebhookInfo

    def to_dict(self) -> dict[str, Any]:
        """The webhook's fields and ``secret``."""
        return {**self.info.to_dict(), "secret": self.secret}


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryInfo:
    """One attempt: when, what came back, how long it took, what went wrong."""

    id: int
    webhook: int
    seq: int
    webhook_id: str
    attempt: int
    redelivery: bool
    attempted_at: str
    status_code: int | None
    latency_ms: float
    error: str | None
    ok: bool

    def to_dict(self) -> dict[str, Any]:
        """The attempt's fields (``webhooks deliveries``)."""
        return asdict(self)


def _info(hook: stored.StoredWebhook) -> WebhookInfo:
    return WebhookInfo(
        id=hook.id,
        url=hook.url,
        events=hook.events,
        entry=hook.entry,
        workload=hook.workload,
        status=hook.status,
        delivered_seq=hook.delivered_seq,
        failures=hook.failures,
        failing_since=hook.failing_since,
        next_attempt_at=hook.next_attempt_at,
        created_at=hook.created_at,
        created_by=hook.created_by,
    )


def delivery_info(found: stored.StoredDelivery) -> DeliveryInfo:
    """An attempt as answers show it."""
    return DeliveryInfo(
        id=found.id,
        webhook=found.webhook_id,
        seq=found.seq,
        webhook_id=webhook_id(found.seq),
        attempt=found.attempt,
        redelivery=found.redelivery,
        attempted_at=found.attempted_at,
        status_code=found.status_code,
        latency_ms=found.latency_ms,
        error=found.error,
        ok=found.ok,
    )


def body(event: LedgerEvent) -> bytes:
    """The bytes every delivery of ``event`` sends (the same on every retry)."""
    return canonical_json(message(event))


def _require_admin(ctx: Context, conn: Connection, doing: str) -> None:
    if not ctx.is_admin(conn):
        raise Refused(f"{ctx.actor} may not {doing}: webhooks are for policy.admins")


def _live(conn: Connection, webhook: int) -> stored.StoredWebhook:
    hook = stored.by_id(conn, webhook)
    if hook.status == stored.REMOVED:
        raise NotFound(f"no webhook {webhook} (it was removed)")
    return hook


def add(
    ctx: Context,
    url: str,
    *,
    events: Sequence[str],
    entry: str | None = None,
    workload: str | None = None,
) -> WebhookCreated:
    """Subscribe ``url`` to ``events`` (of one entry or workload, when given) from the next
    event on; the webhook's own ``webhook.add`` event is the first it may receive.

    Raises:
        BadInput: a malformed URL or event type, both filters, or a receiver address the
            server must not call.
        NotFound: an unknown entry or workload.
        Refused: the caller is no admin.
    """
    check_url(url)
    types = parse_types(events)
    if entry is not None and workload is not None:
        raise BadInput("a webhook filters on one entry or one workload, not both")
    with ctx.store.read() as conn:
        _require_admin(ctx, conn, "add webhooks")
    check_receiver(url, allow_private=settings.allow_private_webhooks())
    secret = new_secret()
    with ctx.write() as tx:
        _require_admin(ctx, tx.conn, "add webhooks")
        catalog = ctx.catalog(tx.conn)
        if entry is not None:
            catalog.entry(entry)
        if workload is not None:
            catalog.workload(workload)
        hook = stored.insert(
            tx.conn,
            url=url,
            events=types,
            entry=entry,
            workload=workload,
            secret=secret,
            at=tx.now_text,
            by=ctx.actor,
            after_seq=tx.head_seq,
        )
        tx.append(
            "webhook.add",
            f"webhook:{hook.id}",
            {
                "id": hook.id,
                "url": shown_url(url),
                "events": list(types),
                "entry": entry,
                "workload": workload,
            },
        )
    return WebhookCreated(secret=secret, info=_info(hook))


def listed(ctx: Context) -> list[WebhookInfo]:
    """Every webhook not removed, oldest first (admins only)."""
    with ctx.store.read() as conn:
        _require_admin(ctx, conn, "list webhooks")
        return [_info(h) for h in stored.listed(conn)]


def _change(ctx: Context, webhook: int, status: str, action: str) -> WebhookInfo:
    with ctx.write() as tx:
        _require_admin(ctx, tx.conn, f"{action.split('.')[1]} webhooks")
        hook = _live(tx.conn, webhook)
        if hook.status != status:
            stored.set_status(tx.conn, webhook, status, at=tx.now_text, by=ctx.actor)
            tx.append(action, f"webhook:{webhook}", {"id": webhook, "url": shown_url(hook.url)})
        return _info(stored.by_id(tx.conn, webhook))


def remove(ctx: Context, webhook: int) -> WebhookInfo:
    """Stop a webhook for good (its delivery log is kept)."""
    return _change(ctx, webhook, stored.REMOVED, "webhook.remove")


def enable(ctx: Context, webhook: int) -> WebhookInfo:
    """Start a disabled webhook again, from where it stopped (nothing is skipped)."""
    return _change(ctx, webhook, stored.ACTIVE, "webhook.enable")


def deliveries(ctx: Context, webhook: int, *, limit: int = 100) -> list[DeliveryInfo]:
    """The newest ``limit`` attempts for ``webhook``, newest first (admins only)."""
    if not 1 <= limit <= MAX_DELIVERIES:
        raise BadInput(f"invalid limit {limit}: use 1 to {MAX_DELIVERIES}")
    with ctx.store.read() as conn:
        _require_admin(ctx, conn, "read webhook deliveries")
        stored.by_id(conn, webhook)
        return [delivery_info(d) for d in stored.deliveries(conn, webhook, limit=limit)]


def redeliver(ctx: Context, delivery: int, *, sender: Sender | None = None) -> DeliveryInfo:
    """Send the event of attempt ``delivery`` to its webhook again, now, and log it.

    Raises:
        NotFound: no such attempt.
        Conflict: its webhook was removed.
    """
    with ctx.store.read() as conn:
        _require_admin(ctx, conn, "redeliver webhook events")
        earlier = stored.delivery(conn, delivery)
        hook = stored.by_id(conn, earlier.webhook_id)
        if hook.status == stored.REMOVED:
            raise Conflict(f"webhook {hook.id} was removed; add it again to send to it")
        secret = stored.secret(conn, hook.id)
        event = next(islice(ledger.events(conn, after=earlier.seq - 1, batch=1), 1))
    own = sender is None
    sender = sender or Sender(allow_private=settings.allow_private_webhooks())
    try:
        at = format_time(datetime.now(UTC))
        outcome = sender.send(hook.url, secret, message_id=webhook_id(event.seq), body=body(event))
    finally:
        if own:
            sender.close()
    with ctx.store.side_write() as conn:
        attempt = stored.attempts(conn, hook.id, event.seq) + 1
        logged = stored.record_delivery(
            conn,
            webhook_id=hook.id,
            seq=event.seq,
            attempt=attempt,
            redelivery=True,
            attempted_at=at,
            status_code=outcome.status_code,
            latency_ms=outcome.latency_ms,
            error=outcome.error,
            ok=outcome.ok,
        )
    return delivery_info(logged)


class Webhooks:
    """The webhook use cases of one :class:`~registry_pipeline.service.Registry`
    (``registry.webhooks``)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def add(
        self,
        url: str,
        *,
        events: Sequence[str],
        entry: str | None = None,
        workload: str | None = None,
    ) -> WebhookCreated:
        """Subscribe a receiver (see :func:`add`)."""
        return add(self._ctx, url, events=events, entry=entry, workload=workload)

    def remove(self, webhook: int) -> WebhookInfo:
        """Stop a webhook for good."""
        return remove(self._ctx, webhook)

    def enable(self, webhook: int) -> WebhookInfo:
        """Start a disabled webhook again, from where it stopped."""
        return enable(self._ctx, webhook)

    def deliveries(self, webhook: int, *, limit: int = 100) -> list[DeliveryInfo]:
        """The newest attempts, newest first."""
        return deliveries(self._ctx, webhook, limit=limit)

    def redeliver(self, delivery: int) -> DeliveryInfo:
        """Send an attempt's event again now."""
        return redeliver(self._ctx, delivery)

    def list(self) -> list[WebhookInfo]:
        """Every webhook not removed."""
        return listed(self._ctx)
