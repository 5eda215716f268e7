"""The Dagster layer on a real Dagster instance and a real registry file: the asset-graph
snapshot, materializations, and every sensor tick by tick with its cursor."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pytest
import yaml
from conftest import (
    SUPPORT_BOT_PINS,
    make_ready,
    promote_through,
    raw_sql,
    register_support_components,
)
from safetensors.numpy import save_file

from registry_pipeline.assets.entries import build_entry_assets
from registry_pipeline.assets.entry_checks import build_entry_checks
from registry_pipeline.assets.resources import RegistryResource
from registry_pipeline.catalog import load_catalog
from registry_pipeline.definitions import Settings, build_definitions
from registry_pipeline.service import Registry

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples" / "catalog.yaml"
SNAPSHOT = ROOT / "tests" / "fixtures" / "asset_graph_snapshot.json"
ADMIN = "carol@example.com"


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as real:
        yield real


@pytest.fixture
def estate(tmp_path: Path, db_url: str) -> dict[str, Any]:
    """The example catalog in a fresh registry, its definitions, and a landing folder."""
    Registry.init(db_url, catalog=EXAMPLES, actor=ADMIN)
    landing = tmp_path / "landing"
    landing.mkdir()
    settings = Settings(
        database_url=db_url,
        catalog=load_catalog(EXAMPLES)[0],
        landing=landing,
        deployments=tmp_path / "deployments",
        inventory=tmp_path / "inventory",
        exports=tmp_path / "exports",
    )
    return {
        "defs": build_definitions(settings),
        "landing": landing,
        "url": db_url,
        "resources": {"registry": RegistryResource(database_url=db_url)},
    }


def _snapshot(defs: dg.Definitions) -> dict[str, Any]:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "owners": list(node.owners),
            "checks": sorted(c.name for c in node.check_keys),
        }
    blocking = sorted(
        f"{c.asset_key.to_user_string()}:{c.name}"
        for c in graph.asset_check_keys
        if graph.get_check_spec(c).blocking
    )
    return {
        "assets": assets,
        "blocking_checks": blocking,
        "sensors": sorted(s.name for s in defs.sensors or []),
        "schedules": sorted(s.name for s in defs.schedules or []),
        "jobs": sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")),
    }


def test_asset_graph_matches_the_snapshot(estate: dict[str, Any]) -> None:
    """Renaming an entry, a check, a group or a sensor must be a deliberate change: set
    UPDATE_SNAPSHOTS=1 to rewrite tests/fixtures/asset_graph_snapshot.json."""
    current = _snapshot(estate["defs"])
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())


def test_lineage_edges_follow_the_catalog(estate: dict[str, Any]) -> None:
    graph = estate["defs"].resolve_asset_graph()
    parents = {
        k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys}
        for k in graph.get_all_asset_keys()
    }
    assert parents["lora_adapter/support-lora"] == {
        "base_model/llama-3.2-1b-instruct",
        "dataset/support-tickets-2026q3",
    }
    assert "embedding_model/bge-small-en" in parents["retrieval_index/kb-index"]
    assert "lora_adapter/support-lora" in parents["stack/support-bot"]


def _output(landing: Path, entry: str, run: str, files: dict[str, str], **manifest: Any) -> Path:
    """Drop a training output the way a job should: write hidden, rename into place."""
    hidden = landing / entry / f".tmp-{run}"
    hidden.mkdir(parents=True)
    for name, text in files.items():
        (hidden / name).write_text(text)
    (hidden / "registry.yaml").write_text(
        yaml.safe_dump({"entry": entry, **manifest, "complete": True})
    )
    final = landing / entry / run
    hidden.rename(final)
    return final


def _materialize_base(estate: dict[str, Any], source: Path, instance: dg.DagsterInstance):
    defs = estate["defs"]
    key = dg.AssetKey(["base_model", "llama-3.2-1b-instruct"])
    return dg.materialize(
        [defs.resolve_assets_def(key)],
        selection=[key],
        instance=instance,
        run_config={
            "ops": {
                "register_base_model": {
                    "config": {
                        "entries": {
                            "llama-3.2-1b-instruct": {
                                "source": str(source),
                                "params": {"dtype": "float16"},
                            }
                        }
                    }
                }
            }
        },
    )


def test_materializing_an_entry_registers_exactly_one_version(
    estate: dict[str, Any], tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    source = tmp_path / "base"
    source.mkdir()
    (source / "config.json").write_text('{"model_type": "llama"}')
    save_file({"w": np.zeros((4, 4), np.float32)}, str(source / "model.safetensors"))

    result = _materialize_base(estate, source, instance)

    assert result.success
    [event] = result.get_asset_materialization_events()
    materialization = event.materialization
    registry = Registry.open(estate["url"])
    shown = registry.show("llama-3.2-1b-instruct@1").to_dict()
    assert registry.latest_versions(["llama-3.2-1b-instruct"]) == {"llama-3.2-1b-instruct": 1}
    assert materialization.tags["dagster/data_version"] == shown["digest"]
    metadata = materialization.metadata
    assert metadata["Version"].value == 1
    assert metadata["Digest (sha256)"].value == shown["digest"]
    assert metadata["Files"].value == 2
    assert metadata["Size (bytes)"].value == sum(f.stat().st_size for f in source.iterdir())
    assert metadata["Training parameters"].value == {"dtype": "float16"}
    assert "# llama-3.2-1b-instruct v1" in metadata["Model card"].value

    again = _materialize_base(estate, source, instance)
    assert again.success
    assert registry.latest_versions(["llama-3.2-1b-instruct"]) == {"llama-3.2-1b-instruct": 1}
    [repeat] = again.get_asset_materialization_events()
    assert repeat.materialization.metadata["New version"].value is False


def test_materializing_without_a_source_fails_with_the_fix(
    estate: dict[str, Any], instance: dg.DagsterInstance
) -> None:
    key = dg.AssetKey(["base_model", "llama-3.2-1b-instruct"])
    result = dg.materialize(
        [estate["defs"].resolve_assets_def(key)],
        selection=[key],
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "no source to register" in failure.step_failure_data.error.message
    assert Registry.open(estate["url"]).latest_versions(["llama-3.2-1b-instruct"]) == {
        "llama-3.2-1b-instruct": None
    }


def _sensor(defs: dg.Definitions, name: str) -> dg.SensorDefinition:
    return defs.resolve_sensor_def(name)


def _tick(estate: dict[str, Any], name: str, instance: dg.DagsterInstance, cursor: str | None):
    context = dg.build_sensor_context(
        cursor=cursor, instance=instance, resources=estate["resources"]
    )
    return _sensor(estate["defs"], name)(context)


def test_training_sensor_registers_new_outputs_once(
    estate: dict[str, Any], instance: dg.DagsterInstance
) -> None:
    landing = estate["landing"]
    empty = _tick(estate, "training_outputs", instance, None)
    assert not empty.run_requests
    assert "no new training outputs" in empty.skip_reason.skip_message

    _output(landing, "support-prompt", "run-1", {"prompt.jinja": "Hi {{ name }}"}, params={"a": 1})
    first = _tick(estate, "training_outputs", instance, empty.cursor)
    [request] = first.run_requests
    assert request.job_name == "register_entries"
    assert request.asset_selection == [dg.AssetKey(["prompt_template", "support-prompt"])]
    config = request.run_config["ops"]["register_prompt_template"]["config"]["entries"]
    assert config["support-prompt"]["params"] == {"a": 1}
    digest = config["support-prompt"]["expected_digest"]
    assert request.run_key == f"support-prompt:{digest}"

    second = _tick(estate, "training_outputs", instance, first.cursor)
    assert not second.run_requests

    restarted = _tick(estate, "training_outputs", instance, None)
    assert [r.run_key for r in restarted.run_requests] == [request.run_key]

    result = (
        estate["defs"]
        .resolve_job_def("register_entries")
        .execute_in_process(
            run_config=request.run_config,
            instance=instance,
            asset_selection=request.asset_selection,
        )
    )
    assert result.success
    shown = Registry.open(estate["url"]).show("support-prompt@1").to_dict()
    assert shown["digest"] == digest
    assert shown["file_count"] == 1


def test_training_sensor_reports_bad_manifests_and_unknown_entries(
    estate: dict[str, Any], instance: dg.DagsterInstance
) -> None:
    landing = estate["landing"]
    _output(landing, "support-prompt", "run-typo", {"p.txt": "x"}, parms={"a": 1})
    _output(landing, "no-such-entry", "run-1", {"w.bin": "x"})
    result = _tick(estate, "training_outputs", instance, None)
    problems = {
        r.tags["registry/landing"]: r.run_config["ops"]["landing_problem_op"]["config"]["problem"]
        for r in result.run_requests
    }
    assert all(r.job_name == "landing_rejected" for r in result.run_requests)
    assert "parms: unknown key" in problems["support-prompt/run-typo"]
    assert "unknown entry 'no-such-entry'" in problems["no-such-entry/run-1"]
    again = _tick(estate, "training_outputs", instance, result.cursor)
    assert not again.run_requests

    [request] = [r for r in result.run_requests if "typo" in r.tags["registry/landing"]]
    run = (
        estate["defs"]
        .resolve_job_def("landing_rejected")
        .execute_in_process(run_config=request.run_config, instance=instance, raise_on_error=False)
    )
    assert not run.success
    failure = next(e for e in run.all_events if e.event_type_value == "STEP_FAILURE")
    assert "parms: unknown key" in failure.step_failure_data.error.message


def test_training_sensor_waits_for_the_completion_marker(
    estate: dict[str, Any], instance: dg.DagsterInstance
) -> None:
    run = estate["landing"] / "support-prompt" / "run-2"
    run.mkdir(parents=True)
    (run / "p.txt").write_text("x")
    (run / "registry.yaml").write_text("entry: support-prompt\n")
    assert not _tick(estate, "training_outputs", instance, None).run_requests
    (run / "_SUCCESS").write_text("")
    assert len(_tick(estate, "training_outputs", instance, None).run_requests) == 1


def test_training_sensor_refuses_a_symlink_escaping_the_output(
    estate: dict[str, Any], tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    run = _output(estate["landing"], "support-prompt", "run-3", {"p.txt": "x"})
    (run / "leak.txt").symlink_to(secret)
    [request] = _tick(estate, "training_outputs", instance, None).run_requests
    assert request.job_name == "landing_rejected"
    problem = request.run_config["ops"]["landing_problem_op"]["config"]["problem"]
    assert "symlink pointing outside" in problem


def test_stack_sensor_assembles_a_stack_once_its_components_exist(
    estate: dict[str, Any], tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    assert not _tick(estate, "stack_assembly", instance, None).run_requests
    register_support_components(estate["url"], tmp_path)
    [request] = _tick(estate, "stack_assembly", instance, None).run_requests
    assert request.asset_selection == [dg.AssetKey(["stack", "support-bot"])]
    result = (
        estate["defs"]
        .resolve_job_def("register_entries")
        .execute_in_process(
            run_config=request.run_config,
            instance=instance,
            asset_selection=request.asset_selection,
        )
    )
    assert result.success
    lineage = Registry.open(estate["url"]).show("support-bot@1").to_dict()["lineage"]
    assert sorted(f"{u['entry']}@{u['version']}" for u in lineage) == sorted(
        request.run_config["ops"]["register_stack"]["config"]["entries"]["support-bot"]["upstream"]
    )
    assert not _tick(estate, "stack_assembly", instance, None).run_requests


def test_gate_sensor_names_each_blocking_gate_then_applies(
    estate: dict[str, Any], tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    owner = register_support_components(estate["url"], tmp_path)
    owner.register_stack("support-bot", SUPPORT_BOT_PINS)
    alice = Registry.open(estate["url"], actor="alice@example.com")
    bob = Registry.open(estate["url"], actor="bob@example.com")

    assert "no pending" in _tick(estate, "promotion_gates", instance, None).skip_reason.skip_message

    staging = alice.request_promotion("support-bot@1", to="staging", reason="try it")
    blocked = _tick(estate, "promotion_gates", instance, None)
    assert not blocked.run_requests
    assert f"request {staging.id}" in blocked.skip_reason.skip_message
    assert "approvals: 0 of 1 approval" in blocked.skip_reason.skip_message

    bob.approve(staging.id, reason="ok")
    [apply] = _tick(estate, "promotion_gates", instance, None).run_requests
    assert apply.run_config == {"ops": {"apply_promotion_op": {"config": {"request": staging.id}}}}
    job = estate["defs"].resolve_job_def("apply_promotion")
    assert job.execute_in_process(run_config=apply.run_config, instance=instance).success
    assert alice.show("support-bot@1").to_dict()["stage"] == "staging"

    production = alice.request_promotion("support-bot@1", to="production", reason="ship it")
    bob.approve(production.id, reason="ok")
    skip = _tick(estate, "promotion_gates", instance, None).skip_reason.skip_message
    assert "evals: no support-evals results" in skip
    assert "model_card: no model card set" in skip

    refused = job.execute_in_process(
        run_config={"ops": {"apply_promotion_op": {"config": {"request": production.id}}}},
        instance=instance,
        raise_on_error=False,
    )
    assert not refused.success
    failure = next(e for e in refused.all_events if e.event_type_value == "STEP_FAILURE")
    verdicts = failure.step_failure_data.user_failure_data.metadata
    assert verdicts["evals"].value.startswith("FAIL no support-evals results")
    assert verdicts["approvals"].value.startswith("PASS ")
    assert alice.show("support-bot@1").stage == "staging"

    make_ready(owner, "support-bot@1")
    [apply] = _tick(estate, "promotion_gates", instance, None).run_requests
    assert job.execute_in_process(run_config=apply.run_config, instance=instance).success
    assert alice.resolve("customer-support").to_dict()["stack"]["version"] == 1


def test_ledger_sensor_requests_a_rebuild_when_the_head_moves(
    estate: dict[str, Any], tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    first = _tick(estate, "ledger_changes", instance, None)
    [request] = first.run_requests
    assert request.asset_selection[:2] == [
        dg.AssetKey(["registry", "ledger"]),
        dg.AssetKey(["registry", "inventory"]),
    ]
    assert {k.path[0] for k in request.asset_selection[2:]} == {"exports"}
    assert not _tick(estate, "ledger_changes", instance, first.cursor).run_requests
    source = tmp_path / "p.txt"
    source.write_text("hello")
    Registry.open(estate["url"], actor="support-ml@example.com").register("support-prompt", source)
    assert len(_tick(estate, "ledger_changes", instance, first.cursor).run_requests) == 1

    defs = estate["defs"]
    key = dg.AssetKey(["registry", "ledger"])
    result = dg.materialize([defs.resolve_assets_def(key)], instance=instance)
    [event] = result.get_asset_materialization_events()
    head = Registry.open(estate["url"]).ledger_head().to_dict()
    assert event.materialization.metadata["Head hash"].value == head["hash"]
    assert event.materialization.metadata["Events"].value == head["seq"]


def test_checks_report_the_gates_on_the_latest_version(
    estate: dict[str, Any], tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    registry = register_support_components(estate["url"], tmp_path)
    registry.ingest_evals(
        "support-lora@1", {"accuracy": 0.5, "hallucination_rate": 0.01}, suite="support-evals@1"
    )
    catalog = load_catalog(EXAMPLES)[0]
    key = dg.AssetKey(["lora_adapter", "support-lora"])
    checks = estate["defs"].resolve_asset_graph().get(key).check_keys
    result = dg.materialize(
        [*build_entry_assets(catalog), *build_entry_checks(catalog)],
        selection=dg.AssetSelection.checks(*checks),
        instance=instance,
        resources=estate["resources"],
        raise_on_error=False,
    )
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {"evals", "model_card", "license", "review"}
    assert evaluations["review"].passed is True
    assert evaluations["evals"].passed is False
    assert evaluations["evals"].severity == dg.AssetCheckSeverity.ERROR
    assert "accuracy = 0.5, needs accuracy >= 0.8" in evaluations["evals"].description
    assert evaluations["model_card"].passed is False
    assert evaluations["license"].passed is True


def test_review_sensor_runs_the_review_check_of_a_production_version_due(
    estate: dict[str, Any], tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    assert "nothing is due" in _tick(estate, "review_due", instance, None).skip_reason.skip_message
    registry = register_support_components(estate["url"], tmp_path)
    registry.register_stack("support-bot", SUPPORT_BOT_PINS)
    make_ready(registry, "support-bot@1")
    promote_through(estate["url"], "support-bot@1", "staging", "production")
    raw_sql(
        estate["url"],
        "UPDATE evals SET produced_at = '2020-01-01T00:00:00.000000Z' WHERE entry = 'support-bot'",
    )

    [request] = _tick(estate, "review_due", instance, None).run_requests
    key = dg.AssetCheckKey(dg.AssetKey(["stack", "support-bot"]), "review")
    assert request.asset_check_keys == [key]
    assert request.asset_selection == []
    assert request.run_key.endswith(":support-bot")

    catalog = load_catalog(EXAMPLES)[0]
    result = dg.materialize(
        [*build_entry_assets(catalog), *build_entry_checks(catalog)],
        selection=dg.AssetSelection.checks(key),
        instance=instance,
        resources=estate["resources"],
        raise_on_error=False,
    )
    [review] = result.get_asset_check_evaluations()
    assert review.passed is False
    assert review.severity == dg.AssetCheckSeverity.WARN
    assert review.description.startswith("v1 evals ")
    assert "(limit 30)" in review.description


def test_definitions_load_from_the_environment(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Registry.init(db_url, catalog=EXAMPLES, actor=ADMIN)
    monkeypatch.setenv("REGISTRY_DATABASE_URL", db_url)
    monkeypatch.delenv("REGISTRY_CATALOG", raising=False)
    monkeypatch.setenv("REGISTRY_LANDING", str(tmp_path / "landing"))
    settings = Settings.from_env()
    assert set(settings.catalog.entries) == set(load_catalog(EXAMPLES)[0].entries)
    shutil.rmtree(tmp_path / "landing", ignore_errors=True)
    defs = build_definitions(settings)
    derived = {"registry/ledger", "registry/inventory"} | {
        f"exports/{f}"
        for f in ("cyclonedx", "eu_ai_act", "iso_42001", "nist_ai_rmf", "model_cards")
    }
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys - {f"{e.kind}/{e.name}" for e in settings.catalog.entries.values()} == derived


def test_inventory_and_exports_materialize_with_their_checks(
    estate: dict[str, Any], tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    registry = register_support_components(estate["url"], tmp_path)
    registry.register_stack("support-bot", SUPPORT_BOT_PINS)
    make_ready(registry, "support-bot@1")
    promote_through(estate["url"], "support-bot@1", "staging", "production")
    defs = estate["defs"]
    inventory_key = dg.AssetKey(["registry", "inventory"])
    bom_key = dg.AssetKey(["exports", "cyclonedx"])
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance, asset_selection=[inventory_key, bom_key], raise_on_error=False
    )
    assert result.success
    events = {e.asset_key: e.materialization for e in result.get_asset_materialization_events()}
    head = Registry.open(estate["url"]).ledger_head().to_dict()
    assert events[inventory_key].metadata["As of ledger event"].value == head["seq"]
    assert events[bom_key].metadata["Ledger head"].value == head["hash"]
    [bom] = events[bom_key].metadata["Files"].value
    assert json.loads(Path(bom).read_text())["specVersion"] == "1.6"
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        "production_has_independent_approver": True,
        "digests_are_sha256": True,
        "entries_have_owner": True,
        "single_holder_per_stage": True,
        "eval_metrics_within_declared_ranges": True,
    }
