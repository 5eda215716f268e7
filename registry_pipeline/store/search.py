"""Search indexes: versions by their params (tags) and by their eval metrics.

Rows here are derived: written in the transaction that records the version or the eval,
rebuilt by the migration that introduced them, never edited otherwise.

- ``version_params``: one row per top-level key of a version's params whose value, as text,
  fits in 256 characters (a string as itself, anything else as canonical JSON: ``0.001``,
  ``true``, ``["a", "b"]``). Longer values are not searchable by value.
- ``eval_metrics``: one row per finite numeric metric of each eval result.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, select

from registry_pipeline.store import dumps, loads, schema

KEY_LIMIT = 128
VALUE_LIMIT = 256
_INSERT_PARAMS = schema.version_params.insert()
_INSERT_METRICS = schema.eval_metrics.insert()


def param_text(value: Any) -> str:
    """How a param value is indexed and matched: a string as itself, else canonical JSON."""
    return value if isinstance(value, str) else dumps(value)


def _param_rows(entry: str, number: int, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key, value in params.items():
        shown = param_text(value)
        if len(key) <= KEY_LIMIT and len(shown) <= VALUE_LIMIT:
            rows.append({"entry": entry, "number": number, "key": key, "value": shown})
    return rows


def _metric_rows(
    eval_id: int, entry: str, number: int, suite: str, metrics: Mapping[str, Any]
) -> list[dict[str, Any]]:
    return [
        {
            "eval_id": eval_id,
            "metric": name,
            "entry": entry,
            "number": number,
            "suite": suite,
            "value": float(value),
        }
        for name, value in metrics.items()
        if len(name) <= KEY_LIMIT
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    ]


def index_params(conn: Connection, entry: str, number: int, params: Mapping[str, Any]) -> None:
    """Index the params of a version being recorded."""
    rows = _param_rows(entry, number, params)
    if rows:
        conn.execute(_INSERT_PARAMS, rows)


def index_metrics(
    conn: Connection, eval_id: int, entry: str, number: int, suite: str, metrics: Mapping[str, Any]
) -> None:
    """Index the metrics of an eval result being recorded."""
    rows = _metric_rows(eval_id, entry, number, suite, metrics)
    if rows:
        conn.execute(_INSERT_METRICS, rows)


def rebuild(conn: Connection) -> None:
    """Fill both indexes from every version and eval (the migration that adds them)."""
    conn.execute(schema.version_params.delete())
    conn.execute(schema.eval_metrics.delete())
    v, e = schema.versions, schema.evals
    _insert_chunks(
        conn,
        _INSERT_PARAMS,
        (
            row
            for entry, number, params in conn.execute(select(v.c.entry, v.c.number, v.c.params))
            for row in _param_rows(entry, number, loads(params))
        ),
    )
    columns = (e.c.id, e.c.entry, e.c.number, e.c.suite, e.c.metrics)
    _insert_chunks(
        conn,
        _INSERT_METRICS,
        (
            row
            for eval_id, entry, number, suite, metrics in conn.execute(select(*columns))
            for row in _metric_rows(eval_id, entry, number, suite, loads(metrics))
        ),
    )


def _insert_chunks(conn: Connection, statement: Any, rows: Iterable[dict[str, Any]]) -> None:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == 5000:
            conn.execute(statement, chunk)
            chunk = []
    if chunk:
        conn.execute(statement, chunk)


@dataclass(frozen=True, slots=True, kw_only=True)
class Hit:
    """One version a search found."""

    entry: str
    number: int
    digest: str
    params: Mapping[str, Any]
    created_at: str
    created_by: str
    stage: str | None
    metric: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Metric:
    """A metric threshold: versions with an eval of ``name`` within [at_least, at_most]."""

    name: str
    at_least: float | None = None
    at_most: float | None = None
    suite: str | None = None


def versions(
    conn: Connection,
    *,
    params: Sequence[tuple[str, str]] = (),
    metric: Metric | None = None,
    entry: str | None = None,
    limit: int,
) -> list[Hit]:
    """Versions carrying every ``(key, value text)`` of ``params`` and, with ``metric``, an
    eval within its range (the best such value reported), by entry and number; at most
    ``limit``."""
    v, s = schema.versions, schema.stage_assignments
    query = select(
        v.c.entry, v.c.number, v.c.digest, v.c.params, v.c.created_at, v.c.created_by, s.c.stage
    )
    source: Any = v
    for i, (key, value) in enumerate(params):
        p = schema.version_params.alias(f"p{i}")
        source = source.join(
            p,
            and_(
                p.c.entry == v.c.entry,
                p.c.number == v.c.number,
                p.c.key == key,
                p.c.value == value,
            ),
        )
    if metric is not None:
        m = schema.eval_metrics
        best = select(m.c.entry, m.c.number, func.max(m.c.value).label("value")).where(
            m.c.metric == metric.name
        )
        if metric.at_least is not None:
            best = best.where(m.c.value >= metric.at_least)
        if metric.at_most is not None:
            best = best.where(m.c.value <= metric.at_most)
        if metric.suite is not None:
            best = best.where(m.c.suite == metric.suite)
        found = best.group_by(m.c.entry, m.c.number).subquery("best")
        source = source.join(found, and_(found.c.entry == v.c.entry, found.c.number == v.c.number))
        query = query.add_columns(found.c.value)
    source = source.outerjoin(
        s, and_(s.c.entry == v.c.entry, s.c.number == v.c.number, s.c.effective_to.is_(None))
    )
    query = query.select_from(source)
    if entry is not None:
        query = query.where(v.c.entry == entry)
    rows: list[tuple[Any, ...]] = [
        tuple(r) for r in conn.execute(query.order_by(v.c.entry, v.c.number).limit(limit))
    ]
    return [
        Hit(
            entry=r[0],
            number=r[1],
            digest=r[2],
            params=loads(r[3]),
            created_at=r[4],
            created_by=r[5],
            stage=r[6],
            metric=float(r[7]) if metric is not None else None,
        )
        for r in rows
    ]
