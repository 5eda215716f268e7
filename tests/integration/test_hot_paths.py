"""The requests answered before the framework (a plain resolve, show or registration)
answer exactly what the routes answer, errors included, and count against the caller's
rate once.

A query string sends a request on to the FastAPI route (which ignores an unknown
parameter), so each pair below is one answer from each path, on the real server."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import seed_example_estate
from sqlalchemy import create_engine, text
from support.server import Estate, served_estate

from registry_pipeline.inspection import inspect_source
from registry_pipeline.server._middleware import MAX_BODY, RateLimit
from registry_pipeline.server.deps import ServerState
from registry_pipeline.server.hot import REGISTER, RESOLVE, SHOW, HotPaths
from registry_pipeline.service import Registry
from registry_pipeline.store import Store

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    with served_estate(tmp_path_factory.mktemp("hot")) as running:
        yield running


def _seen(response: httpx.Response) -> dict[str, Any]:
    body = response.json() if response.content else None
    if isinstance(body, dict) and isinstance(body.get("as_of"), dict):
        body["as_of"].pop("time")  # the instant it was answered
    return {
        "status": response.status_code,
        "body": body,
        "type": response.headers.get("content-type"),
        "etag": response.headers.get("etag"),
        "www": response.headers.get("www-authenticate"),
        "id": bool(response.headers.get("x-request-id")),
    }


@pytest.mark.parametrize(
    ("path", "who", "status"),
    [
        ("/api/v1/workloads/customer-support/resolve", "alice", 200),
        ("/api/v1/versions/support-bot@1", "alice", 200),
        ("/api/v1/versions/support-bot@production", "bob", 200),
        ("/api/v1/versions/support-bot", "alice", 200),
        ("/api/v1/versions/support-bot@9", "alice", 404),
        ("/api/v1/versions/no-such-entry", "alice", 404),
        ("/api/v1/versions/support-bot@archived", "alice", 400),
        ("/api/v1/workloads/no-such-workload/resolve", "alice", 404),
        ("/api/v1/workloads/customer-support/resolve", None, 401),
        ("/api/v1/workloads/customer-support/resolve", "revoked", 401),
        ("/api/v1/versions/support-bot@1", "expired", 401),
        ("/api/v1/versions/Bad@@ref", "alice", 422),
        ("/api/v1/workloads/a%0A/resolve", "alice", 422),
    ],
)
def test_a_plain_read_answers_what_the_route_answers(
    estate: Estate, path: str, who: str | None, status: int
) -> None:
    with estate.client(who) as client:
        hot = client.get(path)
        routed = client.get(f"{path}?via=route")
    assert hot.status_code == status, hot.text
    assert _seen(hot) == _seen(routed)


def test_a_resolve_with_its_etag_is_304_on_either_path(estate: Estate) -> None:
    path = "/api/v1/workloads/customer-support/resolve"
    with estate.client("alice") as client:
        etag = client.get(path).headers["etag"]
        for asked in (path, f"{path}?via=route"):
            again = client.get(asked, headers={"If-None-Match": etag})
            assert again.status_code == 304
            assert again.headers["etag"] == etag
            assert not again.content


def test_each_read_counts_once_against_the_rate_cached_or_not(tmp_path: Path) -> None:
    """Five a minute: a read the memory misses (after a write) and one it answers each
    count one, so the sixth is refused and another principal is not."""
    with served_estate(tmp_path, env={"REGISTRY_RATE_LIMIT": "5"}) as estate:
        path = "/api/v1/workloads/customer-support/resolve"
        with estate.client("alice") as alice, estate.client("carol") as carol:
            for n in range(5):
                if n in (1, 3):  # move the head: the next read is computed
                    minted = carol.post("/api/v1/tokens", json={"principal": "x@example.com"})
                    assert minted.status_code == 201, minted.text
                assert alice.get(path).status_code == 200
            refused = alice.get(path)
            assert refused.status_code == 429
            assert refused.headers["retry-after"]
            assert refused.headers["content-type"] == "application/problem+json"
            assert carol.get(path).status_code == 200


def test_a_server_counts_the_reads_it_answers_early_under_their_routes(estate: Estate) -> None:
    with estate.client("alice") as client:
        client.get("/api/v1/workloads/customer-support/resolve")
        client.get("/api/v1/versions/support-bot@1")
        metrics = client.get("/metrics").text
    for route in (RESOLVE.path, SHOW.path):
        assert f'route="{route}",status="200"' in metrics


@pytest.mark.parametrize(
    ("method", "path", "query", "answered"),
    [
        ("GET", "/api/v1/workloads/w/resolve", b"", RESOLVE),
        ("GET", "/api/v1/versions/e@1", b"", SHOW),
        ("GET", "/api/v1/workloads/w/resolve", b"at=2026-01-01T00:00:00Z", None),
        ("POST", "/api/v1/versions/e@1", b"", None),
        ("GET", "/api/v1/versions/e@1/card", b"", None),
        ("GET", "/api/v1/workloads/W/resolve", b"", None),
        ("GET", "/api/v1/workloads//resolve", b"", None),
        ("GET", "/api/v2/versions/e", b"", None),
        ("POST", "/api/v1/versions", b"", None),
    ],
)
def test_only_plain_resolves_and_shows_are_answered_early(
    method: str, path: str, query: bytes, answered: object
) -> None:
    found = HotPaths._match({"method": method, "path": path, "query_string": query})
    assert (found[0] if found else None) == answered


_FOLDERS = itertools.count()


def _inspection(root: Path, text_: str) -> dict[str, Any]:
    """The client's inspection of a prompt folder holding ``text_``."""
    source = root / f"prompt-{next(_FOLDERS)}"
    source.mkdir()
    (source / "prompt.j2").write_text(text_)
    return inspect_source(source).to_dict()


def _registered(response: httpx.Response) -> dict[str, Any]:
    seen = _seen(response)
    if response.status_code == 201:
        seen["body"] = sorted(seen["body"])  # the two registrations differ in content
    return seen


def test_a_registration_is_recorded_as_the_route_records_it(estate: Estate, tmp_path: Path) -> None:
    """New content, then the same content again (the existing version), on each path;
    the recorded versions are numbered one after another and carry the same event."""
    with estate.client("support-ml") as owner:
        hot, routed = (
            owner.post(path, json={"entry": "support-prompt", "inspection": _inspection(
                tmp_path, f"You help customers ({path}).\n")})
            for path in ("/api/v1/versions", "/api/v1/versions?via=route")
        )  # fmt: skip
        assert hot.status_code == 201, hot.text
        assert _registered(hot) == _registered(routed)
        assert hot.json()["created"]
        assert routed.json()["created"]
        assert routed.json()["version"] == hot.json()["version"] + 1
        same = _inspection(tmp_path, "You help customers (/api/v1/versions).\n")
        again = owner.post("/api/v1/versions", json={"entry": "support-prompt", "inspection": same})
        assert again.status_code == 201, again.text
        assert again.json() == {**hot.json(), "created": False}
    engine = create_engine(estate.database)
    with engine.connect() as conn:
        actions = conn.execute(
            text("SELECT actor, action FROM ledger WHERE subject IN (:a, :b) ORDER BY seq"),
            {"a": f"support-prompt@{hot.json()['version']}",
             "b": f"support-prompt@{routed.json()['version']}"},
        ).all()  # fmt: skip
    engine.dispose()
    assert [tuple(a) for a in actions] == [("support-ml@example.com", "version.register")] * 2


@pytest.mark.parametrize(
    ("who", "body", "status"),
    [
        (None, {"entry": "support-prompt", "inspection": {}}, 401),
        ("revoked", {"entry": "support-prompt", "inspection": {}}, 401),
        ("support-ml", {"entry": "no-such-entry", "inspection": "INSPECTION"}, 404),
        ("dave", {"entry": "support-prompt", "inspection": "INSPECTION"}, 403),
        ("support-ml", {"entry": "support-prompt", "inspection": {"manifest": 1}}, 400),
        ("support-ml", {"entry": "support-bot", "inspection": "INSPECTION"}, 400),
        ("support-ml", {"entry": "support-prompt", "inspection": {}, "extra": 1}, 422),
        ("support-ml", {"entry": "Bad Name", "inspection": {}}, 422),
        ("support-ml", {"inspection": {}}, 422),
        ("support-ml", [], 422),
    ],
)
def test_a_refused_registration_answers_what_the_route_answers(
    estate: Estate, tmp_path: Path, who: str | None, body: Any, status: int
) -> None:
    if isinstance(body, dict) and body.get("inspection") == "INSPECTION":
        body = {**body, "inspection": _inspection(tmp_path, "Refused.\n")}
    with estate.client(who) as client:
        hot = client.post("/api/v1/versions", json=body)
        routed = client.post("/api/v1/versions?via=route", json=body)
    assert hot.status_code == status, hot.text
    assert _seen(hot) == _seen(routed)


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b'{"entry": "support-prompt", "inspection": {', {"Content-Type": "application/json"}),
        (b"", {"Content-Type": "application/json"}),
        (b'{"entry": "support-prompt", "inspection": {}}', {"Content-Type": "text/plain"}),
        (b'{"entry": "support-prompt", "inspection": {}}', {}),
    ],
)
def test_a_body_that_is_not_plain_json_is_answered_by_the_route(
    estate: Estate, content: bytes, headers: dict[str, str]
) -> None:
    with estate.client("support-ml") as client:
        hot = client.post("/api/v1/versions", content=content, headers=headers)
        routed = client.post("/api/v1/versions?via=route", content=content, headers=headers)
    assert hot.status_code >= 400, hot.text
    assert _seen(hot) == _seen(routed)


def test_a_registration_over_the_body_limit_is_refused_before_it_is_read(
    estate: Estate,
) -> None:
    body = b'{"entry": "support-prompt", "inspection": {"x": "' + b"a" * MAX_BODY + b'"}}'
    with estate.client("support-ml") as client:
        refused = client.post(
            "/api/v1/versions", content=body, headers={"Content-Type": "application/json"}
        )
    assert refused.status_code == 413
    assert refused.headers["content-type"] == "application/problem+json"


def test_a_registration_counts_once_against_the_rate(tmp_path: Path) -> None:
    with (
        served_estate(tmp_path, env={"REGISTRY_RATE_LIMIT": "3"}) as estate,
        estate.client("support-ml") as owner,
    ):
        for n in range(3):
            body = {"entry": "support-prompt", "inspection": _inspection(tmp_path, f"Rate {n}.\n")}
            assert owner.post("/api/v1/versions", json=body).status_code == 201
        refused = owner.post("/api/v1/versions", json=body)
        assert refused.status_code == 429
        assert refused.headers["retry-after"]
        metrics = owner.get("/metrics")
    assert f'route="{REGISTER.path}",status="201"' in metrics.text


def test_the_layer_answers_a_valid_registration_and_replays_any_other_body(
    tmp_path: Path,
) -> None:
    """In process, over a real store: a registration whose body validates never reaches
    the framework behind the layer; any other body reaches it byte for byte."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    seed_example_estate(url, tmp_path)
    token = Registry.open(url, actor="operator").tokens.create(principal="support-ml@example.com")
    reached: list[bytes] = []

    async def framework(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        reached.append(body)
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    shared = ServerState(
        open_store=lambda: Store.open(url), limiter=RateLimit(100), verifier=None,
        deployments=None,
    )  # fmt: skip
    layer = HotPaths(framework, shared=shared)

    async def post(content: bytes) -> httpx.Response:
        transport = httpx.ASGITransport(app=layer)
        async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
            return await client.post(
                "/api/v1/versions",
                content=content,
                headers={"Authorization": f"Bearer {token.token}",
                         "Content-Type": "application/json"},
            )  # fmt: skip

    valid = json.dumps(
        {"entry": "support-prompt", "inspection": _inspection(tmp_path, "In process.\n")}
    ).encode()
    invalid = b'{"entry": "support-prompt", "inspection": {}, "extra": true}'
    answered = asyncio.run(post(valid))
    assert answered.status_code == 201, answered.text
    assert answered.json()["entry"] == "support-prompt"
    assert answered.json()["created"]
    assert reached == []
    assert asyncio.run(post(invalid)).status_code == 299
    assert reached == [invalid]
    shared.store().dispose()
