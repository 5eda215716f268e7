"""The store on a real SQLite file: migrations, WAL, catalog reloads, ledger truncation."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import raw_rows, raw_sql

from registry_pipeline.errors import BadInput, Conflict, NotFound, Refused, Step
from registry_pipeline.service import Registry
from registry_pipeline.store import Store, migrations
from registry_pipeline.store.engine import make_engine

pytestmark = pytest.mark.integration

CATALOG = Path(__file__).parents[1] / "fixtures" / "catalog.yaml"
ADMIN = "carol@example.com"


@pytest.fixture
def db_url(store_url: str) -> str:
    """Every store test runs on SQLite and on PostgreSQL."""
    return store_url


def test_init_records_migrations(db_url: str) -> None:
    Registry.init(db_url, catalog=CATALOG, actor=ADMIN)
    versions = [r[0] for r in raw_rows(db_url, "SELECT version FROM schema_migrations")]
    assert versions == [m.version for m in migrations.MIGRATIONS]


def test_sqlite_registry_uses_wal(tmp_path: Path) -> None:
    Registry.init(f"sqlite:///{tmp_path / 'wal.db'}", catalog=CATALOG, actor=ADMIN)
    with sqlite3.connect(tmp_path / "wal.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_old_schema_is_upgraded_in_place(db_url: str) -> None:
    Registry.init(db_url, catalog=CATALOG, actor=ADMIN)
    raw_sql(
        db_url,
        "ALTER TABLE versions DROP COLUMN format",
        "ALTER TABLE versions DROP COLUMN origin",
        "DROP TABLE ab_results",
        "ALTER TABLE cards DROP COLUMN body",
        "ALTER TABLE cards DROP COLUMN front_matter",
        "ALTER TABLE approvals DROP COLUMN groups",
        "DROP TABLE webhook_deliveries",
        "DROP TABLE webhooks",
        "DROP TABLE leases",
        "DROP TABLE web_sessions",
        "DELETE FROM schema_migrations WHERE version >= 2",
    )
    with pytest.raises(BadInput, match="this program needs") as info:
        Registry.open(db_url)
    assert info.value.step is Step.UPGRADE_SCHEMA
    applied = Store(make_engine(db_url), db_url).upgrade()
    assert [m.version for m in applied] == list(range(2, migrations.LATEST + 1))
    assert Registry.open(db_url).verify().ok


def test_reloading_the_same_catalog_records_nothing(db_url: str) -> None:
    registry, first = Registry.init(db_url, catalog=CATALOG, actor=ADMIN)
    _, second = Registry.init(db_url, catalog=CATALOG, actor=ADMIN)
    assert first.changed is True
    assert second.changed is False
    assert registry.verify().to_dict()["events"] == 1


def test_only_admins_may_change_a_catalog_whose_policy_names_admins(
    db_url: str, tmp_path: Path
) -> None:
    Registry.init(db_url, catalog=CATALOG, actor=ADMIN)
    changed = tmp_path / "catalog.yaml"
    changed.write_text(CATALOG.read_text().replace("bob@example.com", "mallory@example.com"))
    with pytest.raises(Refused):
        Registry.init(db_url, catalog=changed, actor="mallory@example.com")
    assert "mallory@example.com" not in Registry.open(db_url).catalog().policy.approvers


def test_a_catalog_cannot_drop_an_entry_that_has_versions(db_url: str, tmp_path: Path) -> None:
    registry, _ = Registry.init(db_url, catalog=CATALOG, actor=ADMIN)
    source = tmp_path / "prompt.txt"
    source.write_text("Answer politely.")
    registry.register("support-prompt", source)
    trimmed = tmp_path / "catalog.yaml"
    text = CATALOG.read_text().replace(
        "  support-prompt: {kind: prompt_template, owner: support-ml@example.com}\n", ""
    )
    trimmed.write_text(text.replace("support-prompt, ", ""))
    with pytest.raises(Conflict, match="support-prompt"):
        Registry.init(db_url, catalog=trimmed, actor=ADMIN)


def test_commands_on_a_missing_database_do_not_create_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "registry.db"
    with pytest.raises(NotFound):
        Registry.open(f"sqlite:///{missing}")
    assert not missing.exists()


def test_events_removed_from_the_end_of_the_ledger_are_detected(
    db_url: str, tmp_path: Path
) -> None:
    registry, _ = Registry.init(db_url, catalog=CATALOG, actor=ADMIN)
    for i in range(3):
        source = tmp_path / f"p{i}.txt"
        source.write_text(f"prompt {i}")
        registry.register("support-prompt", source)
    raw_sql(db_url, "DELETE FROM ledger WHERE seq = (SELECT max(seq) FROM ledger)")
    verdict = registry.verify().to_dict()
    assert verdict["ok"] is False
    assert verdict["broken_at"] == 4
    assert "removed from the end" in verdict["problem"]


def test_a_failed_write_leaves_no_trace(db_url: str, tmp_path: Path) -> None:
    registry, _ = Registry.init(db_url, catalog=CATALOG, actor=ADMIN)
    before = registry.verify().to_dict()["events"]
    source = tmp_path / "lora"
    source.mkdir()
    (source / "adapter.bin").write_bytes(b"weights")
    with pytest.raises(NotFound):
        registry.register(
            "support-lora",
            source,
            upstream=["llama-3-8b-instruct@1", "support-tickets-2026q3@1"],
        )
    assert raw_rows(db_url, "SELECT count(*) FROM versions") == [(0,)]
    assert raw_rows(db_url, "SELECT next_version FROM entries WHERE name='support-lora'") == [(1,)]
    assert registry.verify().to_dict()["events"] == before
