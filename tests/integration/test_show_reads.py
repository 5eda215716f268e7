"""``show`` reads a version in one statement (one more each for its evals and its A/B
results, when it has any), and answers exactly what the part-by-part reads say: the
version row, its open stage, its upstream edges, its latest card, its evals."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import promote_through, seed_example_estate
from sqlalchemy import event

from registry_pipeline.core.refs import parse_ref
from registry_pipeline.service import Registry, queries
from registry_pipeline.service.queries import resolve_ref
from registry_pipeline.store import evidence, stages, versions

pytestmark = pytest.mark.integration


@pytest.fixture
def estate(store_url: str, tmp_path: Path) -> Registry:
    """The example estate (support-bot@1 ready) on each backend."""
    registry: Registry = seed_example_estate(store_url, tmp_path)
    return registry


@contextmanager
def selects(registry: Registry) -> Iterator[list[str]]:
    """The SELECT statements run on ``registry``'s store meanwhile."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    engine = registry._ctx.store.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _part_by_part(registry: Registry, ref: str) -> dict[str, Any]:
    ctx = registry._ctx
    with ctx.store.read() as conn:
        v = resolve_ref(conn, ctx.catalog(conn), parse_ref(ref))
        stage = stages.current(conn, v.entry, v.number)
        card = evidence.latest_card(conn, v.entry, v.number)
        return {
            "version": v.number,
            "digest": v.digest,
            "params": dict(v.params),
            "stage": stage.stage.value if stage else None,
            "lineage": [u.to_dict() for u in versions.upstream_of(conn, v.entry, v.number)],
            "card": dict(card.fields) if card else None,
            "evals": [e.suite for e in evidence.eval_results(conn, v.entry, v.number)],
        }


def _shown(registry: Registry, ref: str) -> dict[str, Any]:
    _, view = queries._show(registry._ctx, parse_ref(ref))
    return {
        "version": view.version,
        "digest": view.digest,
        "params": dict(view.params),
        "stage": view.stage,
        "lineage": [u.to_dict() for u in view.lineage],
        "card": view.card,
        "evals": [e.suite for e in view.evals],
    }


@pytest.mark.parametrize(
    "ref",
    [
        "support-lora@1",  # two upstream edges
        "kb-index",  # the latest, with lineage
        "support-bot@1",  # a stack: evals and a card
        "support-bot@production",
        "bge-small-en@1",  # nothing but the row
    ],
)
def test_one_statement_answers_what_the_parts_say(
    estate: Registry, store_url: str, ref: str
) -> None:
    promote_through(store_url, "support-bot@1", "staging", "production")
    assert _shown(estate, ref) == _part_by_part(estate, ref)


def test_a_version_is_read_in_one_statement_and_its_evals_in_one_more(
    estate: Registry,
) -> None:
    with selects(estate) as plain:
        queries._show(estate._ctx, parse_ref("support-lora@1"))
    assert len(plain) == 1
    with selects(estate) as evaluated:
        view = queries._show(estate._ctx, parse_ref("support-bot@1"))[1]
    assert view.evals
    assert len(evaluated) == 2


@pytest.mark.parametrize(
    ("ref", "error"),
    [
        ("support-bot@7", "no version support-bot@7"),
        ("support-bot@production", "no version of support-bot is in production"),
        ("support-bot@candidate", "only staging and production have one holder"),
        ("no-such-entry", "no-such-entry"),
    ],
)
def test_what_names_no_version_is_said_as_before(estate: Registry, ref: str, error: str) -> None:
    with pytest.raises(Exception, match=error) as raised:
        estate.show(ref)
    assert type(raised.value).__name__ in {"NotFound", "BadInput"}
