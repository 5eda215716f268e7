"""Webhooks as values: which ledger events a subscription selects, what is sent, when a
failed delivery is tried again, and which receivers a registry may call at all.

A delivery is a POST of ``{type, seq, recorded_at, principal, subject, data}`` signed per
the Standard Webhooks spec, with ``webhook-id: evt_<seq>`` so a receiver can drop the
duplicates that at-least-once delivery allows.
"""

from __future__ import annotations

import ipaddress
import secrets
from base64 import b64encode
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from registry_pipeline.core.errors import BadInput
from registry_pipeline.core.ledger import LedgerEvent

EVENT_TYPES = frozenset(
    {
        "ab.ingest",
        "card.set",
        "catalog.load",
        "eval.ingest",
        "promotion.apply",
        "promotion.approve",
        "promotion.refused",
        "promotion.reject",
        "promotion.request",
        "promotion.withdraw",
        "stage.import",
        "stage.rollback",
        "token.create",
        "token.revoke",
        "version.import",
        "version.register",
        "webhook.add",
        "webhook.disable",
        "webhook.enable",
        "webhook.remove",
    }
)
"""Every ledger event type, as a subscription names it (also ``FAMILY.*`` and ``*``)."""

MAX_URL = 2000
SECRET_PREFIX = "whsec_"

RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
)
"""The waits after the 1st, 2nd, ... failed attempt at one event; hourly after the last."""
GIVE_UP_AFTER = timedelta(hours=24)
"""A webhook failing this long is disabled (and a ``webhook.disable`` event says so)."""
ATTEMPT_TIMEOUT = 10.0
"""Seconds a receiver has to answer 2xx."""


def webhook_id(seq: int) -> str:
    """The ``webhook-id`` of the delivery of event ``seq``: the same on every retry."""
    return f"evt_{seq}"


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + b64encode(secrets.token_bytes(32)).decode("ascii")


def parse_types(types: Sequence[str]) -> tuple[str, ...]:
    """The event types a subscription names: known types, ``FAMILY.*`` or ``*``.

    Raises:
        BadInput: none given, or one that names no event type.
    """
    names = tuple(dict.fromkeys(t.strip() for t in types if t.strip()))
    if not names:
        raise BadInput("no event types named: name at least one, e.g. promotion.apply")
    families = {t.split(".", 1)[0] for t in EVENT_TYPES}
    for name in names:
        family = name[:-2] if name.endswith(".*") else None
        if name != "*" and name not in EVENT_TYPES and family not in families:
            raise BadInput(
                f"unknown event type {name[:80]!r}: use one of {', '.join(sorted(EVENT_TYPES))}, "
                "FAMILY.* or *"
            )
    return names


def type_selected(types: Sequence[str], action: str) -> bool:
    """Whether ``action`` is one of ``types`` (exact, ``FAMILY.*`` or ``*``)."""
    family = action.split(".", 1)[0] + ".*"
    return any(t in ("*", action, family) for t in types)


def event_entry(event: LedgerEvent) -> str | None:
    """The catalog entry an event is about, if any (``ENTRY@N`` subjects, or the payload's
    ``entry`` for requests and decisions)."""
    named = event.payload.get("entry")
    if isinstance(named, str):
        return named
    entry, at, _ = event.subject.partition("@")
    return entry if at else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Selector:
    """What one webhook subscribes to: event types, and optionally one entry or workload."""

    types: tuple[str, ...]
    entry: str | None = None
    workload: str | None = None

    def selects(self, event: LedgerEvent, workloads_of: Callable[[str], frozenset[str]]) -> bool:
        """Whether ``event`` goes to this webhook; ``workloads_of(entry)`` names the
        workloads whose stack holds ``entry`` (as the current catalog has them)."""
        if not type_selected(self.types, event.action):
            return False
        if self.entry is None and self.workload is None:
            return True
        entry = event_entry(event)
        if entry is None:
            return False
        if self.entry is not None:
            return entry == self.entry
        return self.workload in workloads_of(entry)


def message(event: LedgerEvent) -> dict[str, Any]:
    """The body of a delivery (and of an event in the feed, with its auth method)."""
    return {
        "type": event.action,
        "seq": event.seq,
        "recorded_at": event.recorded_at,
        "principal": event.actor,
        "subject": event.subject,
        "data": dict(event.payload),
    }


def retry_delay(failures: int, schedule: Sequence[timedelta] = RETRY_SCHEDULE) -> timedelta:
    """How long to wait after the ``failures``-th failed attempt at one event."""
    return schedule[min(max(failures, 1), len(schedule)) - 1]


def check_url(url: str) -> str:
    """A receiver URL: http(s), a host, no credentials, at most 2000 characters.

    Raises:
        BadInput: naming what is wrong with it.
    """
    if not isinstance(url, str) or not url or len(url) > MAX_URL or not url.isprintable():
        raise BadInput(
            f"invalid webhook URL: use http(s)://HOST/PATH, at most {MAX_URL} characters"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BadInput(f"invalid webhook URL {url[:80]!r}: it does not parse") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"invalid webhook URL {url[:80]!r}: use http(s)://HOST/PATH")
    if parts.username is not None or parts.password is not None:
        raise BadInput(
            f"webhook URL {parts.hostname!r} carries credentials; receivers check the "
            "signature instead"
        )
    if port == 0:
        raise BadInput(f"invalid webhook URL {url[:80]!r}: port 0")
    return url


def shown_url(url: str) -> str:
    """The URL as the ledger records it: without query or fragment, which may hold keys."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def address_problem(address: str) -> str | None:
    """Why a registry must not call ``address`` unless allowed (loopback, private,
    link-local, reserved, multicast), or ``None`` for a public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for test, what in (
        (ip.is_loopback, "a loopback"),
        (ip.is_unspecified, "an unspecified"),
        (ip.is_link_local, "a link-local"),
        (ip.is_multicast, "a multicast"),
        (ip.is_private, "a private"),
        (ip.is_reserved, "a reserved"),
        (not ip.is_global, "a non-public"),
    ):
        if test:
            return f"{ip}, {what} address"
    return None


def first_problem(addresses: Sequence[str]) -> str | None:
    """The first address of ``addresses`` a registry must not call, as a reason."""
    for address in addresses:
        problem = address_problem(address)
        if problem is not None:
            return problem
    return None
