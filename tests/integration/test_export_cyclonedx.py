"""The CycloneDX 1.6 ML-BOM of a workload's production stack, on the example estate."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import SUPPORT_BOT_PINS, promote_through
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from registry_pipeline.errors import BadInput, NotFound
from registry_pipeline.exports import cyclonedx
from registry_pipeline.exports.cyclonedx import build_bom, validate_bom, write_boms
from registry_pipeline.service import Registry
from registry_pipeline.store.snapshot import Snapshot, take_snapshot

pytestmark = pytest.mark.integration

UPSTREAM_ONLY = ["support-tickets-2026q3@1", "kb-docs-2026-11@1"]
LORA_METRICS = {"accuracy": 0.87, "hallucination_rate": 0.02}


@pytest.fixture
def snap(
    example_estate: Registry, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Snapshot:
    """support-bot@1 in production; support-lora@1 with an eval result and a card."""
    monkeypatch.setenv("REGISTRY_DEPLOYMENTS", str(tmp_path / "deployments"))
    promote_through(db_url, "support-bot@1", "staging", "production")
    example_estate.ingest_evals("support-lora@1", LORA_METRICS, suite="support-evals@1")
    example_estate.set_card(
        "support-lora@1",
        {
            "intended_use": "Drafting replies for agents to review",
            "limitations": ["English only", "no refunds policy knowledge"],
            "training_data": "Q3 2026 resolved tickets",
            "risks": "May state a wrong policy with confidence",
        },
    )
    return take_snapshot(Registry.open(db_url))


def _components(bom: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["bom-ref"]: c for c in bom["components"]}


def _props(component: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in component.get("properties", [])}


def _single_line(error: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_bom_validates_in_strict_mode(snap: Snapshot) -> None:
    bom = build_bom(snap, "customer-support")

    validate_bom(bom)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(bom)) is None
    assert (bom["bomFormat"], bom["specVersion"]) == ("CycloneDX", "1.6")
    top = bom["metadata"]["component"]
    assert (top["type"], top["bom-ref"], top["name"], top["version"]) == (
        "application",
        "support-bot@1",
        "support-bot",
        "1",
    )
    assert bom["metadata"]["timestamp"] == snap.head_time
    assert {t["name"] for t in bom["metadata"]["tools"]["components"]} >= {"registry-pipeline"}


def test_every_dependency_ref_resolves(snap: Snapshot) -> None:
    bom = build_bom(snap, "customer-support")
    refs = {bom["metadata"]["component"]["bom-ref"]} | set(_components(bom))
    graph = {d["ref"]: set(d["dependsOn"]) for d in bom["dependencies"]}

    for ref, depends_on in graph.items():
        assert ref in refs
        assert depends_on <= refs
    assert set(graph) == refs
    assert graph["support-bot@1"] == set(SUPPORT_BOT_PINS)
    assert graph["support-lora@1"] == {"llama-3.2-1b-instruct@1", "support-tickets-2026q3@1"}
    assert graph["kb-index@1"] == {"bge-small-en@1", "kb-docs-2026-11@1"}
    assert graph["support-prompt@1"] == set()


def test_components_carry_the_registry_digests(snap: Snapshot, db_url: str) -> None:
    bom = build_bom(snap, "customer-support")
    registry = Registry.open(db_url)
    components = _components(bom)

    assert set(components) == {*SUPPORT_BOT_PINS, *UPSTREAM_ONLY}
    for ref, component in components.items():
        entry, version = ref.split("@")
        assert (component["name"], component["version"]) == (entry, version)
        assert component["hashes"] == [
            {"alg": "SHA-256", "content": registry.show(ref).to_dict()["digest"]}
        ]
    top = bom["metadata"]["component"]
    assert top["hashes"][0]["content"] == registry.show("support-bot@1").to_dict()["digest"]


def test_component_types_and_licenses(snap: Snapshot) -> None:
    components = _components(build_bom(snap, "customer-support"))

    kinds = {ref: c["type"] for ref, c in components.items()}
    assert kinds == {
        "llama-3.2-1b-instruct@1": "machine-learning-model",
        "support-lora@1": "machine-learning-model",
        "bge-small-en@1": "machine-learning-model",
        "support-tickets-2026q3@1": "data",
        "kb-docs-2026-11@1": "data",
        "kb-index@1": "data",
        "support-evals@1": "data",
        "support-prompt@1": "data",
    }
    assert components["support-tickets-2026q3@1"]["data"][0]["type"] == "dataset"
    assert components["support-prompt@1"]["data"][0]["type"] == "configuration"
    for component in components.values():
        is_model = component["type"] == "machine-learning-model"
        assert ("modelCard" in component) is is_model
    assert components["bge-small-en@1"]["licenses"] == [{"license": {"id": "MIT"}}]
    assert components["llama-3.2-1b-instruct@1"]["licenses"] == [{"license": {"name": "llama3.2"}}]
    assert components["kb-docs-2026-11@1"]["licenses"] == [
        {"license": {"name": "proprietary-internal"}}
    ]
    assert "licenses" not in components["support-prompt@1"]


def test_lora_model_card_has_the_ingested_eval_metrics(snap: Snapshot) -> None:
    card = _components(build_bom(snap, "customer-support"))["support-lora@1"]["modelCard"]

    metrics = card["quantitativeAnalysis"]["performanceMetrics"]
    assert {m["type"]: m["value"] for m in metrics} == {k: str(v) for k, v in LORA_METRICS.items()}
    assert {m["slice"] for m in metrics} == {"support-evals@1"}
    assert card["modelParameters"]["datasets"] == [{"ref": "support-tickets-2026q3@1"}]
    assert card["modelParameters"]["task"] == "text-generation"
    considerations = card["considerations"]
    assert considerations["useCases"] == ["Drafting replies for agents to review"]
    assert considerations["technicalLimitations"] == ["English only", "no refunds policy knowledge"]
    assert considerations["ethicalConsiderations"] == [
        {"name": "May state a wrong policy with confidence"}
    ]


def test_newer_eval_result_supersedes_the_older_one(snap: Snapshot, db_url: str) -> None:
    registry = Registry.open(db_url, actor="support-ml@example.com")
    registry.ingest_evals("support-lora@1", {"accuracy": 0.91}, suite="support-evals@1")
    bom = build_bom(take_snapshot(registry), "customer-support")

    card = _components(bom)["support-lora@1"]["modelCard"]
    assert card["quantitativeAnalysis"]["performanceMetrics"] == [
        {"type": "accuracy", "value": "0.91", "slice": "support-evals@1"}
    ]


def test_metadata_records_the_ledger_head_and_catalog(snap: Snapshot, db_url: str) -> None:
    bom = build_bom(snap, "customer-support")
    head = Registry.open(db_url).ledger_head().to_dict()

    props = {p["name"]: p["value"] for p in bom["metadata"]["properties"]}
    assert props["registry:ledger_head"] == head["hash"]
    assert props["registry:ledger_seq"] == str(head["seq"])
    assert props["registry:catalog_digest"] == snap.catalog_digest
    top = _props(bom["metadata"]["component"])
    assert top["registry:production_approved_by"] == "bob@example.com"
    assert top["registry:eval:support-evals@1:accuracy"] == "0.9"


def test_same_state_gives_the_same_bom(snap: Snapshot, db_url: str) -> None:
    again = take_snapshot(Registry.open(db_url))

    assert build_bom(snap, "customer-support") == build_bom(again, "customer-support")


def test_workload_without_production_is_not_found(snap: Snapshot) -> None:
    with pytest.raises(NotFound) as error:
        build_bom(snap, "credit-scoring")
    assert "credit-scoring" in _single_line(error)

    with pytest.raises(NotFound):
        build_bom(snap, "no-such-workload")


def test_dangling_dependency_ref_fails_validation(snap: Snapshot) -> None:
    bom = copy.deepcopy(build_bom(snap, "customer-support"))
    bom["dependencies"][0]["dependsOn"].append("ghost@1")

    with pytest.raises(BadInput) as error:
        validate_bom(bom)
    assert "ghost@1" in _single_line(error)


def test_dangling_dependency_subject_fails_validation(snap: Snapshot) -> None:
    bom = copy.deepcopy(build_bom(snap, "customer-support"))
    bom["dependencies"].append({"ref": "nowhere@3", "dependsOn": []})

    with pytest.raises(BadInput, match="nowhere@3"):
        validate_bom(bom)


def test_duplicate_bom_ref_fails_validation(snap: Snapshot) -> None:
    bom = copy.deepcopy(build_bom(snap, "customer-support"))
    bom["components"][1]["bom-ref"] = bom["components"][0]["bom-ref"]

    with pytest.raises(BadInput, match="declared twice"):
        validate_bom(bom)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda b: b["components"][0]["hashes"][0].update(alg="SHA-257"), id="alg"),
        pytest.param(lambda b: b["components"][0].update(colour="blue"), id="unknown-field"),
        pytest.param(lambda b: b["components"][0].update(type="model"), id="type"),
        pytest.param(
            lambda b: b["components"][0].update(licenses=[{"license": {"id": "llama3.2"}}]),
            id="non-spdx-id",
        ),
        pytest.param(lambda b: b.update(specVersion=1.6), id="spec-version-number"),
    ],
)
def test_schema_violations_fail_validation(snap: Snapshot, tamper: Any) -> None:
    bom = copy.deepcopy(build_bom(snap, "customer-support"))
    tamper(bom)

    with pytest.raises(BadInput) as error:
        validate_bom(bom)
    assert _single_line(error).startswith("CycloneDX 1.6 schema:")


def test_write_boms_writes_one_file_per_workload_in_production(
    snap: Snapshot, tmp_path: Path
) -> None:
    out = tmp_path / "boms"

    paths = write_boms(snap, out)

    assert paths == [out / "customer-support.cdx.json"]
    assert sorted(p.name for p in out.iterdir()) == ["customer-support.cdx.json"]
    written = json.loads(paths[0].read_text())
    assert written == build_bom(snap, "customer-support")
    validate_bom(written)


def test_write_boms_validates_before_writing(
    snap: Snapshot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = cyclonedx.build_bom

    def broken(snapshot: Snapshot, workload: str) -> dict[str, Any]:
        bom = real(snapshot, workload)
        bom["dependencies"][0]["dependsOn"].append("ghost@1")
        return bom

    monkeypatch.setattr(cyclonedx, "build_bom", broken)
    out = tmp_path / "boms"

    with pytest.raises(BadInput, match="ghost@1"):
        write_boms(snap, out)
    assert not list(out.iterdir())
