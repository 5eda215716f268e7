"""Every answer the real server gives on a real estate matches the model the OpenAPI
document states for it (fields, types, nothing more): the documents Schemathesis checks
random requests against are the ones clients get."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import EXAMPLES
from pydantic import BaseModel
from support.receivers import receiving, wait_for
from support.server import Estate, served_estate

from registry_pipeline.catalog import load_catalog
from registry_pipeline.inspection import inspect_source
from registry_pipeline.server import responses as r

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    with served_estate(
        tmp_path_factory.mktemp("answers"), env={"REGISTRY_ALLOW_PRIVATE_WEBHOOKS": "1"}
    ) as running:
        yield running


def answer(response: httpx.Response, model: type[BaseModel], status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    model.model_validate(body, strict=False)
    return body


def test_every_answer_matches_its_documented_model(estate: Estate, tmp_path: Path) -> None:
    alice, bob, carol = (estate.client(w) for w in ("alice", "bob", "carol"))
    owner = estate.client("support-ml")
    answer(httpx.get(f"{estate.url}/healthz"), r.Health)
    answer(alice.get("/api/v1/whoami"), r.WhoAmIDoc)
    answer(alice.get("/api/v1/entries"), r.EntryList)
    answer(alice.get("/api/v1/versions/support-bot@production"), r.VersionDoc)
    answer(alice.get("/api/v1/versions/support-lora@1/lineage"), r.LineageDoc)
    answer(alice.get("/api/v1/versions/support-bot@1/card"), r.CardDoc)
    answer(alice.get("/api/v1/workloads/customer-support/resolve"), r.ResolutionDoc)
    answer(alice.get("/api/v1/entries/support-bot/history"), r.HistoryDoc)
    answer(alice.get("/api/v1/reviews/due"), r.ReviewDue)
    head = answer(alice.get("/api/v1/ledger/head"), r.AnchorDoc)
    answer(alice.get("/api/v1/ledger/verify", params={"anchor": head["anchor"]}), r.Verdict)
    answer(alice.get("/api/v1/catalog"), r.CatalogDoc)
    answer(alice.get("/api/v1/entries/support-bot/latest-pins"), r.LatestPinsDoc)
    answer(alice.get("/api/v1/stacks/support-bot/due"), r.StackDueDoc)
    answer(alice.get("/api/v1/entries/support-bot/readiness"), r.ReadinessDoc)
    answer(alice.get("/api/v1/tokens"), r.TokenList)
    made = answer(alice.post("/api/v1/tokens", json={"name": "ci"}), r.TokenCreatedDoc, 201)
    answer(alice.delete(f"/api/v1/tokens/{made['id']}"), r.TokenInfoDoc)

    source = tmp_path / "prompt"
    source.mkdir()
    (source / "prompt.j2").write_text("You help customers.\n")
    body = {"entry": "support-prompt", "inspection": inspect_source(source).to_dict()}
    answer(owner.post("/api/v1/versions", json=body), r.RegisteredDoc, 201)
    pins = [f"{name}@2" for name in load_catalog(EXAMPLES)[0].entry("support-bot").components]
    answer(
        owner.post("/api/v1/stacks", json={"stack": "support-bot", "pins": pins}),
        r.RegisteredDoc,
        201,
    )
    results = {"metrics": {"accuracy": 0.91, "hallucination_rate": 0.02}}
    answer(
        owner.post(
            "/api/v1/versions/support-bot@2/evals",
            json={"suite": "support-evals@1", "results": results},
        ),
        r.EvalRecordedDoc,
        201,
    )
    card = "intended_use: answers\nlimitations: [English]\ntraining_data: tickets\n"
    answer(owner.put("/api/v1/versions/support-bot@2/card", json={"text": card}), r.CardSetDoc)

    opened = answer(
        alice.post(
            "/api/v1/requests", json={"ref": "support-bot@2", "to": "staging", "reason": "go"}
        ),
        r.RequestDoc,
        201,
    )
    request = opened["request"]
    answer(alice.get("/api/v1/requests"), r.RequestList)
    answer(alice.get(f"/api/v1/requests/{request}"), r.RequestStatusDoc)
    answer(alice.get(f"/api/v1/requests/{request}/gates"), r.GateReportDoc)
    reviewed = {"reason": "reviewed"}
    answer(bob.post(f"/api/v1/requests/{request}/to-sign", json=reviewed), r.ToSignDoc)
    answer(bob.post(f"/api/v1/requests/{request}/approve", json=reviewed), r.DecidedDoc)
    answer(alice.post(f"/api/v1/requests/{request}/apply"), r.StageChangeDoc)
    ship = {"ref": "support-bot@2", "to": "production", "reason": "ship"}
    request = alice.post("/api/v1/requests", json=ship).json()["request"]
    answer(bob.post(f"/api/v1/requests/{request}/approve", json=reviewed), r.DecidedDoc)
    answer(alice.post(f"/api/v1/requests/{request}/apply"), r.StageChangeDoc)
    answer(
        carol.post(
            "/api/v1/entries/support-bot/rollback", json={"stage": "production", "reason": "undo"}
        ),
        r.StageChangeDoc,
    )
    for decide, model in (("withdraw", r.WithdrawnDoc), ("reject", r.DecidedDoc)):
        again = alice.post(
            "/api/v1/requests", json={"ref": "support-prompt@3", "to": "staging", "reason": "again"}
        ).json()["request"]
        who = alice if decide == "withdraw" else bob
        answer(who.post(f"/api/v1/requests/{again}/{decide}", json={"reason": "no"}), model)
    answer(alice.post("/api/v1/deployments", json={}), r.Written)
    document = alice.get("/api/v1/catalog").json()["document"]
    answer(carol.put("/api/v1/catalog", json={"document": document}), r.CatalogRecorded)

    feed = answer(alice.get("/api/v1/events", params={"after": 0, "limit": 5}), r.FeedDoc)
    assert [e["seq"] for e in feed["events"]] == [1, 2, 3, 4, 5]
    waited = alice.get("/api/v1/events", params={"after": feed["head"], "wait": 0.3})
    assert answer(waited, r.FeedDoc)["events"] == []
    with receiving() as receiver:
        hook = {"url": receiver.url, "events": ["webhook.add"], "workload": None}
        made = answer(carol.post("/api/v1/webhooks", json=hook), r.WebhookCreatedDoc, 201)
        answer(carol.get("/api/v1/webhooks"), r.WebhookList)
        answer(carol.get(f"/api/v1/webhooks/{made['id']}/deliveries"), r.DeliveryList)
        listed = f"/api/v1/webhooks/{made['id']}/deliveries"
        # the receiver sees the request before the dispatcher records its answer
        wait_for(
            lambda: bool(receiver.received and carol.get(listed).json()["deliveries"]),
            timeout=30,
            what="its own webhook.add, delivered and recorded",
        )
        [sent] = carol.get(listed).json()["deliveries"]
        again = carol.post(f"/api/v1/webhook-deliveries/{sent['id']}/redeliver")
        answer(again, r.DeliveryDoc)
        answer(carol.post(f"/api/v1/webhooks/{made['id']}/enable"), r.WebhookDoc)
        answer(carol.delete(f"/api/v1/webhooks/{made['id']}"), r.WebhookDoc)


def test_lists_page_with_an_opaque_token_and_the_client_follows_every_page(
    estate: Estate,
) -> None:
    from registry_pipeline.client import RemoteRegistry

    alice = estate.client("alice")
    everything = alice.get("/api/v1/entries").json()
    assert everything["next_page_token"] is None
    seen, token = [], None
    while True:
        params = {"page_size": 3, **({"page_token": token} if token else {})}
        body = answer(alice.get("/api/v1/entries", params=params), r.EntryList)
        assert len(body["entries"]) <= 3
        seen += body["entries"]
        token = body["next_page_token"]
        if token is None:
            break
    assert seen == everything["entries"]
    assert len(seen) > 3
    forged = alice.get("/api/v1/entries", params={"page_token": "bm90LW91cnM"})
    assert forged.status_code == 400
    assert "page_token" in forged.json()["detail"]
    assert alice.get("/api/v1/entries", params={"page_size": 0}).status_code == 422
    assert alice.get("/api/v1/entries", params={"page_size": 1001}).status_code == 422
    listed = RemoteRegistry(estate.url, token=estate.tokens["alice"]).list_entries()
    assert [e.to_dict() for e in listed] == everything["entries"]


def test_registry_open_with_a_server_url_is_the_same_api_over_http(estate: Estate) -> None:
    from registry_pipeline import Registry
    from registry_pipeline.client import RemoteRegistry
    from registry_pipeline.errors import BadInput, NotFound

    remote = Registry.open(estate.url, token=estate.tokens["alice"])
    assert isinstance(remote, RemoteRegistry)
    assert remote.whoami().principal == "alice@example.com"
    local = Registry.open(estate.database)
    assert (
        remote.resolve("customer-support").stack.to_dict()
        == (local.resolve("customer-support").to_dict()["stack"])
    )
    with pytest.raises(NotFound):
        remote.show("no-such-entry@1")
    with pytest.raises(BadInput, match="token"):
        Registry.open(estate.url, actor="mallory@example.com", token=estate.tokens["alice"])
