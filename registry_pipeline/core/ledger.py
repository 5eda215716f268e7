"""The append-only, hash-chained ledger: event hashing and chain verification.

``hash = sha256(prev_hash || canonical JSON of the event)``, where the event is its seq,
recorded_at, actor, action, subject and payload. The first event chains from
:data:`GENESIS`. Rewriting any event changes its hash and breaks every later link.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from registry_pipeline.core.digests import HEX64, canonical_json
from registry_pipeline.core.errors import BadInput, Step

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerEvent:
    """One recorded change. ``recorded_at`` is ISO 8601 UTC text, as stored."""

    seq: int
    recorded_at: str
    actor: str
    action: str
    subject: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS
    hash: str = ""
    auth: Mapping[str, Any] | None = None
    """How ``actor`` was authenticated (:meth:`~registry_pipeline.core.identity.Principal.auth`);
    ``None`` on events recorded before identities were kept."""

    def body(self) -> dict[str, Any]:
        """The hashed fields (``auth`` too, when the event has it)."""
        body = {
            "seq": self.seq,
            "recorded_at": self.recorded_at,
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "payload": dict(self.payload),
        }
        if self.auth is not None:
            body["auth"] = dict(self.auth)
        return body


def event_hash(prev_hash: str, body: Mapping[str, Any]) -> str:
    """sha256 over ``prev_hash`` (hex text) followed by the canonical JSON of ``body``."""
    digest = hashlib.sha256(prev_hash.encode("ascii"))
    digest.update(canonical_json(body))
    return digest.hexdigest()


def seal(event: LedgerEvent) -> LedgerEvent:
    """Return ``event`` with its hash computed from its prev_hash and body."""
    return LedgerEvent(**{**_fields(event), "hash": event_hash(event.prev_hash, event.body())})


def _fields(event: LedgerEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "recorded_at": event.recorded_at,
        "actor": event.actor,
        "action": event.action,
        "subject": event.subject,
        "payload": event.payload,
        "prev_hash": event.prev_hash,
        "auth": event.auth,
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class Verification:
    """The outcome of verifying a chain: ``broken_at`` is the first bad seq, if any."""

    ok: bool
    events: int
    head: str
    broken_at: int | None = None
    problem: str | None = None


def verify_chain(events: Iterable[LedgerEvent]) -> Verification:
    """Recompute the chain over ``events`` (in seq order) and locate the first break.

    Detects an edited event (its hash no longer matches), a deleted or inserted event
    (seq gap or a prev_hash that does not link), and a forged hash.
    """
    prev = GENESIS
    expected_seq = 1
    count = 0
    for event in events:
        count += 1
        if event.seq != expected_seq:
            return Verification(
                ok=False,
                events=count,
                head=prev,
                broken_at=event.seq,
                problem=f"expected event {expected_seq} but found {event.seq} "
                "(an event was deleted or inserted)",
            )
        if event.prev_hash != prev:
            return Verification(
                ok=False,
                events=count,
                head=prev,
                broken_at=event.seq,
                problem="its prev_hash does not match the hash of the event before it "
                "(an event before it was removed, inserted or rewritten)",
            )
        recomputed = event_hash(prev, event.body())
        if recomputed != event.hash:
            return Verification(
                ok=False,
                events=count,
                head=prev,
                broken_at=event.seq,
                problem="its content does not match its hash (the event was edited)",
            )
        prev = event.hash
        expected_seq += 1
    return Verification(ok=True, events=count, head=prev)


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerHead:
    """The recorded head of the ledger: the last event's seq and hash."""

    seq: int
    hash: str
    recorded_at: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{seq, hash, recorded_at}``."""
        return {"seq": self.seq, "hash": self.hash, "recorded_at": self.recorded_at}


def parse_anchor(text: str) -> tuple[int | None, str]:
    """``SEQ:HASH`` or ``HASH`` as ``(seq, hash)``.

    Raises:
        BadInput: neither form.
    """
    seq, _, digest = text.strip().rpartition(":")
    if not HEX64.fullmatch(digest) or (seq and not seq.isdigit()):
        raise BadInput(f"invalid anchor {text!r}", step=Step.ANCHOR_FORMAT)
    return (int(seq) if seq else None), digest
