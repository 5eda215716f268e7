"""The governance exports (EU AI Act, ISO/IEC 42001, NIST AI RMF) on the example estate with
support-bot@1 in production: JSON stamped with the ledger head, values that are the
registry's (digests, approvers, evals), "to be provided" where the registry cannot know,
completeness and freshness figures, Markdown renderings."""

from __future__ import annotations

import json
import stat
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import (
    SUPPORT_BOT_PINS,
    make_ready,
    promote_through,
    register_support_components,
)

from registry_pipeline.exports import WRITERS, eu_ai_act, export, iso_42001, nist_ai_rmf
from registry_pipeline.exports.evidence import NOT_HELD, TO_BE_PROVIDED
from registry_pipeline.service import Registry
from registry_pipeline.store.snapshot import Snapshot, take_snapshot

pytestmark = pytest.mark.integration

MODULES: dict[str, ModuleType] = {
    "eu-ai-act": eu_ai_act,
    "iso-42001": iso_42001,
    "nist-ai-rmf": nist_ai_rmf,
}
WORKLOADS = ["credit-scoring", "customer-support"]
UNKNOWABLE = {1, 2, 3, 8, 9, 10, 11, 12, 13}


@pytest.fixture
def snap(example_estate: Registry, db_url: str) -> Snapshot:
    """The example estate with support-bot@1 promoted through staging to production."""
    promote_through(db_url, "support-bot@1", "staging", "production")
    return take_snapshot(Registry.open(db_url))


@pytest.fixture
def docs(snap: Snapshot, tmp_path: Path) -> dict[str, dict[str, Any]]:
    """Each export written to disk and read back: ``{format: {json, md, paths}}``."""
    out = tmp_path / "exports"
    written = {}
    for fmt, module in MODULES.items():
        paths = module.write(snap, out)
        written[fmt] = {
            "paths": paths,
            "json": json.loads((out / f"{fmt}.json").read_text()),
            "md": (out / f"{fmt}.md").read_text(),
        }
    return written


def _digest(snap: Snapshot, ref: str) -> str:
    entry, number = ref.rsplit("@", 1)
    return str(snap.version(entry, int(number))["digest"])


def _system(doc: dict[str, Any], workload: str) -> dict[str, Any]:
    return next(s for s in doc["systems"] if s["workload"] == workload)


def _annex_viii(system: dict[str, Any], field: str) -> dict[str, Any]:
    return next(f for f in system["annex_viii_section_a"] if f["field"] == field)


def _annex_iv(system: dict[str, Any], item: str) -> dict[str, Any]:
    return next(i for i in system["annex_iv"] if i["item"] == item)


def _control(doc: dict[str, Any], control: str) -> list[dict[str, Any]]:
    return next(c["evidence"] for c in doc["controls"] if c["control"] == control)


def _map_field(system: dict[str, Any], sub: str, field: str) -> dict[str, Any]:
    group = next(g for g in system["map"] if g["subcategory"] == sub)
    return next(f for f in group["fields"] if f["field"] == field)


def test_every_export_is_stamped_with_the_ledger_head(
    docs: dict[str, dict[str, Any]], snap: Snapshot, db_url: str, tmp_path: Path
) -> None:
    head = Registry.open(db_url).ledger_head().to_dict()
    assert snap.catalog_digest
    for fmt, written in docs.items():
        doc = written["json"]
        assert written["paths"] == [
            tmp_path / "exports" / f"{fmt}.json",
            tmp_path / "exports" / f"{fmt}.md",
        ]
        assert list(doc)[:4] == ["format", "as_of", "catalog_digest", "generated_by"]
        assert doc["format"] == fmt
        assert doc["as_of"] == {
            "ledger_seq": head["seq"],
            "ledger_head": head["hash"],
            "time": head["recorded_at"],
        }
        assert doc["catalog_digest"] == snap.catalog_digest
        assert doc["generated_by"].startswith(MODULES[fmt].__name__)
        assert doc == MODULES[fmt].build(snap)


def test_eu_lists_both_systems_with_status_from_production(
    docs: dict[str, dict[str, Any]], snap: Snapshot
) -> None:
    doc = docs["eu-ai-act"]["json"]
    assert [s["workload"] for s in doc["systems"]] == WORKLOADS

    support = _system(doc, "customer-support")
    assert support["production"]["ref"] == "support-bot@1"
    assert _annex_viii(support, "trade_name")["value"] == "customer-support"
    assert _annex_viii(support, "reference")["value"] == {
        "stack": "support-bot",
        "ref": "support-bot@1",
        "digest": _digest(snap, "support-bot@1"),
    }
    status = _annex_viii(support, "status")
    assert status["value"] == "in service"
    assert status["source"].startswith("registry:stage_assignments.support-bot@1.production")
    purpose = _annex_viii(support, "intended_purpose")
    assert purpose["value"] == (
        "Answer customer questions from the help centre; escalate to a person"
    )
    assert purpose["source"] == "registry:catalog.entries.support-bot.intended_use"
    components = _annex_viii(support, "components_and_functions")["value"]
    assert sorted(c["ref"] for c in components) == sorted(SUPPORT_BOT_PINS)
    for c in components:
        assert c["digest"] == _digest(snap, c["ref"])
    lora = next(c for c in components if c["ref"] == "support-lora@1")
    assert lora["kind"] == "lora_adapter"
    assert lora["function"] == "LoRA adapter that drafts support replies in the house style"
    data = _annex_viii(support, "data_and_inputs")["value"]
    assert {d["ref"]: d["digest"] for d in data} == {
        "kb-docs-2026-11@1": _digest(snap, "kb-docs-2026-11@1"),
        "support-tickets-2026q3@1": _digest(snap, "support-tickets-2026q3@1"),
    }
    logic = _annex_viii(support, "operating_logic")["value"]
    assert "support-lora@1 (lora_adapter, built from llama-3.2-1b-instruct@1" in logic
    assert support["risk_class"]["value"] == "limited"
    assert support["registration"]["required"] is False
    assert "Article 50" in support["registration"]["obligations"]

    credit = _system(doc, "credit-scoring")
    assert credit["production"] is None
    assert _annex_viii(credit, "status")["value"] == "not placed on the market or put into service"
    assert _annex_viii(credit, "reference")["value"]["digest"] is None
    assert credit["risk_class"]["value"] == "high"
    assert credit["registration"]["required"] is True
    assert "Article 49(1)" in credit["registration"]["basis"]
    declared = _annex_viii(credit, "components_and_functions")
    assert [c["entry"] for c in declared["value"]] == ["credit-risk-clf", "credit-evals"]
    assert "declared" in declared["source"]
    assert [d["entry"] for d in _annex_viii(credit, "data_and_inputs")["value"]] == [
        "loan-applications-2026h1"
    ]
    assert _annex_iv(credit, "2(a)")["evidence"] == []
    assert _annex_iv(credit, "4")["approvals_required"] == 2
    assert _annex_iv(credit, "4")["signed_approvals"] is True


def test_eu_fields_the_registry_cannot_know_are_to_be_provided(
    docs: dict[str, dict[str, Any]],
) -> None:
    for system in docs["eu-ai-act"]["json"]["systems"]:
        fields = system["annex_viii_section_a"]
        assert sorted({f["item"] for f in fields}) == list(range(1, 14))
        unknown = {f["item"] for f in fields if f["value"] == TO_BE_PROVIDED}
        assert unknown == UNKNOWABLE
        for f in fields:
            assert f["source"]
            assert (f["source"] == NOT_HELD) == (f["value"] == "to be provided")
            if f["value"] != TO_BE_PROVIDED:
                assert f["source"].startswith("registry:")
        states = _annex_viii(system, "member_states")
        assert "prod-eu" in states["hint"]


def test_eu_annex_iv_points_at_lineage_evals_and_approvers(
    docs: dict[str, dict[str, Any]], snap: Snapshot
) -> None:
    support = _system(docs["eu-ai-act"]["json"], "customer-support")

    development = {r["ref"]: r for r in _annex_iv(support, "2(a)")["evidence"]}
    pretrained = {ref for ref, r in development.items() if r["pre_trained"]}
    assert pretrained == {"llama-3.2-1b-instruct@1", "bge-small-en@1"}
    llama = development["llama-3.2-1b-instruct@1"]
    assert llama["digest"] == _digest(snap, "llama-3.2-1b-instruct@1")
    assert llama["license"] == "llama3.2"
    assert development["support-lora@1"]["built_from"] == [
        "llama-3.2-1b-instruct@1",
        "support-tickets-2026q3@1",
    ]
    assert development["support-bot@1"]["built_from"] == sorted(SUPPORT_BOT_PINS)
    for row in development.values():
        registered = next(
            s for s in snap.history(row["entry"]) if s["version"] == 1 and s["cause"] == "register"
        )
        assert row["ledger_seq"] == registered["ledger_seq"]

    datasets = {r["ref"]: r for r in _annex_iv(support, "2(d)")["evidence"]}
    assert set(datasets) == {"support-tickets-2026q3@1", "kb-docs-2026-11@1"}
    assert datasets["support-tickets-2026q3@1"]["used_by"] == ["support-lora@1"]
    assert datasets["kb-docs-2026-11@1"]["digest"] == _digest(snap, "kb-docs-2026-11@1")

    testing = _annex_iv(support, "2(g)")
    results = {r["metric"]: r for r in testing["evidence"]}
    assert results["accuracy"]["value"] == 0.9
    assert results["hallucination_rate"]["value"] == 0.01
    assert results["accuracy"]["suite"] == "support-evals@1"
    assert results["accuracy"]["suite_digest"] == _digest(snap, "support-evals@1")
    assert results["accuracy"]["current"] is True
    held = snap.holder("support-bot")
    assert held is not None
    gates = {g["gate"]: g for g in testing["gates"]}
    assert gates["evals"]["passed"] is True
    assert gates["evals"]["request_id"] == held["request_id"]

    limits = {r["field"]: r["value"] for r in _annex_iv(support, "3")["evidence"]}
    assert limits["limitations"] == "English"
    thresholds = {r["metric"]: (r["op"], r["value"]) for r in _annex_iv(support, "4")["evidence"]}
    assert thresholds == {"accuracy": (">=", 0.8), "hallucination_rate": ("<=", 0.05)}

    changes = _annex_iv(support, "6")["evidence"]
    assert [(c["stage"], c["cause"]) for c in changes] == [
        ("candidate", "register"),
        ("staging", "promotion"),
        ("production", "promotion"),
    ]
    production = changes[-1]
    assert production["approved_by"] == ["bob@example.com"]
    assert production["requester"] == "alice@example.com"
    assert production["ledger_seq"] == held["ledger_seq"] == snap.head_seq
    assert [(a["approver"], a["decision"]) for a in production["approvals"]] == [
        ("bob@example.com", "approve")
    ]


def test_iso_inventory_and_rows_point_at_real_versions(
    docs: dict[str, dict[str, Any]], snap: Snapshot
) -> None:
    doc = docs["iso-42001"]["json"]
    inventory = doc["inventory"]
    assert [s["workload"] for s in inventory["systems"]] == WORKLOADS
    assert {e["entry"] for e in inventory["entries"]} == set(snap.catalog.entries)
    entries = {e["entry"]: e for e in inventory["entries"]}
    assert entries["support-bot"]["versions"] == [
        {
            "ref": "support-bot@1",
            "version": 1,
            "digest": _digest(snap, "support-bot@1"),
            "stage": "production",
            "ledger_seq": entries["support-bot"]["versions"][0]["ledger_seq"],
        }
    ]
    assert entries["support-lora"]["versions"][0]["stage"] == "candidate"
    assert entries["credit-risk-clf"]["risk_class"] == "high"
    assert entries["credit-risk-clf"]["versions"] == []
    assert entries["llama-3.2-1b-instruct"]["owner"] == "ml-platform@example.com"

    controls = [c["control"] for c in doc["controls"]]
    assert {"A.4.2", "A.4.3", "A.4.4", "A.6.2.4", "A.6.2.5", "A.7.5", "A.8.2"} <= set(controls)
    checked = 0
    for c in doc["controls"]:
        for row in c["evidence"]:
            for key, digest_key in (("ref", "digest"), ("dataset", "dataset_digest")):
                if key in row and "@" in str(row[key]):
                    assert row[digest_key] == _digest(snap, row[key]), (c["control"], row)
                    checked += 1
    assert checked > 20

    resources = _control(doc, "A.4.2")
    assert {r["ref"] for r in resources} == set(SUPPORT_BOT_PINS)
    assert {r["stack"] for r in resources} == {"support-bot@1"}
    assert {r["stack_stage"] for r in resources} == {"production"}
    deployments = {r["request_id"]: r for r in _control(doc, "A.6.2.5")}
    assert [(r["target"], r["status"]) for r in deployments.values()] == [
        ("staging", "applied"),
        ("production", "applied"),
    ]
    held = snap.holder("support-bot")
    assert held is not None
    production = deployments[held["request_id"]]
    assert [a["approver"] for a in production["approvals"]] == ["bob@example.com"]
    assert production["gates_passed"] is True
    assert production["ledger_seq"] == held["ledger_seq"]
    provenance = {r["ref"]: r for r in _control(doc, "A.7.5")}
    assert provenance["support-tickets-2026q3@1"]["reaches"] == [
        "support-bot@1",
        "support-lora@1",
    ]
    assert provenance["support-tickets-2026q3@1"]["workloads"] == ["customer-support"]
    cards = [r for r in _control(doc, "A.8.2") if r["type"] == "model_card"]
    assert [(r["ref"], r["fields"]["limitations"]) for r in cards] == [("support-bot@1", "English")]
    assert _control(doc, "A.6.2.8") == [{**snap.as_of, "note": _control(doc, "A.6.2.8")[0]["note"]}]
    assert {n["control"] for n in doc["not_evidenced"]} >= {"A.4.5", "A.8.4"}


def test_nist_completeness_and_freshness(docs: dict[str, dict[str, Any]], snap: Snapshot) -> None:
    doc = docs["nist-ai-rmf"]["json"]
    gov = doc["govern_1_6"]
    assert [s["workload"] for s in gov["systems"]] == WORKLOADS
    assert {e["entry"] for e in gov["entries"]} == set(snap.catalog.entries)

    support = _system(doc, "customer-support")
    credit = _system(doc, "credit-scoring")
    assert support["completeness"] == {"filled": 8, "required": 8, "fraction": 1.0, "missing": []}
    assert credit["completeness"]["fraction"] == 0.625
    assert credit["completeness"]["missing"] == [
        "MAP 2.2 knowledge_limits",
        "MAP 2.3 eval_results",
        "MAP 3.5 production_approvals",
    ]
    assert doc["completeness"] == {
        "filled": 13,
        "required": 16,
        "fraction": 0.8125,
        "by_system": {"credit-scoring": 0.625, "customer-support": 1.0},
    }
    for s in doc["systems"]:
        assert 0 <= s["completeness"]["fraction"] <= 1

    fresh = support["freshness"]
    head_time = datetime.fromisoformat(snap.head_time)
    evals = snap.evals_of("support-bot", 1)
    produced = datetime.fromisoformat(max(e["produced_at"] for e in evals))
    assert isinstance(fresh["newest_eval_age_days"], float)
    assert fresh["newest_eval_age_days"] >= 0
    expected = (head_time - produced).total_seconds() / 86400
    assert fresh["newest_eval_age_days"] == pytest.approx(expected, abs=1e-5)
    assert fresh["newest_eval"]["suite"] == "support-evals@1"
    assert isinstance(fresh["approval_age_days"], float)
    assert fresh["approval_age_days"] >= 0
    assert fresh["approval"]["approver"] == "bob@example.com"
    assert fresh["max_eval_age_days"] == 30.0
    assert fresh["eval_within_policy"] is True
    assert credit["freshness"]["newest_eval_age_days"] is None
    assert credit["freshness"]["approval_age_days"] is None
    assert doc["freshness"]["stalest_eval_age_days"] == fresh["newest_eval_age_days"]

    assert _map_field(support, "MAP 2.2", "knowledge_limits")["value"] == "English"
    third = {
        p["ref"]: p["license"]
        for p in _map_field(support, "MAP 4.1", "third_party_components")["value"]
    }
    assert third == {
        "llama-3.2-1b-instruct@1": "llama3.2",
        "bge-small-en@1": "mit",
        "support-tickets-2026q3@1": "proprietary-internal",
        "kb-docs-2026-11@1": "proprietary-internal",
    }
    base = _map_field(support, "MAP 2.1", "base_models")["value"]
    assert {b["ref"]: b["digest"] for b in base} == {
        "llama-3.2-1b-instruct@1": _digest(snap, "llama-3.2-1b-instruct@1"),
        "bge-small-en@1": _digest(snap, "bge-small-en@1"),
    }
    oversight = _map_field(credit, "MAP 3.5", "oversight_policy")["value"]
    assert oversight["approvals_required"] == 2
    assert oversight["signed_approvals"] is True


def test_markdown_renderings_name_each_system_and_the_head(
    docs: dict[str, dict[str, Any]], snap: Snapshot
) -> None:
    for written in docs.values():
        md = written["md"]
        assert md.startswith("# ")
        assert snap.head_hash in md
        assert str(snap.catalog_digest) in md
        for workload in WORKLOADS:
            assert workload in md
    eu = docs["eu-ai-act"]["md"]
    assert "## AI system: customer-support" in eu
    assert "| 1 | Name, address and contact details of the provider | to be provided |" in eu
    assert _digest(snap, "support-lora@1") in eu
    assert (
        "| 2 | support-bot@1 | production | alice@example.com | applied |"
        in (docs["iso-42001"]["md"])
    )
    assert "Completeness: 5 of 8 (0.625)" in docs["nist-ai-rmf"]["md"]


def test_exports_are_reachable_through_the_export_entry_point(
    snap: Snapshot, db_url: str, tmp_path: Path
) -> None:
    registry = Registry.open(db_url)
    for fmt in MODULES:
        result = export(registry, fmt, tmp_path / fmt)
        assert result["files"] == [str(tmp_path / fmt / f"{fmt}.{s}") for s in ("json", "md")]
        assert result["as_of"] == snap.as_of


def test_every_exported_file_is_readable_by_everyone_it_is_shared_with(
    snap: Snapshot, db_url: str, tmp_path: Path
) -> None:
    registry = Registry.open(db_url)
    for fmt in WRITERS:
        files = [Path(f) for f in export(registry, fmt, tmp_path / fmt)["files"]]
        assert files, fmt
        modes = {str(f): stat.S_IMODE(f.stat().st_mode) for f in files}
        assert modes == dict.fromkeys(modes, 0o644), fmt


def test_rollback_is_lifecycle_evidence(
    snap: Snapshot, example_estate: Registry, db_url: str, tmp_path: Path
) -> None:
    register_support_components(db_url, tmp_path, round_=2)
    example_estate.register_stack("support-bot", [p.replace("@1", "@2") for p in SUPPORT_BOT_PINS])
    make_ready(example_estate, "support-bot@2")
    promote_through(db_url, "support-bot@2", "staging", "production")
    Registry.open(db_url, actor="dana@example.com").rollback(
        "support-bot", stage="production", reason="latency regression"
    )
    after = take_snapshot(Registry.open(db_url))

    eu = _system(eu_ai_act.build(after), "customer-support")
    assert eu["production"]["ref"] == "support-bot@1"
    assert _annex_viii(eu, "status")["value"] == "in service"
    assert {c["ref"] for c in _annex_viii(eu, "components_and_functions")["value"]} == set(
        SUPPORT_BOT_PINS
    )
    rollbacks = [c for c in _annex_iv(eu, "6")["evidence"] if c["cause"] == "rollback"]
    assert [(c["ref"], c["stage"], c["actor"]) for c in rollbacks] == [
        ("support-bot@2", "archived", "dana@example.com"),
        ("support-bot@1", "production", "dana@example.com"),
    ]
    assert rollbacks[1]["approved_by"] == ["bob@example.com"]

    iso = iso_42001.build(after)
    operation = _control(iso, "A.6.2.6")
    assert {(r["type"], r["ref"]) for r in operation} >= {
        ("rollback", "support-bot@2"),
        ("in_production", "support-bot@1"),
    }
    stages = {
        v["ref"]: v["stage"]
        for e in iso["inventory"]["entries"]
        if e["entry"] == "support-bot"
        for v in e["versions"]
    }
    assert stages == {"support-bot@1": "production", "support-bot@2": "archived"}

    nist = _system(nist_ai_rmf.build(after), "customer-support")
    assert nist["production"]["ref"] == "support-bot@1"
    assert nist["freshness"]["approval"]["request_id"] == 2
    assert nist["freshness"]["approval"]["approver"] == "bob@example.com"
    assert nist["freshness"]["newest_eval_age_days"] >= nist["freshness"]["approval_age_days"]
