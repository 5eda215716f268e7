""" "The latest eval result of each suite" is one rule: the gate judges the result the
CycloneDX BOM and the evidence index report as current, even when two results of a suite
tie on produced_at and recorded_at (the last recorded, the highest id, wins)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import promote_through, raw_rows, raw_sql

from registry_pipeline.core.gates import Gate
from registry_pipeline.core.times import format_time
from registry_pipeline.exports.cyclonedx import build_bom
from registry_pipeline.exports.evidence import Evidence
from registry_pipeline.service import Registry
from registry_pipeline.store.snapshot import take_snapshot

pytestmark = pytest.mark.integration


def test_a_tie_between_two_results_of_a_suite_resolves_the_same_way_everywhere(
    example_estate: Registry, db_url: str
) -> None:
    promote_through(db_url, "support-bot@1", "staging", "production")
    produced = format_time(datetime.now(UTC))
    for accuracy in (0.95, 0.81):
        example_estate.ingest_evals(
            "support-bot@1",
            {
                "metrics": {"accuracy": accuracy, "hallucination_rate": 0.01},
                "produced_at": produced,
            },
            suite="support-evals@1",
        )
    raw_sql(
        db_url,
        "UPDATE evals SET recorded_at = :at WHERE produced_at = :produced",
        at=produced,
        produced=produced,
    )
    tied = raw_rows(db_url, f"SELECT id FROM evals WHERE recorded_at = '{produced}' ORDER BY id")
    assert len(tied) == 2
    last = tied[-1][0]

    registry = Registry.open(db_url)
    (evals_gate,) = [g for g in registry.readiness("support-bot@1") if g.name == Gate.EVALS]
    assert "support-evals@1 accuracy = 0.81" in evals_gate.detail

    snap = take_snapshot(registry)
    top = build_bom(snap, "customer-support")["metadata"]["component"]
    props = {p["name"]: p["value"] for p in top["properties"]}
    assert props["registry:eval:support-evals@1:accuracy"] == "0.81"

    current = {
        (r["eval_id"], r["metric"], r["value"])
        for r in Evidence(snap).evals("support-bot", 1)
        if r["current"]
    }
    assert current == {(last, "accuracy", 0.81), (last, "hallucination_rate", 0.01)}
