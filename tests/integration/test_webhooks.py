"""Webhooks against a real server and real receivers (HTTP servers these tests start):
at least once, in ledger order, signed per Standard Webhooks, every attempt logged, the
receiver's address checked, filters on a workload, admins only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import raw_rows
from support.receivers import Received, receiving, wait_for
from support.server import Estate, served_estate

from registry_pipeline.client import RemoteRegistry
from registry_pipeline.errors import BadInput, GateRefused, NotFound, Refused
from registry_pipeline.service import Registry

pytestmark = pytest.mark.integration

FAST = {
    "REGISTRY_ALLOW_PRIVATE_WEBHOOKS": "1",
    "REGISTRY_WEBHOOK_RETRY": "100ms,200ms,300ms",
    "REGISTRY_RATE_LIMIT": "100000",
}
EXPECTED_FIELDS = {"type", "seq", "recorded_at", "principal", "subject", "data"}


def _head(estate: Estate) -> int:
    return int(raw_rows(estate.database, "SELECT seq FROM ledger_head")[0][0])


def _delivered(estate: Estate, webhook: int) -> int:
    rows = raw_rows(estate.database, f"SELECT delivered_seq FROM webhooks WHERE id = {webhook}")
    return int(rows[0][0])


def _caught_up(estate: Estate, webhook: int) -> bool:
    return _delivered(estate, webhook) >= _head(estate)


def _register(registry: Any, root: Path, entry: str, n: int) -> Any:
    source = root / "story" / f"{entry}-{n}"
    source.mkdir(parents=True)
    (source / "prompt.j2").write_text(f"{entry} version {n}\n")
    return registry.register(entry, source)


def _story(estate: Estate, root: Path, *, until: int) -> None:
    """Registrations, a refused promotion, approvals, applies and a rollback, through the
    server, then registrations until the head reaches ``until``."""
    alice, bob, carol, owner = (
        RemoteRegistry(estate.url, token=estate.tokens[who])
        for who in ("alice", "bob", "carol", "support-ml")
    )
    for n in range(3):
        _register(owner, root, "support-prompt", n)
    refused = alice.request_promotion("support-bot@2", to="staging", reason="try it")
    with pytest.raises(GateRefused):
        alice.apply(refused.id)  # not approved yet: refused, and recorded
    bob.approve(refused.id, reason="reviewed")
    alice.apply(refused.id)
    ship = alice.request_promotion("support-bot@2", to="production", reason="ship")
    bob.approve(ship.id, reason="reviewed")
    alice.apply(ship.id)
    carol.rollback("support-bot", stage="production", reason="a regression in EU tickets")
    n = 3
    while _head(estate) < until:
        _register(owner, root, "support-prompt", n)
        n += 1


def test_fifty_events_reach_a_flaky_receiver_in_order_signed_with_every_retry_logged(
    tmp_path: Path,
) -> None:
    slow: list[int] = []

    def flaky(got: Received) -> int | tuple[float, int]:
        if got.seq % 3 == 0 and got.attempt <= 2:
            return 503
        if got.seq % 3 == 1 and got.attempt == 1 and not slow and got.seq > 20:
            slow.append(got.seq)
            return (11.0, 200)  # past the 10 s the registry waits
        return 200

    with receiving(flaky) as receiver, served_estate(tmp_path, env=FAST) as estate:
        carol = RemoteRegistry(estate.url, token=estate.tokens["carol"])
        created = carol.webhooks.add(receiver.url, events=["*"])
        first = created.delivered_seq + 1  # its own webhook.add event comes first
        _story(estate, tmp_path, until=first + 49)
        last = _head(estate)
        assert last - first + 1 >= 50
        wait_for(lambda: _caught_up(estate, created.id), timeout=180, what="every delivery")

        bodies = receiver.verified(created.secret)  # raises on any bad signature
        assert all(set(b) == EXPECTED_FIELDS for b in bodies)
        assert receiver.first_arrivals() == list(range(first, last + 1))
        assert set(receiver.seqs()) == set(range(first, last + 1))
        by_seq = {b["seq"]: b for b in bodies}
        types = {by_seq[s]["type"] for s in by_seq}
        assert {"promotion.refused", "promotion.approve", "promotion.apply"} <= types
        assert {"stage.rollback", "version.register", "webhook.add"} <= types
        for seq, body in by_seq.items():
            headers = next(r.headers for r in receiver.received if r.seq == seq)
            assert headers["webhook-id"] == f"evt_{seq}"
            assert headers["webhook-signature"].startswith("v1,")
            assert body["principal"]
            assert body["recorded_at"]

        log = carol.webhooks.deliveries(created.id, limit=1000)
        attempts: dict[int, list[Any]] = {}
        for d in sorted(log, key=lambda d: d.id):
            attempts.setdefault(d.seq, []).append(d)
        for seq in range(first, last + 1):
            tried = attempts[seq]
            assert tried[-1].ok, (seq, [t.to_dict() for t in tried])
            if seq % 3 == 0:
                assert [(t.attempt, t.ok, t.status_code) for t in tried] == [
                    (1, False, 503),
                    (2, False, 503),
                    (3, True, 200),
                ]
                assert tried[0].error == "HTTP 503"
        [timed_out] = slow
        first_try, retry = attempts[timed_out]
        assert not first_try.ok
        assert first_try.status_code is None
        assert first_try.error == "no answer within 10 s"
        assert 9_900 <= first_try.latency_ms <= 11_000
        assert retry.ok
        assert retry.attempt == 2
        # Every attempt reached the receiver and is logged, the timed-out one too (its POST
        # arrived; the answer came too late): receivers dedupe on webhook-id.
        assert len(receiver.seqs()) == len(log)


def test_a_workload_filter_sees_its_production_moves_and_nothing_of_another_workload(
    tmp_path: Path,
) -> None:
    with (
        receiving() as support_hook,
        receiving() as credit_hook,
        served_estate(tmp_path, env=FAST) as estate,
    ):
        carol = RemoteRegistry(estate.url, token=estate.tokens["carol"])
        moves = ["promotion.*", "stage.*"]
        support = carol.webhooks.add(support_hook.url, events=moves, workload="customer-support")
        credit = carol.webhooks.add(credit_hook.url, events=moves, workload="credit-scoring")
        alice, bob = (RemoteRegistry(estate.url, token=estate.tokens[w]) for w in ("alice", "bob"))
        for stage in ("staging", "production"):
            request = alice.request_promotion("support-bot@2", to=stage, reason=stage)
            bob.approve(request.id, reason="ok")
            alice.apply(request.id)
        risk = Registry.open(estate.database, actor="risk-ml@example.com")
        source = tmp_path / "clf"
        source.mkdir()
        (source / "model.bin").write_bytes(b"weights")
        dataset = tmp_path / "loans"
        dataset.mkdir()
        (dataset / "loans.csv").write_text("id,defaulted\n1,0\n")
        risk.register("loan-applications-2026h1", dataset)
        risk.register("credit-risk-clf", source, upstream=["loan-applications-2026h1@1"])
        staging = alice.request_promotion("credit-risk-clf@1", to="staging", reason="try")
        bob.approve(staging.id, reason="ok")
        alice.apply(staging.id)
        production = alice.request_promotion("credit-risk-clf@1", to="production", reason="go")
        with pytest.raises(GateRefused):
            alice.apply(production.id)  # high risk: two signed approvals needed
        wait_for(
            lambda: _caught_up(estate, support.id) and _caught_up(estate, credit.id),
            timeout=60,
            what="both webhooks",
        )

    support_seen = [json.loads(r.body) for r in support_hook.received]
    credit_seen = [json.loads(r.body) for r in credit_hook.received]
    support_subjects = {(b["type"], b["data"].get("entry")) for b in support_seen}
    assert ("promotion.apply", "support-bot") in support_subjects
    assert [b["data"]["target"] for b in support_seen if b["type"] == "promotion.apply"] == [
        "staging",
        "production",
    ]
    assert all("credit" not in json.dumps(b) for b in support_seen)
    credit_types = [b["type"] for b in credit_seen]
    assert "promotion.apply" in credit_types
    assert "promotion.refused" in credit_types
    assert all("support" not in json.dumps(b["data"]) for b in credit_seen)


def test_receivers_on_loopback_or_private_addresses_are_refused_without_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with receiving() as receiver, served_estate(tmp_path) as estate:
        carol = RemoteRegistry(estate.url, token=estate.tokens["carol"])
        for url in (receiver.url, "http://10.0.0.1/hooks", "http://localhost:9/x"):
            with pytest.raises(BadInput, match=r"resolves to"):
                carol.webhooks.add(url, events=["*"])
        code, _, err = estate.cli(
            "webhooks",
            "add",
            "http://10.0.0.1/hooks",
            "--events",
            "*",
            token=estate.tokens["carol"],
        )
        assert code == 2
        assert "10.0.0.1, a private address" in err
        assert "--allow-private-webhooks" in err
        assert carol.webhooks.list() == []

        # One added where it was allowed is still refused by this server when it delivers:
        # the address is checked at every connection, and nothing is sent.
        monkeypatch.setenv("REGISTRY_ALLOW_PRIVATE_WEBHOOKS", "1")
        operator = Registry.open(estate.database, actor="operator")
        added = operator.webhooks.add(receiver.url, events=["*"])
        wait_for(
            lambda: bool(carol.webhooks.deliveries(added.info.id)), timeout=30, what="an attempt"
        )
        [attempt] = carol.webhooks.deliveries(added.info.id)[-1:]
        assert not attempt.ok
        assert attempt.status_code is None
        assert "127.0.0.1, a loopback address" in attempt.error
        assert receiver.received == []


def test_webhooks_are_for_admins_their_secret_is_shown_once_and_each_change_is_an_event(
    tmp_path: Path,
) -> None:
    env = {**FAST, "REGISTRY_WEBHOOK_GIVE_UP": "1s"}
    state = {"up": False}

    def down_until_fixed(_: Received) -> int:
        return 200 if state["up"] else 500

    with receiving(down_until_fixed) as receiver, served_estate(tmp_path, env=env) as estate:
        carol = RemoteRegistry(estate.url, token=estate.tokens["carol"])
        bob = RemoteRegistry(estate.url, token=estate.tokens["bob"])
        with pytest.raises(Refused, match=r"policy\.admins"):
            bob.webhooks.add(receiver.url, events=["*"])
        for call in (bob.webhooks.list, lambda: bob.webhooks.deliveries(1)):
            with pytest.raises(Refused):
                call()
        code, out, err = estate.cli(
            "--json",
            "webhooks",
            "add",
            receiver.url,
            "--events",
            "version.register,webhook.*",
            "--entry",
            "support-prompt",
            token=estate.tokens["carol"],
        )
        assert code == 0, err
        made = json.loads(out)
        assert made["secret"].startswith("whsec_")
        assert "shown only now" in err
        listed = carol.webhooks.list()
        assert [w.id for w in listed] == [made["id"]]
        assert "secret" not in listed[0].to_dict()
        assert made["secret"] not in httpx.get(f"{estate.url}/metrics").text

        # Failing for longer than REGISTRY_WEBHOOK_GIVE_UP: disabled, and the ledger says so.
        _register(
            RemoteRegistry(estate.url, token=estate.tokens["support-ml"]),
            tmp_path,
            "support-prompt",
            7,
        )
        wait_for(
            lambda: carol.webhooks.list()[0].status == "disabled", timeout=60, what="disabling"
        )
        events = carol.events(after=0, limit=1000).events
        disabled = [e for e in events if e["type"] == "webhook.disable"]
        assert disabled
        assert disabled[-1]["principal"] == "registry-server"
        assert disabled[-1]["auth_method"] == "server"
        failed = carol.webhooks.deliveries(made["id"])
        assert failed
        assert not any(d.ok for d in failed)

        # Enabled again, it resumes at the event it stopped on: nothing skipped.
        state["up"] = True
        code, out, err = estate.cli(
            "webhooks", "enable", str(made["id"]), token=estate.tokens["carol"]
        )
        assert code == 0, err
        wait_for(lambda: _caught_up(estate, made["id"]), timeout=60, what="the resumed webhook")
        seqs = {json.loads(r.body)["seq"] for r in receiver.received}
        register = next(
            e
            for e in events
            if e["type"] == "version.register" and e["seq"] > made["delivered_seq"]
        )
        assert register["seq"] in seqs

        # Redeliver: the same webhook-id and body, a new signature time, logged.
        code, out, err = estate.cli(
            "webhooks", "deliveries", str(made["id"]), token=estate.tokens["carol"]
        )
        assert code == 0
        assert "HTTP 500" in out
        assert "ok" in out
        some = carol.webhooks.deliveries(made["id"])[0]
        before = len(receiver.received)
        again = carol.webhooks.redeliver(some.id)
        assert again.ok
        assert again.redelivery
        assert again.webhook_id == some.webhook_id
        assert len(receiver.received) == before + 1
        assert receiver.received[-1].headers["webhook-id"] == some.webhook_id
        receiver.verified(made["secret"])

        code, _, err = estate.cli("webhooks", "redeliver", "999999", token=estate.tokens["carol"])
        assert code == 3
        assert err.startswith("error: no webhook delivery 999999")
        code, out, _ = estate.cli(
            "webhooks", "remove", str(made["id"]), token=estate.tokens["carol"]
        )
        assert code == 0
        assert carol.webhooks.list() == []
        with pytest.raises(NotFound):
            carol.webhooks.enable(made["id"])
        types = [e["type"] for e in carol.events(after=0, limit=1000).events]
        for kind in ("webhook.add", "webhook.disable", "webhook.enable", "webhook.remove"):
            assert kind in types
        assert made["secret"] not in json.dumps(carol.events(after=0, limit=1000).to_dict())
