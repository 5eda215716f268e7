"""Moving a registry from SQLite to PostgreSQL with the real CLI: the ledger chain is
intact on the copy, the head hash identical, and the copy keeps working."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES, promote_through

from registry_pipeline.service import Registry

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def test_copy_sqlite_to_postgres_keeps_the_chain_and_the_head(
    example_estate: Registry, db_url: str, pg_cluster: Any, run_cli: Any, tmp_path: Path
) -> None:
    promote_through(db_url, "support-bot@1", "staging", "production")
    source_head = example_estate.ledger_head().to_dict()
    target = pg_cluster.create_database("copy_target")

    copied = run_cli("db", "copy", "--from", db_url, "--to", target, json=True)
    assert copied.code == 0, copied.stderr
    assert copied.json()["head"] == source_head["hash"]
    assert copied.json()["rows"]["versions"] == len(
        [
            v
            for e in [_r.to_dict() for _r in example_estate.list_entries()]
            for v in range(e["versions"])
        ]
    )

    on_postgres = Registry.open(target, actor="alice@example.com")
    assert on_postgres.verify().to_dict() == {**example_estate.verify().to_dict()}
    assert (
        on_postgres.resolve("customer-support").to_dict()["stack"]
        == example_estate.resolve("customer-support").to_dict()["stack"]
    )
    request = (
        on_postgres.request_promotion("credit-risk-clf@1", to="archived", reason="x")
        if (on_postgres.latest_versions(["credit-risk-clf"])["credit-risk-clf"])
        else on_postgres.request_promotion("support-prompt@1", to="staging", reason="after copy")
    )
    assert request.id > 0
    assert on_postgres.verify().to_dict()["ok"]

    again = run_cli("db", "copy", "--from", db_url, "--to", target)
    assert again.code == 4
    assert "already holds a registry" in again.stderr
    assert str(EXAMPLES)
