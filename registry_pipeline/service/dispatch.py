"""The webhook dispatcher: one per database, inside ``registry serve``.

Every server process runs one; only the holder of the dispatcher lease delivers (a session
advisory lock on PostgreSQL, released by the database when its holder's connection dies; a
lease row on SQLite, renewed every 2 s and taken over 10 s after its holder stops renewing).

Each webhook's progress (``delivered_seq``) is stored and moves only after its receiver
answered 2xx, so a killed server resumes where it stopped: duplicates are possible, gaps
are not. A webhook gets its events one at a time, in ledger order; a failed attempt is
retried on the backoff schedule, and a webhook failing for 24 h is disabled, with a
``webhook.disable`` event saying so. Different webhooks are served in parallel, so one
slow receiver delays only itself.

Successful deliveries are recorded (their log rows and the progress they make) by one
recorder thread, many webhooks' at a time in one bookkeeping transaction, so that ten
webhooks add about one commit per event rather than ten to the writes registry users wait
on. The stored progress may trail what was delivered by a few milliseconds; a crash in that
window only sends those events again.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

from sqlalchemy import Connection

from registry_pipeline.core.identity import AuthMethod, Principal
from registry_pipeline.core.ledger import LedgerEvent
from registry_pipeline.core.times import format_time, parse_stored
from registry_pipeline.core.webhooks import (
    GIVE_UP_AFTER,
    RETRY_SCHEDULE,
    Selector,
    retry_delay,
    shown_url,
    webhook_id,
)
from registry_pipeline.service.context import Context
from registry_pipeline.service.webhooks import body
from registry_pipeline.store import Store, ledger
from registry_pipeline.store import webhooks as stored
from registry_pipeline.webhook_sender import Attempt, Sender

log = logging.getLogger("registry_pipeline.webhooks")

LEASE = "webhook-dispatcher"
ADVISORY_KEY = 7_301_116_829_141_771  # this registry's webhook dispatcher, on PostgreSQL
REST_AFTER_ERROR = 5.0
SERVER = Principal(name="registry-server", method=AuthMethod.SERVER)


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchConfig:
    """How the dispatcher retries, gives up, and shares the database."""

    allow_private: bool = False
    retry: Sequence[timedelta] = RETRY_SCHEDULE
    give_up: timedelta = GIVE_UP_AFTER
    poll: float = 0.25
    """Seconds between looks at the ledger head when idle."""
    lease_ttl: float = 10.0
    renew_every: float = 2.0
    workers: int = 8
    """Webhooks served at once."""
    batch: int = 200


def holder_gone(holder: str) -> bool:
    """Whether the process named by a lease holder (``HOST:PID:NONCE``) is known dead: it
    ran on this host and its pid is gone or a zombie. A holder elsewhere is never known
    dead; its lease lapses instead."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


class _Lease:
    """The dispatcher lease: held, renewed, and checked before each delivery."""

    def __init__(self, store: Store, holder: str, config: DispatchConfig) -> None:
        self._store = store
        self._holder = holder
        self._config = config
        self._valid_until = 0.0
        self._renew_at = 0.0
        self._lock_conn: Connection | None = None

    def hold(self) -> bool:
        """Take or renew the lease when due; whether this process holds it."""
        started = time.monotonic()
        if started < self._renew_at:
            return self.valid()
        self._renew_at = started + self._config.renew_every
        try:
            held = self._advisory() if self._store.backend == "postgresql" else self._row()
        except Exception:  # the database is away: hold nothing until it answers again
            log.warning("webhook dispatcher lease check failed", exc_info=True)
            self._drop()
            held = False
        self._valid_until = started + self._config.lease_ttl if held else 0.0
        return held

    def valid(self) -> bool:
        """Whether the lease is still good for one more delivery."""
        return time.monotonic() < self._valid_until - self._config.renew_every

    def _advisory(self) -> bool:
        if self._lock_conn is not None:
            stored.ping(self._lock_conn)
            self._lock_conn.commit()
            return True
        conn = self._store.engine.connect()
        got = stored.try_advisory_lock(conn, ADVISORY_KEY)
        conn.commit()  # the session lock outlives the transaction
        if got:
            self._lock_conn = conn
            return True
        conn.close()
        return False

    def _row(self) -> bool:
        now = datetime.now(UTC)
        until = now + timedelta(seconds=self._config.lease_ttl)
        with self._store.side_write() as conn:
            return stored.take_lease(
                conn,
                LEASE,
                holder=self._holder,
                now=format_time(now),
                until=format_time(until),
                gone=holder_gone,
            )

    def _drop(self) -> None:
        if self._lock_conn is not None:
            try:
                self._lock_conn.close()
            except Exception:
                log.debug("closing the lock connection failed", exc_info=True)
            self._lock_conn = None

    def release(self) -> None:
        """Give the lease up (a clean stop), so another server takes over at once."""
        try:
            if self._lock_conn is not None:
                stored.advisory_unlock(self._lock_conn, ADVISORY_KEY)
                self._lock_conn.commit()
            elif self._valid_until and self._store.backend != "postgresql":
                with self._store.side_write() as conn:
                    stored.release_lease(conn, LEASE, holder=self._holder)
        except Exception:
            log.debug("releasing the dispatcher lease failed", exc_info=True)
        self._drop()
        self._valid_until = 0.0


@dataclass(frozen=True, slots=True)
class _Delivered:
    webhook: int
    seq: int
    attempt: int
    at: str
    outcome: Attempt | None
    """``None``: no attempt, the event was not for this webhook (progress only)."""


class _Recorder:
    """Writes delivery logs and progress in batches, from one thread."""

    LINGER = 0.005
    """Seconds to wait for more records once one arrived."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: queue.Queue[_Delivered | threading.Event | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="webhook-recorder", daemon=True)
        self._thread.start()

    def add(self, record: _Delivered) -> None:
        """Record a successful delivery (soon)."""
        self._queue.put(record)

    def flush(self, timeout: float = 30.0) -> None:
        """Return once everything added before has been written (or failed to be)."""
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def stop(self) -> None:
        """Write what is left and end the thread."""
        self._queue.put(None)
        self._thread.join(30.0)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            time.sleep(self.LINGER)
            items = [first]
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            records = [i for i in items if isinstance(i, _Delivered)]
            stopping = any(i is None for i in items)
            try:
                if records:
                    self._write(records)
            except Exception:  # the events are sent again after a restart: duplicates only
                log.warning("recording %s webhook deliveries failed", len(records), exc_info=True)
            for item in items:
                if isinstance(item, threading.Event):
                    item.set()

    def _write(self, records: Sequence[_Delivered]) -> None:
        progress: dict[int, int] = {}
        with self._store.side_write() as conn:
            for r in records:
                if r.outcome is not None:
                    Dispatcher.log_attempt(conn, r.webhook, r.seq, r.attempt, r.at, r.outcome)
                progress[r.webhook] = max(progress.get(r.webhook, 0), r.seq)
            for webhook, seq in progress.items():
                stored.advance(conn, webhook, seq)


class Dispatcher:
    """Delivers ledger events to webhooks while this process holds the lease."""

    def __init__(self, store: Store, config: DispatchConfig | None = None) -> None:
        self.store = store
        self.config = config or DispatchConfig()
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._ctx = Context(store=store, principal=SERVER, deployments=Path("."))
        self._lease = _Lease(store, self.holder, self.config)
        self._sender = Sender(allow_private=self.config.allow_private)
        self._pool = ThreadPoolExecutor(self.config.workers, thread_name_prefix="webhook")
        self._busy: set[int] = set()
        self._resting: dict[int, float] = {}
        """Webhooks whose last run failed inside the registry, and until when they rest."""
        self._busy_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen_head = -1
        self._next_retry: str | None = None
        self._recorder = _Recorder(store)
        self._sent: dict[int, int] = {}
        """Each webhook's last event delivered by this process (ahead of the stored
        progress while the recorder catches up)."""
        self.dispatching = False
        """Whether this process holds the lease (read by ``/metrics`` and the tests)."""

    def start(self) -> None:
        """Run in a background thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name="webhook-dispatcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop delivering and give the lease up."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._recorder.stop()
        self._lease.release()
        self._sender.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.dispatching = self._lease.hold()
                if self.dispatching:
                    self._schedule()
            except Exception:
                log.warning("webhook dispatch pass failed; trying again", exc_info=True)
            self._stop.wait(self.config.poll if self.dispatching else self.config.renew_every)

    def _schedule(self) -> None:
        """Start a delivery run for each active webhook with an event due."""
        now = format_time(datetime.now(UTC))
        with self.store.read() as conn:
            head = ledger.head(conn).seq
            retry_due = self._next_retry is not None and self._next_retry <= now
            if head == self._seen_head and not retry_due and not self._busy:
                return
            hooks = stored.listed(conn, status=stored.ACTIVE)
        self._seen_head = head
        waits = [h.next_attempt_at for h in hooks if h.next_attempt_at and h.next_attempt_at > now]
        self._next_retry = min(waits, default=None)
        for hook in hooks:
            done = max(hook.delivered_seq, self._sent.get(hook.id, 0))
            if done >= head or (hook.next_attempt_at or "") > now:
                continue
            with self._busy_lock:
                if hook.id in self._busy or self._resting.get(hook.id, 0) > time.monotonic():
                    continue
                self._busy.add(hook.id)
            self._pool.submit(self._work, hook.id)

    def _work(self, webhook: int) -> None:
        try:
            while self._deliver_batch(webhook):
                pass
        except Exception:
            # Not the receiver's failure (those are logged attempts): the database. Rest a
            # while rather than send the same event again at once.
            self._resting[webhook] = time.monotonic() + REST_AFTER_ERROR
            log.warning(
                "delivering to webhook %s failed; trying again in %s s",
                webhook,
                REST_AFTER_ERROR,
                exc_info=True,
            )
        finally:
            with self._busy_lock:
                self._busy.discard(webhook)
            self._seen_head = -1  # look again: events may have come while this ran

    def _deliver_batch(self, webhook: int) -> bool:
        """Deliver the next events after ``webhook``'s cursor, in order, up to a failure;
        whether to go on with another batch."""
        with self.store.read() as conn:
            hook = stored.by_id(conn, webhook)
            if hook.status != stored.ACTIVE:
                return False
            secret = stored.secret(conn, webhook)
            batch = self.config.batch
            after = max(hook.delivered_seq, self._sent.get(webhook, 0))
            events = list(islice(ledger.events(conn, after=after, batch=batch), batch))
            catalog = self._ctx.catalog(conn)
        if not events:
            return False
        selector = Selector(types=hook.events, entry=hook.entry, workload=hook.workload)
        failures, passed, finished = hook.failures, None, True
        for event in events:
            if self._stop.is_set() or not self._lease.valid():
                finished = False
                break
            if not selector.selects(event, catalog.workloads_of):
                passed = event.seq
                continue
            if passed is not None:
                self._advance(webhook, passed)
                passed = None
            at = format_time(datetime.now(UTC))
            outcome = self._sender.send(
                hook.url, secret, message_id=webhook_id(event.seq), body=body(event)
            )
            if not outcome.ok:
                self._recorder.flush()  # the deliveries before it are logged before it
                self._failed(hook, event, failures + 1, at, outcome)
                return False
            self._sent[webhook] = event.seq
            self._recorder.add(_Delivered(webhook, event.seq, failures + 1, at, outcome))
            failures = 0
        if passed is not None:
            self._advance(webhook, passed)
        return finished and len(events) == self.config.batch

    def _advance(self, webhook: int, seq: int) -> None:
        """Move past events not selected for ``webhook``, up to ``seq``."""
        self._sent[webhook] = max(self._sent.get(webhook, 0), seq)
        self._recorder.add(_Delivered(webhook, seq, 0, "", None))

    @staticmethod
    def log_attempt(
        conn: Connection, webhook: int, seq: int, attempt: int, at: str, outcome: Attempt
    ) -> None:
        stored.record_delivery(
            conn,
            webhook_id=webhook,
            seq=seq,
            attempt=attempt,
            redelivery=False,
            attempted_at=at,
            status_code=outcome.status_code,
            latency_ms=outcome.latency_ms,
            error=outcome.error,
            ok=outcome.ok,
        )

    def _failed(
        self,
        hook: stored.StoredWebhook,
        event: LedgerEvent,
        attempt: int,
        at: str,
        outcome: Attempt,
    ) -> None:
        """Log a failed attempt, schedule the next, and disable a webhook failing too long."""
        now = parse_stored(at)
        since = hook.failing_since or at
        wait = retry_delay(attempt, self.config.retry)
        with self.store.side_write() as conn:
            self.log_attempt(conn, hook.id, event.seq, attempt, at, outcome)
            stored.fail(
                conn,
                hook.id,
                seq=event.seq,
                failing_since=since,
                next_attempt_at=format_time(now + wait),
            )
        self._next_retry = min(self._next_retry or "~", format_time(now + wait))
        if now - parse_stored(since) < self.config.give_up:
            return
        with self.store.write(SERVER.name, SERVER.auth()) as tx:
            current = stored.by_id(tx.conn, hook.id)
            if current.status != stored.ACTIVE:
                return
            stored.set_status(tx.conn, hook.id, stored.DISABLED, at=tx.now_text, by=SERVER.name)
            tx.append(
                "webhook.disable",
                f"webhook:{hook.id}",
                {
                    "id": hook.id,
                    "url": shown_url(hook.url),
                    "failing_since": since,
                    "seq": event.seq,
                    "attempts": attempt,
                    "last_error": outcome.error,
                },
            )
        log.warning("webhook %s disabled after failing since %s", hook.id, since)
