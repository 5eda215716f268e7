"""A consistent snapshot of the registry for the compliance exports.

Read in one transaction, so every table agrees with the ledger head it records. Rows are
plain dicts (JSON-ready, never driver rows); times are the stored ISO 8601 UTC text. Eval
results are also given as core :class:`EvalResult` values, for the rules that judge them.
The ledger itself is not loaded (it can be millions of rows).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Connection, select

from registry_pipeline.core.catalog import Catalog
from registry_pipeline.core.evals import EvalResult
from registry_pipeline.core.times import format_time
from registry_pipeline.store import Store, catalogs, evidence, ledger, loads, schema

Row = dict[str, Any]


class SnapshotSource(Protocol):
    """What a snapshot is read from: a store and the catalog current in a transaction
    (``Registry`` is one)."""

    @property
    def store(self) -> Store:
        """The registry's store."""
        ...

    def catalog_in(self, conn: Connection) -> Catalog:
        """The catalog current in the transaction of ``conn``."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """Everything the exports need, as of one ledger head."""

    catalog: Catalog
    catalog_digest: str | None
    head_seq: int
    head_hash: str
    head_time: str
    taken_at: str
    versions: list[Row]
    lineage: list[Row]
    evals: list[Row]
    eval_results: list[EvalResult]
    cards: dict[tuple[str, int], Row]
    requests: list[Row]
    approvals: list[Row]
    gates: list[Row]
    stages: list[Row]
    _by_version: dict[tuple[str, int], Row] = field(default_factory=dict)
    _upstream: dict[tuple[str, int], list[Row]] = field(default_factory=dict)
    _results: dict[tuple[str, int], list[EvalResult]] = field(default_factory=dict)

    @property
    def as_of(self) -> dict[str, Any]:
        """``{ledger_seq, ledger_head, time}``: what every export records."""
        return {"ledger_seq": self.head_seq, "ledger_head": self.head_hash, "time": self.head_time}

    def version(self, entry: str, number: int) -> Row:
        """One version row."""
        if not self._by_version:
            self._by_version.update({(v["entry"], v["version"]): v for v in self.versions})
        return self._by_version[(entry, number)]

    def holder(self, entry: str, stage: str = "production") -> Row | None:
        """The open assignment holding ``stage`` for ``entry``."""
        for s in self.stages:
            if s["entry"] == entry and s["stage"] == stage and s["effective_to"] is None:
                return s
        return None

    def upstream(self, entry: str, number: int) -> list[Row]:
        """Direct upstream edges of a version."""
        if not self._upstream:
            self._upstream[("", 0)] = []
            for e in self.lineage:
                self._upstream.setdefault((e["entry"], e["version"]), []).append(e)
        return self._upstream.get((entry, number), [])

    def upstream_closure(self, entry: str, number: int) -> list[tuple[str, int]]:
        """Every version ``entry@number`` is built from, transitively, each once, nearest
        first (``(entry, version)`` pairs, the version itself excluded)."""
        seen = {(entry, number)}
        order: list[tuple[str, int]] = []
        queue = [(entry, number)]
        while queue:
            current = queue.pop(0)
            for e in self.upstream(*current):
                key = (e["upstream_entry"], e["upstream_version"])
                if key not in seen:
                    seen.add(key)
                    order.append(key)
                    queue.append(key)
        return order

    def evals_of(self, entry: str, number: int) -> list[Row]:
        """Eval results (one row per metric) of a version."""
        return [e for e in self.evals if e["entry"] == entry and e["version"] == number]

    def eval_results_of(self, entry: str, number: int) -> list[EvalResult]:
        """Eval results of a version as core values, oldest first."""
        if not self._results:
            self._results[("", 0)] = []
            for r in self.eval_results:
                self._results.setdefault((r.entry, r.version), []).append(r)
        return self._results.get((entry, number), [])

    def history(self, entry: str) -> list[Row]:
        """Stage assignments of an entry, oldest first."""
        return [s for s in self.stages if s["entry"] == entry]

    def production_stack(self, workload: str) -> tuple[Row, list[Row]] | None:
        """The production stack version of a workload and its pinned component versions."""
        spec = self.catalog.workload(workload)
        held = self.holder(spec.stack)
        if held is None:
            return None
        stack = self.version(spec.stack, held["version"])
        components = [
            self.version(e["upstream_entry"], e["upstream_version"])
            for e in self.upstream(spec.stack, held["version"])
        ]
        return stack, components


def take_snapshot(source: SnapshotSource) -> Snapshot:
    """Read the whole registry (but the ledger rows) in one read transaction."""
    with source.store.read() as conn:
        catalog = source.catalog_in(conn)
        latest = catalogs.latest_digest(conn)
        head = ledger.head(conn)
        results = evidence.all_eval_results(conn)
        return Snapshot(
            catalog=catalog,
            catalog_digest=latest[1] if latest else None,
            head_seq=head.seq,
            head_hash=head.hash,
            head_time=head.recorded_at,
            taken_at=head.recorded_at,
            versions=_versions(conn),
            lineage=_rows(
                conn,
                schema.lineage,
                rename={"number": "version", "upstream_number": "upstream_version"},
            ),
            evals=_metric_rows(results),
            eval_results=results,
            cards=_cards(conn),
            requests=_rows(conn, schema.requests, rename={"number": "version"}),
            approvals=_approvals(conn),
            gates=_rows(conn, schema.gate_results),
            stages=_stages(conn),
        )


def _rows(conn: Connection, table: Any, *, rename: dict[str, str] | None = None) -> list[Row]:
    names = rename or {}
    return [
        {names.get(k, k): v for k, v in r.items()} for r in conn.execute(select(table)).mappings()
    ]


def _versions(conn: Connection) -> list[Row]:
    stage_of = {
        (r["entry"], r["number"]): r["stage"]
        for r in conn.execute(
            select(
                schema.stage_assignments.c.entry,
                schema.stage_assignments.c.number,
                schema.stage_assignments.c.stage,
            ).where(schema.stage_assignments.c.effective_to.is_(None))
        ).mappings()
    }
    upstream: dict[tuple[str, int], list[str]] = defaultdict(list)
    for r in conn.execute(select(schema.lineage)).mappings():
        upstream[(r["entry"], r["number"])].append(f"{r['upstream_entry']}@{r['upstream_number']}")
    t = schema.versions
    out = []
    for r in conn.execute(
        select(
            t.c.entry,
            t.c.number,
            t.c.digest,
            t.c.size,
            t.c.file_count,
            t.c.source,
            t.c.params,
            t.c.created_at,
            t.c.created_by,
        ).order_by(t.c.entry, t.c.number)
    ).mappings():
        key = (r["entry"], r["number"])
        out.append(
            {
                "entry": r["entry"],
                "version": r["number"],
                "digest": r["digest"],
                "size": r["size"],
                "file_count": r["file_count"],
                "source": r["source"],
                "params": loads(r["params"]),
                "upstream": sorted(upstream.get(key, [])),
                "stage": stage_of.get(key),
                "created_at": r["created_at"],
                "created_by": r["created_by"],
            }
        )
    return out


def _metric_rows(results: list[EvalResult]) -> list[Row]:
    out = []
    for r in results:
        for metric, value in sorted(r.metrics.items()):
            out.append(
                {
                    "eval_id": r.id,
                    "entry": r.entry,
                    "version": r.version,
                    "suite": r.suite,
                    "suite_version": r.suite_version,
                    "metric": metric,
                    "value": value,
                    "produced_at": format_time(r.produced_at),
                    "recorded_at": format_time(r.recorded_at),
                    "recorded_by": r.recorded_by,
                }
            )
    return out


def _cards(conn: Connection) -> dict[tuple[str, int], Row]:
    latest: dict[tuple[str, int], Row] = {}
    for r in conn.execute(select(schema.cards).order_by(schema.cards.c.id)).mappings():
        latest[(r["entry"], r["number"])] = {
            "fields": loads(r["fields"]),
            "set_at": r["set_at"],
            "set_by": r["set_by"],
            "body": r["body"] or "",
            "front_matter": loads(r["front_matter"]) if r["front_matter"] else {},
        }
    return latest


def _approvals(conn: Connection) -> list[Row]:
    a, q = schema.approvals, schema.requests
    query = (
        select(a, q.c.entry, q.c.number.label("version"), q.c.target, q.c.requester)
        .join(q, q.c.id == a.c.request_id)
        .order_by(a.c.id)
    )
    return [
        {**{k: v for k, v in r.items() if k != "signature"}, "signed": r["signature"] is not None}
        for r in conn.execute(query).mappings()
    ]


def _stages(conn: Connection) -> list[Row]:
    s, q = schema.stage_assignments, schema.requests
    query = (
        select(s, q.c.requester)
        .outerjoin(q, q.c.id == s.c.request_id)
        .order_by(s.c.effective_from, s.c.id)
    )
    return [
        {
            "entry": r["entry"],
            "version": r["number"],
            "stage": r["stage"],
            "effective_from": r["effective_from"],
            "effective_to": r["effective_to"],
            "actor": r["actor"],
            "reason": r["reason"],
            "cause": r["cause"],
            "request_id": r["request_id"],
            "requester": r["requester"],
            "approved_by": loads(r["approved_by"]),
            "ledger_seq": r["ledger_seq"],
        }
        for r in conn.execute(query).mappings()
    ]
