"""The store on a real SQLite file: migrations, WAL, catalog reloads, ledger truncation."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from registry_pipeline.errors import Conflict, NotFound, Refused
from registry_pipeline.service import Registry
from registry_pipeline.store import migrations

pytestmark = pytest.mark.integration

CATALOG = Path(__file__).parents[1] / "fixtures" / "catalog.yaml"
ADMIN = "carol@example.com"


def _file(db_url: str) -> Path:
    return Path(db_url.removeprefix("sqlite:///"))


def test_init_records_migrations_and_uses_wal(db_url: str) -> None:
    Registry.init(db_url, catalog=CATALOG, actor=ADMIN)
    with sqlite3.connect(_file(db_url)) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert versions == [m.version for m in migrations.MIGRATIONS]
    assert mode == "wal"


def test_reloading_the_same_catalog_records_nothing(db_url: str) -> None:
    registry, first = Registry.init(db_url, catalog=CATALOG, actor=ADMIN)
    _, second = Registry.init(db_url, catalog=CATALOG, actor=ADMIN)
    assert first["changed"] is True
    assert second["changed"] is False
    assert registry.verify()["events"] == 1


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
    with sqlite3.connect(_file(db_url)) as conn:
        conn.execute("DELETE FROM ledger WHERE seq = (SELECT max(seq) FROM ledger)")
    verdict = registry.verify()
    assert verdict["ok"] is False
    assert verdict["broken_at"] == 4
    assert "removed from the end" in verdict["problem"]


def test_a_failed_write_leaves_no_trace(db_url: str, tmp_path: Path) -> None:
    registry, _ = Registry.init(db_url, catalog=CATALOG, actor=ADMIN)
    before = registry.verify()["events"]
    source = tmp_path / "lora"
    source.mkdir()
    (source / "adapter.bin").write_bytes(b"weights")
    with pytest.raises(NotFound):
        registry.register(
            "support-lora",
            source,
            upstream=["llama-3-8b-instruct@1", "support-tickets-2026q3@1"],
        )
    with sqlite3.connect(_file(db_url)) as conn:
        assert conn.execute("SELECT count(*) FROM versions").fetchone()[0] == 0
        assert (
            conn.execute("SELECT next_version FROM entries WHERE name='support-lora'").fetchone()[0]
            == 1
        )
    assert registry.verify()["events"] == before
