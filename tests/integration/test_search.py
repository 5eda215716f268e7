"""Versions by tag and eval metric, from the store's search indexes: found the moment they
are recorded (no inventory rebuild), on SQLite and PostgreSQL, through the CLI and HTTP."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import (
    EXAMPLES,
    SUPPORT_BOT_PINS,
    Result,
    make_ready,
    raw_rows,
    raw_sql,
    register_support_components,
)

from registry_pipeline.errors import BadInput, NotFound
from registry_pipeline.service import Registry
from registry_pipeline.service.search import SearchResult

pytestmark = pytest.mark.integration
ADMIN = "carol@example.com"


def _estate(url: str, root: Path) -> tuple[Registry, Registry]:
    """The example estate (support-bot@1 with accuracy 0.9) and bge-small-en's owner."""
    Registry.init(url, catalog=EXAMPLES, actor=ADMIN)
    support = register_support_components(url, root)
    support.register_stack("support-bot", SUPPORT_BOT_PINS)
    make_ready(support, "support-bot@1")
    owner = Registry.open(url, actor=Registry.open(url).catalog().entry("bge-small-en").owner)
    return support, owner


def _found(result: SearchResult) -> list[str]:
    return [f"{v['entry']}@{v['version']}" for v in result.to_dict()["versions"]]


def test_versions_are_found_by_tag_and_metric_as_soon_as_they_are_recorded(
    store_url: str, tmp_path: Path, artifacts: Callable[[str, dict[str, bytes]], Path]
) -> None:
    support, owner = _estate(store_url, tmp_path)
    owner.register(
        "bge-small-en", artifacts("a", {"m": b"a"}), params={"dataset": "web", "lr": 0.001}
    )
    owner.register("bge-small-en", artifacts("b", {"m": b"b"}), params={"dataset": "code"})
    reader = Registry.open(store_url, actor=ADMIN)
    assert _found(reader.search(params={"dataset": "web"})) == ["bge-small-en@2"]
    assert _found(reader.search(params={"dataset": "web", "lr": "0.001"})) == ["bge-small-en@2"]
    assert _found(reader.search(params={"dataset": "web", "lr": "0.01"})) == []
    # registered a moment ago, through another store: the next search includes it
    owner.register("bge-small-en", artifacts("c", {"m": b"c"}), params={"dataset": "web"})
    found = reader.search(params={"dataset": "web"}).to_dict()
    assert [v["version"] for v in found["versions"]] == [2, 4]
    assert found["versions"][1]["stage"] == "candidate"
    assert found["versions"][1]["params"] == {"dataset": "web"}
    assert found["ledger_seq"] == reader.ledger_head().seq
    assert found["truncated"] is False
    cut = reader.search(params={"dataset": "web"}, limit=1).to_dict()
    assert [v["version"] for v in cut["versions"]] == [2]
    assert cut["truncated"] is True
    assert _found(reader.search(params={"dataset": "web"}, entry="support-lora")) == []

    accurate = reader.search(metric="accuracy", at_least=0.85).to_dict()["versions"]
    assert [(v["entry"], v["version"], v["metric"]) for v in accurate] == [("support-bot", 1, 0.9)]
    assert _found(reader.search(metric="accuracy", at_least=0.95)) == []
    assert _found(reader.search(metric="accuracy", at_most=0.5)) == []
    assert _found(reader.search(metric="accuracy", suite="kb-index")) == []
    support.ingest_evals("support-bot@1", {"accuracy": 0.97}, suite="support-evals@1")
    best = reader.search(metric="accuracy", at_least=0.95).to_dict()["versions"]
    assert [(v["entry"], v["metric"]) for v in best] == [("support-bot", 0.97)]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({}, "needs a param"),
        ({"params": {"": "x"}}, "param name"),
        ({"params": {"k": "v" * 300}}, "not indexed"),
        ({"params": {f"k{i}": "v" for i in range(9)}}, "at most 8"),
        ({"params": {"k": "v"}, "at_least": 1.0}, "needs the metric"),
        ({"metric": "accuracy", "at_least": 0.9, "at_most": 0.1}, "is empty"),
        ({"metric": "accuracy", "at_least": float("inf")}, "finite"),
        ({"metric": "accuracy", "limit": 0}, "between 1 and"),
        ({"metric": "accuracy", "entry": "Not A Name"}, "entry name"),
    ],
)
def test_a_malformed_search_is_bad_input(db_url: str, query: dict[str, object], words: str) -> None:
    Registry.init(db_url, catalog=EXAMPLES, actor=ADMIN)
    with pytest.raises(BadInput, match=words):
        Registry.open(db_url).search(**query)


def test_a_search_in_an_entry_the_catalog_lacks_is_not_found(db_url: str) -> None:
    Registry.init(db_url, catalog=EXAMPLES, actor=ADMIN)
    with pytest.raises(NotFound, match="nope"):
        Registry.open(db_url).search(params={"k": "v"}, entry="nope")


def test_the_upgrade_indexes_what_an_older_registry_recorded(
    db_url: str, tmp_path: Path, artifacts: Callable[[str, dict[str, bytes]], Path]
) -> None:
    _, owner = _estate(db_url, tmp_path)
    owner.register("bge-small-en", artifacts("a", {"m": b"a"}), params={"dataset": "web"})
    # the registry as schema 8 left it: no search indexes
    raw_sql(
        db_url,
        "DELETE FROM version_params",
        "DELETE FROM eval_metrics",
        "DELETE FROM schema_migrations WHERE version = 9",
    )
    Registry.init(db_url, actor=ADMIN)
    reader = Registry.open(db_url)
    assert _found(reader.search(params={"dataset": "web"})) == ["bge-small-en@2"]
    assert _found(reader.search(metric="accuracy", at_least=0.5)) == ["support-bot@1"]
    assert raw_rows(db_url, "SELECT COUNT(*) FROM eval_metrics") == [(2,)]


def test_the_cli_searches_and_refuses_a_malformed_search_in_one_line(
    db_url: str, tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    _estate(db_url, tmp_path)
    done = run_cli("search", "--metric", "accuracy", "--min", "0.8", json=True)
    assert done.code == 0, done.stderr
    rows = done.json()["versions"]
    assert [(r["entry"], r["version"], r["metric"]) for r in rows] == [("support-bot", 1, 0.9)]
    table = run_cli("search", "--metric", "accuracy", "--min", "0.8")
    assert "support-bot@1" in table.stdout
    assert "METRIC" in table.stdout
    for args, words in (
        (("search",), "needs a param"),
        (("search", "--param", "dataset"), "must be KEY=VALUE"),
        (("search", "--metric", "accuracy", "--min", "x"), "not a valid float"),
        (("search", "--metric", "accuracy", "--min", "2", "--max", "1"), "is empty"),
        (("search", "--param", "a=b", "--limit", "0"), "between 1 and"),
    ):
        bad = run_cli(*args)
        assert bad.code == 2, (args, bad.stderr)
        assert words in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1
        assert "Traceback" not in bad.stderr
