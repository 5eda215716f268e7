"""A stage's holder is found through the partial unique index that guarantees there is one,
not by reading every row the entry ever had in that stage: on SQLite (whose planner uses
a partial index only when the query states the index's own terms) and in answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import (
    EXAMPLES,
    SUPPORT_BOT_PINS,
    make_ready,
    promote_through,
    register_support_components,
)
from sqlalchemy.dialects import sqlite

from registry_pipeline.core.stages import SINGLE_HOLDER_STAGES, Stage
from registry_pipeline.service import Registry
from registry_pipeline.store import Store, schema, stages
from registry_pipeline.store.shown import _STATEMENTS

pytestmark = pytest.mark.integration


def _plan(store: Store, statement: object) -> str:
    compiled = statement.compile(dialect=sqlite.dialect())  # type: ignore[attr-defined]
    values = {**compiled.params, "entry": "support-bot", "stage": "production", "number": 1}
    raw = store.engine.raw_connection()
    try:
        rows = raw.cursor().execute(
            f"EXPLAIN QUERY PLAN {compiled}", [values[name] for name in compiled.positiontup]
        )
        return "\n".join(str(row[-1]) for row in rows)
    finally:
        raw.close()


def test_the_single_holder_stages_are_the_ones_the_index_names() -> None:
    assert {Stage(s) for s in schema.SINGLE_HOLDERS} == SINGLE_HOLDER_STAGES


@pytest.mark.parametrize("statement", [stages._HOLDER, _STATEMENTS["stage"]])
def test_a_holder_lookup_reads_the_partial_unique_index(tmp_path: Path, statement: object) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    Registry.init(url, catalog=EXAMPLES, actor="carol@example.com")
    store = Store.open(url)
    try:
        assert "USING INDEX uq_stage_single_holder" in _plan(store, statement)
    finally:
        store.dispose()


def test_holders_are_answered_after_many_promotions(tmp_path: Path) -> None:
    """Three rounds through production: the holder is the newest, by every read."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    Registry.init(url, catalog=EXAMPLES, actor="carol@example.com")
    for round_ in (1, 2, 3):
        owner = register_support_components(url, tmp_path, round_=round_)
        owner.register_stack(
            "support-bot", [p.replace("@1", f"@{round_}") for p in SUPPORT_BOT_PINS]
        )
        make_ready(owner, f"support-bot@{round_}")
        promote_through(url, f"support-bot@{round_}", "staging", "production")
    assert owner.show("support-bot@production").version == 3
    store = Store.open(url)
    try:
        with store.read() as conn:
            held = stages.holder(conn, "support-bot", Stage.PRODUCTION)
            assert held is not None
            assert held.number == 3
            assert stages.holders(conn)[("support-bot", Stage.PRODUCTION)] == 3
            archived = stages.in_stage(conn, Stage.ARCHIVED, entry="support-bot")
            assert [a.number for a in archived] == [1, 2]
    finally:
        store.dispose()
