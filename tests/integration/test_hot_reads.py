"""The reads answered before the framework (a plain resolve or show) answer exactly what
the routes answer, errors included, and count against the caller's rate once.

A query string sends a request on to the FastAPI route (which ignores an unknown
parameter), so each pair below is one answer from each path, on the real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.server import Estate, served_estate

from registry_pipeline.server.hot import RESOLVE, SHOW, HotReads

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
    ],
)
def test_only_plain_resolves_and_shows_are_answered_early(
    method: str, path: str, query: bytes, answered: object
) -> None:
    found = HotReads._match({"method": method, "path": path, "query_string": query})
    assert (found[0] if found else None) == answered
