"""Provider-hosted models through the real CLI: a floating snapshot warns at registration
and is refused production; a production model near its deprecation date is due for
review and fails its blocking asset check."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from registry_pipeline.assets.entry_checks import check_entry
from registry_pipeline.core.automation import checks_for
from registry_pipeline.core.kinds import EntryKind
from registry_pipeline.service import Registry

pytestmark = pytest.mark.integration

OWNER = "ml@example.com"
APPROVER = "bob@example.com"
ADMIN = "carol@example.com"
RunCli = Callable[..., Any]


@pytest.fixture
def catalog(tmp_path: Path, db_url: str) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "entries": {"gpt-hosted": {"kind": "provider_model", "owner": OWNER}},
                "policy": {
                    "approvers": [APPROVER],
                    "admins": [ADMIN],
                    "stages": {"staging": {"approvals": 1}, "production": {"approvals": 1}},
                },
            }
        )
    )
    Registry.init(db_url, catalog=path, actor=ADMIN)
    return path


def spec_folder(tmp_path: Path, name: str, **changes: object) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    spec = {
        "provider": "openai",
        "model_id": "gpt-4o",
        "snapshot": "gpt-4o-2024-08-06",
        "endpoint": "https://api.openai.com/v1",
        **changes,
    }
    (folder / "provider.yaml").write_text(yaml.safe_dump(spec))
    return folder


def ok(result: Any) -> Any:
    assert result.code == 0, f"exit {result.code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def promote(run_cli: RunCli, ref: str, stage: str) -> int:
    """Request and approve ``ref`` -> ``stage``; the request id."""
    request = ok(run_cli("promote", ref, "--to", stage, "--reason", "r", actor=OWNER, json=True))
    request_id: int = request.json()["request"]
    ok(run_cli("approve", str(request_id), "--reason", "reviewed", actor=APPROVER))
    return request_id


def warnings_of(result: Any) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("warning: ")]


def test_a_floating_snapshot_warns_and_is_refused_production(
    run_cli: RunCli, catalog: Path, tmp_path: Path
) -> None:
    floating = ok(
        run_cli(
            "register",
            "gpt-hosted",
            str(spec_folder(tmp_path, "a", snapshot="latest")),
            actor=OWNER,
        )
    )
    assert warnings_of(floating) == [
        "warning: snapshot 'latest' of gpt-4o is an alias that moves when the provider ships "
        "a new model; pin a dated snapshot; promotion to production will be refused"
    ]
    ok(run_cli("apply", str(promote(run_cli, "gpt-hosted@1", "staging")), actor=OWNER))
    request = promote(run_cli, "gpt-hosted@1", "production")
    report = run_cli("gates", str(request), json=True).json()
    gates = {g["name"]: g for g in report["gates"]}
    assert report["passed"] is False
    assert gates["provider_snapshot"]["passed"] is False
    assert gates["provider_snapshot"]["detail"].startswith("gpt-hosted@1: snapshot 'latest'")
    assert all(g["passed"] for name, g in gates.items() if name != "provider_snapshot")
    refused = run_cli("apply", str(request), actor=OWNER)
    assert refused.code == 5
    assert "provider_snapshot" in refused.stderr
    assert run_cli("show", "gpt-hosted@1", json=True).json()["stage"] == "staging"

    bare = ok(
        run_cli(
            "register",
            "gpt-hosted",
            str(spec_folder(tmp_path, "b", snapshot="gpt-4o")),
            actor=OWNER,
        )
    )
    assert "is the bare model id" in warnings_of(bare)[0]

    dated = ok(run_cli("register", "gpt-hosted", str(spec_folder(tmp_path, "c")), actor=OWNER))
    assert warnings_of(dated) == []
    ok(run_cli("apply", str(promote(run_cli, "gpt-hosted@3", "staging")), actor=OWNER))
    applied = ok(
        run_cli(
            "apply", str(promote(run_cli, "gpt-hosted@3", "production")), actor=OWNER, json=True
        )
    ).json()
    assert (applied["version"], applied["stage"]) == (3, "production")


def test_a_production_model_near_its_deprecation_is_due_and_fails_its_check(
    run_cli: RunCli, catalog: Path, tmp_path: Path, db_url: str
) -> None:
    today = datetime.now(UTC).date()
    ending = today + timedelta(days=10)
    registered = ok(
        run_cli(
            "register",
            "gpt-hosted",
            str(spec_folder(tmp_path, "a", deprecation_date=ending.isoformat())),
            actor=OWNER,
        )
    )
    assert warnings_of(registered) == [
        f"warning: gpt-4o gpt-4o-2024-08-06 is deprecated on {ending.isoformat()}, in 10 days "
        "(notice period 30 days); plan the move to a newer snapshot"
    ]
    past = ok(
        run_cli(
            "register",
            "gpt-hosted",
            str(spec_folder(tmp_path, "b", snapshot="2024-05-13", deprecation_date="2026-06-30")),
            actor=OWNER,
        )
    )
    assert "was deprecated on 2026-06-30" in warnings_of(past)[0]
    assert ok(run_cli("review", "due", json=True)).json() == {"due": []}

    # The provider announced the date after this version went to production elsewhere;
    # brought in as it ran there (no gates are evaluated for an import).
    admin = Registry.open(db_url, actor=ADMIN)
    admin.import_stage("gpt-hosted", 1, stage="production", origin={"system": "mlflow"})

    due = ok(run_cli("review", "due", json=True)).json()["due"]
    assert due == [
        {
            "entry": "gpt-hosted",
            "version": 1,
            "what": "deprecation",
            "age_days": -10.0,
            "limit_days": -30.0,
            "since": ending.isoformat(),
            "model": "gpt-hosted@1",
        }
    ]
    table = ok(run_cli("review", "due")).stdout
    assert "deprecation" in table
    assert ending.isoformat() in table

    assert "provider_snapshot" in checks_for(EntryKind.PROVIDER_MODEL)
    entry = admin.catalog().entry("gpt-hosted")
    [result] = check_entry(admin, entry, {"provider_snapshot"})
    assert result.passed is False
    assert result.severity == dg.AssetCheckSeverity.ERROR
    assert "latest: gpt-hosted@2:" in (result.description or "")
    assert f"production: gpt-hosted@1: gpt-4o gpt-4o-2024-08-06 is deprecated on {ending}" in (
        result.description or ""
    )
