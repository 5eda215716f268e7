"""The inventory on real DuckDB files: tables stamped with the ledger head, views that
agree with the service, atomic republishing under a concurrent reader, GE validations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from conftest import (
    EXAMPLES,
    SUPPORT_BOT_PINS,
    make_ready,
    promote_through,
    raw_sql,
    register_support_components,
)

from registry_pipeline.catalog import load_catalog
from registry_pipeline.exports import inventory
from registry_pipeline.exports.quality import validate
from registry_pipeline.service import Registry

pytestmark = pytest.mark.integration


@pytest.fixture
def db_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


READER = """
import sys, time, duckdb, json
import os
root, stop, until = sys.argv[1], sys.argv[2], float(sys.argv[3])
reads = errors = 0
while not os.path.exists(stop) and time.time() < until:
    try:
        db = duckdb.connect(root + "/current/inventory.duckdb", read_only=True)
        seq = db.execute("SELECT ledger_seq FROM as_of").fetchone()[0]
        n, top = db.execute("SELECT count(*), max(seq) FROM ledger").fetchone()
        stamps = db.execute("SELECT DISTINCT as_of_seq FROM versions").fetchall()
        db.close()
        assert n == seq == top, (n, seq, top)
        assert stamps in ([], [(seq,)]), stamps
        reads += 1
    except Exception as e:
        errors += 1
        print(repr(e), file=sys.stderr)
print(json.dumps({"reads": reads, "errors": errors}))
"""


def _now() -> str:
    return datetime.now(UTC).isoformat()


@pytest.fixture
def history(example_estate: Registry, db_url: str, tmp_path: Path) -> dict[str, str]:
    """support-bot v1 then v2 in production, then rolled back to v1; instants in between."""
    moments = {"before": _now()}
    promote_through(db_url, "support-bot@1", "staging", "production")
    moments["v1"] = _now()
    register_support_components(db_url, tmp_path, round_=2)
    example_estate.register_stack("support-bot", [p.replace("@1", "@2") for p in SUPPORT_BOT_PINS])
    make_ready(example_estate, "support-bot@2")
    promote_through(db_url, "support-bot@2", "staging", "production")
    moments["v2"] = _now()
    Registry.open(db_url, actor="bob@example.com").rollback(
        "support-bot", stage="production", reason="drill"
    )
    moments["rolled_back"] = _now()
    return moments


def test_every_table_is_stamped_with_the_ledger_head(
    history: dict[str, str], db_url: str, tmp_path: Path
) -> None:
    registry = Registry.open(db_url)
    published = inventory.build(registry, tmp_path / "inv")
    head = registry.ledger_head().to_dict()
    assert published.as_of_seq == head["seq"]
    db = duckdb.connect(str(published.database), read_only=True)
    for table, rows in published.tables.items():
        stamps = db.execute(f'SELECT DISTINCT as_of_seq FROM "{table}"').fetchall()
        assert stamps == ([(head["seq"],)] if rows else []), table
    assert db.execute("SELECT ledger_head FROM as_of").fetchall() == [(head["hash"],)]
    assert db.execute("SELECT count(*) FROM ledger").fetchall() == [(head["seq"],)]
    parquet = published.build / "parquet" / "versions" / "data.parquet"
    assert db.execute(f"SELECT count(*) FROM '{parquet}'").fetchall() == [
        (published.tables["versions"],)
    ]


def test_point_in_time_view_agrees_with_resolve_at(
    history: dict[str, str], db_url: str, tmp_path: Path
) -> None:
    registry = Registry.open(db_url)
    published = inventory.build(registry, tmp_path / "inv")
    for moment in ("v1", "v2", "rolled_back"):
        at = history[moment]
        resolved = registry.resolve("customer-support", at=at).to_dict()
        _, rows = inventory.query(
            published.root,
            "SELECT stack, version, digest, approved_by FROM production_at(?) "
            "WHERE workload = 'customer-support'",
            [at],
        )
        assert rows == [
            (
                "support-bot",
                resolved["stack"]["version"],
                resolved["stack"]["digest"],
                resolved["approved_by"],
            )
        ], moment
    _, before = inventory.query(
        published.root, "SELECT * FROM production_at(?)", [history["before"]]
    )
    assert before == []
    _, now = inventory.query(published.root, "SELECT workload, version FROM production_now")
    assert now == [("customer-support", 1)]


def test_downstream_of_follows_lineage_all_the_way(
    history: dict[str, str], db_url: str, tmp_path: Path
) -> None:
    published = inventory.build(Registry.open(db_url), tmp_path / "inv")
    _, rows = inventory.query(
        published.root,
        "SELECT entry, version, depth FROM downstream_of('support-tickets-2026q3', 1) "
        "ORDER BY entry",
    )
    assert sorted(rows) == [
        ("support-bot", 1, 2),
        ("support-bot", 2, 2),
        ("support-lora", 1, 1),
        ("support-lora", 2, 1),
    ]


def test_auditor_views_flag_what_they_should(
    history: dict[str, str], db_url: str, tmp_path: Path
) -> None:
    published = inventory.build(Registry.open(db_url), tmp_path / "inv")
    for view in (
        "production_without_passing_eval",
        "production_without_second_approver",
        "entries_without_owner",
        "approvals_due_for_review",
    ):
        assert inventory.query(published.root, f"SELECT * FROM {view}")[1] == [], view
    # The approval behind the production holder is older than the review period (180
    # days in the example policy); its production assignment itself is recent.
    raw_sql(
        db_url,
        "UPDATE stage_assignments SET approved_by = '[]' "
        "WHERE stage = 'production' AND effective_to IS NULL",
        "UPDATE approvals SET created_at = '2020-01-01T00:00:00.000000Z'",
    )
    rebuilt = inventory.build(Registry.open(db_url), tmp_path / "inv")
    _, lonely = inventory.query(
        rebuilt.root, "SELECT entry, version FROM production_without_second_approver"
    )
    assert lonely == [("support-bot", 1)]
    _, due = inventory.query(rebuilt.root, "SELECT entry, version FROM approvals_due_for_review")
    assert due == [("support-bot", 1)]


def test_republishing_never_blocks_or_tears_a_concurrent_reader(
    history: dict[str, str], db_url: str, tmp_path: Path
) -> None:
    registry = Registry.open(db_url, actor="support-ml@example.com")
    root = tmp_path / "inv"
    inventory.build(registry, root)
    stop = tmp_path / "stop-reading"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(root), str(stop), str(time.time() + 120)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    builds = 0
    started = time.time()
    # Republish while the reader reads: at least four builds and five seconds, however
    # loaded the machine is (the point is overlap, not speed).
    while builds < 4 or time.time() < started + 5:
        registry.set_card(
            "support-bot@2", {"intended_use": f"rebuild {builds}", "limitations": "x"}
        )
        inventory.build(registry, root)
        builds += 1
    stop.touch()
    out, err = reader.communicate(timeout=150)
    report = json.loads(out.strip().splitlines()[-1])
    assert report["errors"] == 0, err
    assert report["reads"] > 10
    assert builds > 3
    old = time.time() - inventory.RETENTION_S - 60
    for build in (root / "builds").iterdir():
        os.utime(build, (old, old))
    inventory.build(registry, root)
    assert len(list((root / "builds").iterdir())) <= inventory.KEEP_BUILDS


def test_great_expectations_pass_on_good_data_and_catch_bad(
    history: dict[str, str], db_url: str, tmp_path: Path
) -> None:
    catalog = load_catalog(EXAMPLES)[0]
    registry = Registry.open(db_url, actor="support-ml@example.com")
    published = inventory.build(registry, tmp_path / "inv")
    assert {o.name: o.passed for o in validate(published.root, catalog)} == dict.fromkeys(
        (
            "production_has_independent_approver",
            "digests_are_sha256",
            "entries_have_owner",
            "single_holder_per_stage",
            "eval_metrics_within_declared_ranges",
        ),
        True,
    )
    registry.ingest_evals("support-lora@1", {"accuracy": 1.5}, suite="support-evals@1")
    raw_sql(
        db_url,
        "UPDATE versions SET digest = 'not-a-digest' WHERE entry = 'kb-index' AND number = 2",
        "UPDATE stage_assignments SET approved_by = '[\"alice@example.com\"]' "
        "WHERE stage = 'production' AND effective_to IS NULL",
    )
    published = inventory.build(registry, tmp_path / "inv")
    outcomes = {o.name: o for o in validate(published.root, catalog)}
    assert outcomes["eval_metrics_within_declared_ranges"].passed is False
    assert outcomes["eval_metrics_within_declared_ranges"].unexpected == [
        "support-evals.accuracy=1.5"
    ]
    assert outcomes["digests_are_sha256"].passed is False
    assert outcomes["production_has_independent_approver"].passed is False
    assert outcomes["single_holder_per_stage"].passed is True


def test_cli_sql_rebuilds_when_the_ledger_moved(
    history: dict[str, str], run_cli, tmp_path: Path
) -> None:
    env = {"REGISTRY_INVENTORY": str(tmp_path / "inv")}
    first = run_cli("sql", "SELECT workload, version FROM production_now", json=True, env=env)
    assert first.code == 0, first.stderr
    assert first.json()["rows"] == [["customer-support", 1]]
    bad = run_cli("sql", "SELECT nope FROM nowhere", env=env)
    assert bad.code == 2
    assert bad.stderr.startswith("error: SQL error:")
    assert len(bad.stderr.strip().splitlines()) == 1
    exported = run_cli("export", "inventory", "--out", str(tmp_path / "out"), json=True)
    assert exported.code == 0, exported.stderr
    assert Path(exported.json()["files"][0]).exists()


@pytest.mark.parametrize(
    "statement",
    [
        "COPY (SELECT 1 AS x) TO '{out}' (FORMAT CSV)",
        "SELECT * FROM read_csv('{secret}')",
        "SELECT * FROM read_text('{secret}')",
        "ATTACH '{out}.db' AS other",
        "INSTALL httpfs",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "SELECT * FROM glob('{secret_dir}/*')",
    ],
)
def test_cli_sql_reads_and_writes_nothing_outside_the_inventory(
    history: dict[str, str], run_cli, tmp_path: Path, statement: str
) -> None:
    secret = tmp_path / "secret" / "passwords.csv"
    secret.parent.mkdir()
    secret.write_text("user,password\nroot,hunter2\n")
    out = tmp_path / "leak" / "x.csv"
    out.parent.mkdir()
    env = {"REGISTRY_INVENTORY": str(tmp_path / "inv")}
    sql = statement.format(out=out, secret=secret, secret_dir=secret.parent)
    done = run_cli("sql", sql, env=env)
    assert done.code == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith("error: SQL error:")
    assert "hunter2" not in done.stdout + done.stderr
    assert list(out.parent.iterdir()) == []
    assert run_cli("sql", "SELECT count(*) FROM entries", env=env).code == 0
