"""Online A/B evidence: recorded on both versions, and a stage can require a win."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import (
    EXAMPLES,
    SUPPORT_BOT_PINS,
    make_ready,
    promote_through,
    register_support_components,
)

from registry_pipeline.errors import Conflict, GateRefused
from registry_pipeline.service import Registry

pytestmark = pytest.mark.integration


def _result(**changes: Any) -> dict[str, Any]:
    return {
        "experiment": "support-bot-2026-11",
        "entry": "support-bot",
        "control_version": 1,
        "treatment_version": 2,
        "treatment_share": 0.5,
        "metric": "resolution_rate",
        "lift": 0.031,
        "confidence_interval": {"low": 0.012, "high": 0.05},
        "p_value": 0.004,
        "decision": "ship",
        "started_at": "2026-11-01T00:00:00Z",
        "ended_at": "2026-11-15T00:00:00Z",
        **changes,
    }


@pytest.fixture
def two_versions(db_url: str, tmp_path: Path) -> Registry:
    document = yaml.safe_load(EXAMPLES.read_text())
    document["policy"]["stages"]["production"]["require_ab_win"] = True
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(yaml.safe_dump(document))
    Registry.init(db_url, catalog=catalog, actor="carol@example.com")
    registry = register_support_components(db_url, tmp_path)
    registry.register_stack("support-bot", SUPPORT_BOT_PINS)
    register_support_components(db_url, tmp_path, round_=2)
    registry.register_stack("support-bot", [p.replace("@1", "@2") for p in SUPPORT_BOT_PINS])
    make_ready(registry, "support-bot@2")
    promote_through(db_url, "support-bot@2", "staging")
    return registry


def _production_request(db_url: str) -> tuple[Registry, int]:
    alice = Registry.open(db_url, actor="alice@example.com")
    request = alice.request_promotion("support-bot@2", to="production", reason="won the test")
    Registry.open(db_url, actor="bob@example.com").approve(request.id, reason="ok")
    return alice, request.id


def test_a_required_win_blocks_until_the_treatment_wins(
    two_versions: Registry, db_url: str
) -> None:
    alice, request = _production_request(db_url)
    gates = {g.name: g for g in alice.gates(request).gates}
    assert gates["ab_test"].passed is False
    assert "no A/B result with v2 as treatment" in gates["ab_test"].detail

    two_versions.ingest_ab(
        _result(decision="hold", p_value=0.3, confidence_interval={"low": -0.01, "high": 0.05})
    )
    with pytest.raises(GateRefused, match="decision hold"):
        alice.apply(request)

    two_versions.ingest_ab(_result(metric="csat"))
    assert alice.apply(request).stage == "production"
    control = two_versions.show("support-bot@1").to_dict()["ab_tests"]
    treatment = two_versions.show("support-bot@2").to_dict()["ab_tests"]
    assert (
        [t["metric"] for t in control]
        == [t["metric"] for t in treatment]
        == [
            "resolution_rate",
            "csat",
        ]
    )


def test_show_lists_each_result_as_recorded_with_who_recorded_it_and_when(
    two_versions: Registry,
) -> None:
    recorded = two_versions.ingest_ab(
        _result(lift=0, confidence_interval={"low": -1, "high": 1})
    ).to_dict()
    (shown,) = two_versions.show("support-bot@2").to_dict()["ab_tests"]
    assert list(shown) == [*sorted(recorded), "recorded_at", "recorded_by"]
    assert list(shown["confidence_interval"]) == ["high", "level", "low"]
    assert (
        {k: shown[k] for k in recorded}
        == recorded
        == {
            **_result(lift=0, confidence_interval={"low": -1, "high": 1, "level": 0.95}),
            "lift_kind": "absolute",
        }
    )
    assert shown["recorded_by"] == "support-ml@example.com"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", shown["recorded_at"])
    assert json.dumps(shown) == json.dumps(
        two_versions.show("support-bot@1").to_dict()["ab_tests"][0]
    )


def test_evidence_is_appended_never_replaced(two_versions: Registry) -> None:
    two_versions.ingest_ab(_result())
    with pytest.raises(Conflict, match="never replaced"):
        two_versions.ingest_ab(_result(lift=0.5, confidence_interval={"low": 0.4, "high": 0.6}))


def test_the_cli_records_a_result_and_refuses_a_malformed_one(
    two_versions: Registry, run_cli: Any, tmp_path: Path
) -> None:
    good = tmp_path / "ab.json"
    good.write_text(json.dumps(_result()))
    recorded = run_cli("eval", "ab", str(good), json=True)
    assert recorded.code == 0, recorded.stderr
    assert recorded.json()["decision"] == "ship"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_result(p_value=2)))
    refused = run_cli("eval", "ab", str(bad))
    assert refused.code == 2
    assert refused.stderr.count("\n") == 1
    missing = tmp_path / "gone.json"
    missing.write_text(json.dumps(_result(treatment_version=9)))
    assert run_cli("eval", "ab", str(missing)).code == 3
