"""The webhook rules as values: which events a subscription selects, the retry schedule,
the receiver URLs and addresses a registry may call, and what a delivery carries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from registry_pipeline.core.errors import BadInput
from registry_pipeline.core.ledger import LedgerEvent
from registry_pipeline.core.webhooks import (
    EVENT_TYPES,
    RETRY_SCHEDULE,
    Selector,
    address_problem,
    check_url,
    event_entry,
    message,
    new_secret,
    parse_types,
    retry_delay,
    shown_url,
    type_selected,
    webhook_id,
)


def _event(action: str, subject: str, **payload: object) -> LedgerEvent:
    return LedgerEvent(
        seq=7,
        recorded_at="2026-12-02T10:00:00.000000Z",
        actor="alice@example.com",
        action=action,
        subject=subject,
        payload=payload,
    )


def test_types_are_known_types_families_or_everything() -> None:
    assert parse_types(["promotion.apply", " stage.* ", "promotion.apply"]) == (
        "promotion.apply",
        "stage.*",
    )
    assert parse_types(["*"]) == ("*",)
    for bad in (["promotion.aply"], ["nothing.*"], [""], []):
        with pytest.raises(BadInput):
            parse_types(bad)
    assert type_selected(("stage.*",), "stage.rollback")
    assert not type_selected(("stage.*",), "promotion.apply")
    assert type_selected(("*",), "webhook.disable")
    assert "webhook.disable" in EVENT_TYPES


def test_an_events_entry_comes_from_its_payload_or_its_subject() -> None:
    assert event_entry(_event("promotion.approve", "request:4", entry="support-bot")) == (
        "support-bot"
    )
    assert event_entry(_event("version.register", "support-prompt@3")) == "support-prompt"
    assert event_entry(_event("token.create", "token:2", principal="x")) is None


def test_a_selector_filters_on_types_then_on_an_entry_or_a_workload() -> None:
    workloads = {"support-bot": frozenset({"customer-support"}), "credit-risk-clf": frozenset()}

    def of(entry: str) -> frozenset[str]:
        return workloads.get(entry, frozenset())

    apply_support = _event("promotion.apply", "support-bot@2", entry="support-bot")
    apply_credit = _event("promotion.apply", "credit-risk-clf@1", entry="credit-risk-clf")
    token = _event("token.create", "token:1")
    by_workload = Selector(types=("promotion.*",), workload="customer-support")
    assert by_workload.selects(apply_support, of)
    assert not by_workload.selects(apply_credit, of)
    assert not Selector(types=("*",), workload="customer-support").selects(token, of)
    by_entry = Selector(types=("*",), entry="credit-risk-clf")
    assert by_entry.selects(apply_credit, of)
    assert not by_entry.selects(apply_support, of)
    assert Selector(types=("*",)).selects(token, of)
    assert not Selector(types=("stage.*",)).selects(apply_support, of)


def test_retries_follow_the_schedule_then_hourly() -> None:
    assert [retry_delay(n) for n in range(1, 8)] == [
        timedelta(seconds=5),
        timedelta(seconds=30),
        timedelta(minutes=2),
        timedelta(minutes=10),
        timedelta(hours=1),
        timedelta(hours=1),
        timedelta(hours=1),
    ]
    assert retry_delay(0) == RETRY_SCHEDULE[0]


def test_receiver_urls_are_http_with_a_host_and_no_credentials() -> None:
    assert check_url("https://hooks.example.com/registry?k=1") == (
        "https://hooks.example.com/registry?k=1"
    )
    for bad in (
        "ftp://hooks.example.com/",
        "https:///nohost",
        "https://user:pw@hooks.example.com/",
        "http://hooks.example.com:0/",
        "http://[::1/",
        "https://hooks.example.com/" + "a" * 2000,
        "https://hooks.example.com/\n",
    ):
        with pytest.raises(BadInput):
            check_url(bad)
    assert shown_url("https://h.example.com/p?key=secret#x") == "https://h.example.com/p"


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("192.168.1.20", "private"),
        ("172.16.0.3", "private"),
        ("169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("fd00::1", "private"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "non-public"),
        ("224.0.0.1", "multicast"),
    ],
)
def test_addresses_that_are_not_public_are_named(address: str, kind: str) -> None:
    problem = address_problem(address)
    assert problem is not None
    assert kind in problem


def test_public_addresses_pass() -> None:
    assert address_problem("93.184.216.34") is None
    assert address_problem("2606:4700::1111") is None


def test_a_delivery_is_signed_so_the_standard_verifier_accepts_it() -> None:
    from datetime import UTC, datetime

    secret = new_secret()
    assert secret.startswith("whsec_")
    body = '{"seq":7}'
    now = datetime.now(UTC)
    signature = Webhook(secret).sign(webhook_id(7), now, body)
    headers = {
        "webhook-id": "evt_7",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    assert Webhook(secret).verify(body, headers) == {"seq": 7}
    assert set(message(_event("card.set", "x@1"))) == {
        "type",
        "seq",
        "recorded_at",
        "principal",
        "subject",
        "data",
    }
