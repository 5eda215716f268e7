"""Dagster as a service account of a registry server: the sensors and the runs they start
go through the real server with a token (``dagster``, a registrar), and the launchpad jobs
that stand for a person are not offered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from conftest import EXAMPLES, raw_rows
from support.server import Estate, served_estate

from registry_pipeline.assets.resources import RegistryResource
from registry_pipeline.catalog import load_catalog
from registry_pipeline.client import RemoteRegistry
from registry_pipeline.definitions import Settings, build_definitions
from registry_pipeline.errors import Refused
from registry_pipeline.service import Registry

pytestmark = pytest.mark.integration


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with served_estate(tmp_path) as estate:
        operator = Registry.open(estate.database, actor="operator")
        token = operator.tokens.create(principal="dagster", name="dagster").token
        monkeypatch.setenv("REGISTRY_TOKEN", token)
        landing = tmp_path / "landing"
        landing.mkdir()
        settings = Settings(
            database_url=estate.database,
            catalog=load_catalog(EXAMPLES)[0],
            landing=landing,
            deployments=tmp_path / "deployments",
            inventory=tmp_path / "inventory",
            exports=tmp_path / "exports",
            server_url=estate.url,
        )
        resource = RegistryResource(
            database_url=estate.database, server_url=estate.url, token=token
        )
        yield {
            "estate": estate,
            "defs": build_definitions(settings),
            "landing": landing,
            "resources": {"registry": resource},
        }


def _tick(served: dict[str, Any], name: str, instance: dg.DagsterInstance) -> Any:
    context = dg.build_sensor_context(instance=instance, resources=served["resources"])
    return served["defs"].resolve_sensor_def(name)(context)


def _last_auth(estate: Estate) -> dict[str, Any]:
    rows = raw_rows(estate.database, "SELECT auth FROM ledger ORDER BY seq DESC LIMIT 1")
    auth: dict[str, Any] = json.loads(rows[0][0])
    return auth


def test_jobs_that_stand_for_a_person_are_not_offered_in_server_mode(
    served: dict[str, Any],
) -> None:
    jobs = {job.name for job in served["defs"].resolve_all_job_defs()}
    assert {"apply_promotion", "landing_rejected", "register_entries"} <= jobs
    assert not jobs & {"request_promotion", "approve_request", "reject_request", "rollback_stage"}
    with pytest.raises(Refused, match=r"cannot act as bob@example\.com"):
        served["resources"]["registry"].client(actor="bob@example.com")


def test_sensors_and_runs_act_through_the_server_as_the_service_account(
    served: dict[str, Any],
) -> None:
    estate: Estate = served["estate"]
    with dg.instance_for_test() as instance:
        output = served["landing"] / "support-prompt" / "run-9"
        output.mkdir(parents=True)
        (output / "prompt.jinja").write_text("Hello {{ name }}, how can I help?")
        (output / "registry.yaml").write_text(
            yaml.safe_dump({"entry": "support-prompt", "complete": True})
        )
        [request] = _tick(served, "training_outputs", instance).run_requests
        registered = (
            served["defs"]
            .resolve_job_def("register_entries")
            .execute_in_process(
                run_config=request.run_config,
                instance=instance,
                asset_selection=request.asset_selection,
            )
        )
        assert registered.success
        alice = RemoteRegistry(estate.url, token=estate.tokens["alice"])
        assert alice.show("support-prompt@3").created_by == "dagster"
        assert _last_auth(estate)["principal"] == "dagster"
        assert _last_auth(estate)["method"] == "token"

        bob = RemoteRegistry(estate.url, token=estate.tokens["bob"])
        staging = alice.request_promotion("support-bot@2", to="staging", reason="try it")
        bob.approve(staging.id, reason="ok")
        [apply] = _tick(served, "promotion_gates", instance).run_requests
        job = served["defs"].resolve_job_def("apply_promotion")
        assert job.execute_in_process(run_config=apply.run_config, instance=instance).success
        assert alice.show("support-bot@2").stage == "staging"
        assert _last_auth(estate) == {
            "method": "token",
            "principal": "dagster",
            "token_id": _last_auth(estate)["token_id"],
        }


def _feed_reads(estate: Estate) -> float:
    import httpx

    total = 0.0
    for line in httpx.get(f"{estate.url}/metrics").text.splitlines():
        if line.startswith("registry_http_requests_total{") and 'route="/events"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_the_ledger_sensor_reads_the_event_feed_through_the_server(
    served: dict[str, Any],
) -> None:
    estate: Estate = served["estate"]
    with dg.instance_for_test() as instance:
        before = _feed_reads(estate)
        context = dg.build_sensor_context(instance=instance, resources=served["resources"])
        sensor = served["defs"].resolve_sensor_def("ledger_changes")
        first = sensor(context)
        head = RemoteRegistry(estate.url, token=estate.tokens["alice"]).ledger_head().seq
        assert first.cursor == str(head)
        assert len(first.run_requests) == 1
        assert _feed_reads(estate) == before + 1
        again = dg.build_sensor_context(
            instance=instance, resources=served["resources"], cursor=first.cursor
        )
        assert not sensor(again).run_requests
        alice = RemoteRegistry(estate.url, token=estate.tokens["alice"])
        alice.request_promotion("support-bot@2", to="staging", reason="try it")
        moved = sensor(
            dg.build_sensor_context(
                instance=instance, resources=served["resources"], cursor=first.cursor
            )
        )
        assert [r.run_key for r in moved.run_requests] == [f"ledger:{head + 1}"]
        assert moved.cursor == str(head + 1)
        assert _feed_reads(estate) == before + 3
