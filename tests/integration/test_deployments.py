"""Deployment manifests follow production: written on promotion, rewritten on rollback."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from conftest import SUPPORT_BOT_PINS, make_ready, promote_through, register_support_components

from registry_pipeline.service import Registry

pytestmark = pytest.mark.integration


@pytest.fixture
def db_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


def _manifest(root: Path) -> dict[str, Any]:
    return json.loads((root / "customer-support" / "prod-eu.json").read_text())


def test_production_changes_rewrite_the_deployment_manifest(
    example_estate: Registry, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "deployments"
    monkeypatch.setenv("REGISTRY_DEPLOYMENTS", str(root))
    promote_through(db_url, "support-bot@1", "staging")
    assert not (root / "customer-support" / "prod-eu.json").exists()

    promote_through(db_url, "support-bot@1", "production")
    first = _manifest(root)
    assert first["stack"]["version"] == 1
    assert first["approved_by"] == ["bob@example.com"]
    digests = {c["entry"]: c["digest"] for c in first["components"]}
    assert set(digests) == {p.split("@")[0] for p in SUPPORT_BOT_PINS}
    assert digests["support-lora"] == example_estate.show("support-lora@1").to_dict()["digest"]

    register_support_components(db_url, tmp_path, round_=2)
    example_estate.register_stack("support-bot", [p.replace("@1", "@2") for p in SUPPORT_BOT_PINS])
    make_ready(example_estate, "support-bot@2")
    promote_through(db_url, "support-bot@2", "staging", "production")
    assert _manifest(root)["stack"]["version"] == 2

    Registry.open(db_url, actor="bob@example.com").rollback(
        "support-bot", stage="production", reason="latency regression"
    )
    restored = _manifest(root)
    for key in ("stack", "components", "approved_by", "request", "workload", "target"):
        assert restored[key] == first[key]
    assert restored["since"] > first["since"]
    assert list((root / "customer-support").iterdir()) == [
        root / "customer-support" / "prod-eu.json"
    ]


def test_deployment_locks_are_readable_by_the_deployment_system(
    example_estate: Registry, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "deployments"
    monkeypatch.setenv("REGISTRY_DEPLOYMENTS", str(root))
    promote_through(db_url, "support-bot@1", "staging", "production")
    lock = root / "customer-support" / "prod-eu.json"
    assert stat.S_IMODE(lock.stat().st_mode) == 0o644
