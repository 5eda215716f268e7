"""Two server processes on one PostgreSQL database, eight clients at once: versions stay
gap-free, one version holds production, and the ledger verifies."""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import EXAMPLES, raw_rows
from support.server import running_server

from registry_pipeline.client import RemoteRegistry
from registry_pipeline.errors import Conflict, Refused
from registry_pipeline.service import Registry

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

CLIENTS = 8
VERSIONS_EACH = 3


def test_two_servers_share_one_postgres_under_eight_concurrent_clients(
    pg_cluster: object, tmp_path: Path
) -> None:
    database = str(pg_cluster.create_database("shared_servers"))  # type: ignore[attr-defined]
    Registry.init(database, catalog=EXAMPLES, actor="carol@example.com")
    operator = Registry.open(database, actor="operator")
    tokens = {
        who: operator.tokens.create(principal=f"{who}@example.com", name="load").token
        for who in ("support-ml", "alice", "bob")
    }
    operator.store.dispose()

    # A load test, not a rate-limit test: eight clients share three principals, and the
    # retries of a knocked-out promotion may pass the default 600 requests a minute.
    unthrottled = {"REGISTRY_RATE_LIMIT": "1000000"}
    with (
        running_server(database, cwd=tmp_path, env=unthrottled) as first,
        running_server(database, cwd=tmp_path, env=unthrottled) as second,
    ):
        servers = (first, second)

        def client(k: int, who: str) -> RemoteRegistry:
            return RemoteRegistry(servers[k % 2], token=tokens[who])

        def register(k: int) -> list[int]:
            owner = client(k, "support-ml")
            numbers = []
            for n in range(VERSIONS_EACH):
                source = tmp_path / "src" / f"prompt-{k}-{n}"
                source.mkdir(parents=True)
                (source / "prompt.j2").write_text(f"client {k} version {n}\n")
                numbers.append(owner.register("support-prompt", source).version)
            return numbers

        with ThreadPoolExecutor(CLIENTS) as pool:
            registered = [n for numbers in pool.map(register, range(CLIENTS)) for n in numbers]
        assert sorted(registered) == list(range(1, CLIENTS * VERSIONS_EACH + 1))

        card = {"intended_use": "support", "limitations": ["English"], "training_data": "n/a"}

        def promote(k: int) -> int:
            """Take this client's version to production. Another client's staging move
            may knock it out of staging before its production request is applied; then it
            withdraws what is pending and starts again. Answers how many times it did."""
            alice, bob = client(k, "alice"), client(k + 1, "bob")
            ref = f"support-prompt@{registered[k * VERSIONS_EACH]}"
            client(k, "support-ml").set_card(ref, card)
            for attempt in range(200):
                request = None
                try:
                    for stage in ("staging", "production"):
                        request = alice.request_promotion(ref, to=stage, reason=f"client {k}")
                        bob.approve(request.id, reason="reviewed")
                        alice.apply(request.id)
                    return attempt
                except (Refused, Conflict):
                    if request is not None and alice.request_status(request.id) == "pending":
                        alice.withdraw(request.id, reason="knocked out of staging")
                    time.sleep(random.uniform(0, 0.05 * (k + 1)))
            raise AssertionError(f"client {k} never reached production")

        with ThreadPoolExecutor(CLIENTS) as pool:
            retries = list(pool.map(promote, range(CLIENTS)))
        print(f"production reached by every client; restarts: {retries}")

        holders = raw_rows(
            database,
            "SELECT number FROM stage_assignments WHERE entry = 'support-prompt' "
            "AND stage = 'production' AND effective_to IS NULL",
        )
        assert len(holders) == 1
        history = client(0, "alice").history("support-prompt", stage="production")
        assert len(history) == CLIENTS
        assert history[-1].version == holders[0][0]
        seqs = [row[0] for row in raw_rows(database, "SELECT seq FROM ledger ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1))
        for url in servers:
            verdict = RemoteRegistry(url, token=tokens["alice"]).verify()
            assert verdict.ok is True
            assert verdict.events == len(seqs)
