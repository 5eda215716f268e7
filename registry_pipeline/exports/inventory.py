"""The analysts' inventory: DuckDB tables and Parquet files rebuilt from the store.

Published atomically: each build goes to ``<root>/builds/<seq>-<time>/`` and then the
``<root>/current`` symlink is swapped to it with one rename. An analyst's open DuckDB
session keeps reading its build (files are never rewritten in place), never blocks the
pipeline, and never sees a half-written table. Every table carries ``as_of_seq`` and
``as_of_time``; the views answer the questions auditors ask.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from registry_pipeline.core.stages import Stage
from registry_pipeline.errors import BadInput, NotFound
from registry_pipeline.exports.snapshot import Snapshot, ledger_columns, take_snapshot
from registry_pipeline.service import Registry

DEFAULT_ROOT = ".registry/inventory"
DATABASE = "inventory.duckdb"
KEEP_BUILDS = 3
DEFAULT_REVIEW_DAYS = 365

TIME_COLUMNS = {
    "created_at",
    "produced_at",
    "recorded_at",
    "decided_at",
    "effective_from",
    "effective_to",
    "set_at",
    "since",
    "evaluated_at",
}

VIEWS = {
    "production_now": """
        -- What is in production for each workload now, and who approved it.
        SELECT w.workload, s.entry AS stack, s.version, v.digest, s.effective_from AS since,
               s.approved_by, s.requester, s.request_id
        FROM workloads w
        JOIN stage_history s ON s.entry = w.stack AND s.stage = 'production'
             AND s.effective_to IS NULL
        JOIN versions v ON v.entry = s.entry AND v.version = s.version
    """,
    "production_holders": """
        -- Every version that holds production for its entry now.
        SELECT s.entry, e.kind, s.version, v.digest, s.effective_from AS since,
               s.approved_by, s.requester, s.request_id
        FROM stage_history s
        JOIN entries e ON e.entry = s.entry
        JOIN versions v ON v.entry = s.entry AND v.version = s.version
        WHERE s.stage = 'production' AND s.effective_to IS NULL
    """,
    "production_without_passing_eval": """
        -- Production holders with no eval result, or whose promotion's evals gate failed.
        SELECT p.*, g.passed AS evals_gate_passed, g.detail AS evals_gate_detail
        FROM production_holders p
        LEFT JOIN gate_results g ON g.request_id = p.request_id AND g.name = 'evals'
        WHERE NOT EXISTS (SELECT 1 FROM eval_results r
                          WHERE r.entry = p.entry AND r.version = p.version)
           OR g.passed IS DISTINCT FROM TRUE
    """,
    "production_without_second_approver": """
        -- Production holders approved by nobody other than the person who requested them.
        SELECT * FROM production_holders
        WHERE len(list_filter(approved_by, lambda a: a IS DISTINCT FROM requester)) = 0
    """,
    "entries_without_owner": """
        SELECT * FROM entries WHERE owner IS NULL OR trim(owner) = ''
    """,
    "approvals_due_for_review": """
        -- Production holders whose approval is older than the policy's review period.
        SELECT p.*, e.review_every_days,
               p.since + to_days(CAST(e.review_every_days AS INTEGER)) AS review_due
        FROM production_holders p JOIN entries e ON e.entry = p.entry
        WHERE p.since + to_days(CAST(e.review_every_days AS INTEGER)) <= now()
    """,
}

MACROS = {
    "production_at": """
        -- What was in production for each workload at instant t, and who approved it.
        (t) AS TABLE
        SELECT w.workload, s.entry AS stack, s.version, v.digest, s.effective_from,
               s.effective_to, s.approved_by, s.requester, s.request_id
        FROM workloads w
        JOIN stage_history s ON s.entry = w.stack AND s.stage = 'production'
             AND s.effective_from <= CAST(t AS TIMESTAMPTZ)
             AND (s.effective_to IS NULL OR s.effective_to > CAST(t AS TIMESTAMPTZ))
        JOIN versions v ON v.entry = s.entry AND v.version = s.version
    """,
    "downstream_of": """
        -- Every version built from (entry, version), all the way down.
        (e, v) AS TABLE
        WITH RECURSIVE down(entry, version, depth, path) AS (
            SELECT l.entry, l.version, 1, [e || '@' || v, l.entry || '@' || l.version]
            FROM lineage_edges l WHERE l.upstream_entry = e AND l.upstream_version = v
            UNION ALL
            SELECT l.entry, l.version, d.depth + 1, list_append(d.path, l.entry || '@' || l.version)
            FROM lineage_edges l JOIN down d
              ON l.upstream_entry = d.entry AND l.upstream_version = d.version
            WHERE d.depth < 64
        )
        SELECT entry, version, min(depth) AS depth FROM down GROUP BY entry, version
    """,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Published:
    """A published inventory build."""

    root: Path
    build: Path
    database: Path
    as_of_seq: int
    as_of_time: str
    tables: dict[str, int]


def inventory_root(value: str | Path | None = None) -> Path:
    """``value``, else ``REGISTRY_INVENTORY``, else ``.registry/inventory``."""
    return Path(value or os.environ.get("REGISTRY_INVENTORY") or DEFAULT_ROOT)


def current_database(root: Path) -> Path:
    """The published DuckDB file under ``root``; raises :class:`NotFound` if none."""
    database = root / "current" / DATABASE
    if not database.exists():
        raise NotFound(
            f"no inventory published under {root}",
            hint="build one with `registry export inventory --out DIR` (or run any `registry sql`)",
        )
    return database


def published_seq(root: Path) -> int | None:
    """The ledger seq of the published build, or ``None``."""
    try:
        return int(json.loads((root / "current" / "as_of.json").read_text())["ledger_seq"])
    except (OSError, ValueError, KeyError):
        return None


def entries_table(snap: Snapshot) -> list[dict[str, Any]]:
    """One row per catalog entry with its workloads, lineage declarations and policy facts."""
    workloads: dict[str, list[str]] = {}
    for w in snap.catalog.workloads.values():
        workloads.setdefault(w.stack, []).append(w.name)
    counts: dict[str, int] = {}
    latest: dict[str, int] = {}
    for v in snap.versions:
        counts[v["entry"]] = counts.get(v["entry"], 0) + 1
        latest[v["entry"]] = max(latest.get(v["entry"], 0), v["version"])
    policy = snap.catalog.policy
    rows = []
    for name, e in sorted(snap.catalog.entries.items()):
        rule = policy.rule_for(Stage.PRODUCTION, snap.catalog.risk_class(name))
        rows.append(
            {
                "entry": name,
                "kind": e.kind.value,
                "owner": e.owner,
                "description": e.description,
                "license": e.license,
                "risk_class": snap.catalog.risk_class(name),
                "intended_use": e.intended_use,
                "upstream": list(e.upstream),
                "components": list(e.components),
                "evaluates": list(e.evaluates),
                "workloads": sorted(workloads.get(name, [])),
                "versions": counts.get(name, 0),
                "latest_version": latest.get(name),
                "review_every_days": rule.review_every_days or DEFAULT_REVIEW_DAYS,
            }
        )
    return rows


def tables(snap: Snapshot) -> dict[str, list[dict[str, Any]]]:
    """Every inventory table but the ledger, as rows."""
    stage_history = [{**s, "approvers": len(s["approved_by"])} for s in snap.stages]
    deployments = []
    for w in sorted(snap.catalog.workloads.values(), key=lambda w: w.name):
        held = snap.holder(w.stack)
        targets = w.targets or ()
        for target in targets or [None]:
            deployments.append(
                {
                    "workload": w.name,
                    "target": target.name if target else None,
                    "manifest": target.manifest if target else None,
                    "stack": w.stack,
                    "version": held["version"] if held else None,
                    "digest": snap.version(w.stack, held["version"])["digest"] if held else None,
                    "since": held["effective_from"] if held else None,
                }
            )
    return {
        "entries": entries_table(snap),
        "workloads": [
            {"workload": w.name, "stack": w.stack, "targets": [t.name for t in w.targets]}
            for w in sorted(snap.catalog.workloads.values(), key=lambda w: w.name)
        ],
        "versions": [
            {**v, "params": json.dumps(v["params"], sort_keys=True)} for v in snap.versions
        ],
        "lineage_edges": snap.lineage,
        "eval_results": snap.evals,
        "promotion_requests": snap.requests,
        "approvals": snap.approvals,
        "gate_results": snap.gates,
        "stage_history": stage_history,
        "deployments": deployments,
    }


SCHEMAS: dict[str, dict[str, pa.DataType]] = {
    "entries": {"latest_version": pa.int64(), "review_every_days": pa.float64()},
    "versions": {"stage": pa.string()},
    "promotion_requests": {"decided_at": pa.string()},
    "stage_history": {
        "effective_to": pa.string(),
        "request_id": pa.int64(),
        "requester": pa.string(),
    },
    "deployments": {
        "target": pa.string(),
        "manifest": pa.string(),
        "version": pa.int64(),
        "digest": pa.string(),
        "since": pa.string(),
    },
}

EMPTY_COLUMNS: dict[str, dict[str, pa.DataType]] = {
    "lineage_edges": {
        "entry": pa.string(),
        "version": pa.int64(),
        "upstream_entry": pa.string(),
        "upstream_version": pa.int64(),
        "relation": pa.string(),
    },
    "eval_results": {
        "eval_id": pa.int64(),
        "entry": pa.string(),
        "version": pa.int64(),
        "suite": pa.string(),
        "suite_version": pa.int64(),
        "metric": pa.string(),
        "value": pa.float64(),
        "produced_at": pa.string(),
        "recorded_at": pa.string(),
        "recorded_by": pa.string(),
    },
    "promotion_requests": {
        "id": pa.int64(),
        "entry": pa.string(),
        "version": pa.int64(),
        "digest": pa.string(),
        "target": pa.string(),
        "requester": pa.string(),
        "reason": pa.string(),
        "status": pa.string(),
        "created_at": pa.string(),
        "decided_at": pa.string(),
    },
    "approvals": {
        "id": pa.int64(),
        "request_id": pa.int64(),
        "approver": pa.string(),
        "decision": pa.string(),
        "reason": pa.string(),
        "digest": pa.string(),
        "created_at": pa.string(),
        "entry": pa.string(),
        "version": pa.int64(),
        "target": pa.string(),
        "requester": pa.string(),
        "signed": pa.bool_(),
    },
    "gate_results": {
        "id": pa.int64(),
        "request_id": pa.int64(),
        "ledger_seq": pa.int64(),
        "evaluated_at": pa.string(),
        "name": pa.string(),
        "passed": pa.bool_(),
        "detail": pa.string(),
    },
    "stage_history": {
        "entry": pa.string(),
        "version": pa.int64(),
        "stage": pa.string(),
        "effective_from": pa.string(),
        "effective_to": pa.string(),
        "actor": pa.string(),
        "reason": pa.string(),
        "cause": pa.string(),
        "request_id": pa.int64(),
        "requester": pa.string(),
        "approved_by": pa.list_(pa.string()),
        "ledger_seq": pa.int64(),
        "approvers": pa.int64(),
    },
    "versions": {
        "entry": pa.string(),
        "version": pa.int64(),
        "digest": pa.string(),
        "size": pa.int64(),
        "file_count": pa.int64(),
        "source": pa.string(),
        "params": pa.string(),
        "upstream": pa.list_(pa.string()),
        "stage": pa.string(),
        "created_at": pa.string(),
        "created_by": pa.string(),
    },
}


def _arrow(name: str, rows: list[dict[str, Any]], snap: Snapshot) -> pa.Table:
    if not rows:
        columns = EMPTY_COLUMNS.get(name)
        if columns is None:
            raise ValueError(f"table {name} has no rows and no declared columns")
        fields = [pa.field(k, t) for k, t in columns.items()]
    else:
        hints = SCHEMAS.get(name, {}) | EMPTY_COLUMNS.get(name, {})
        fields = [
            pa.field(k, hints[k])
            if k in hints
            else pa.field(k, pa.array([r[k] for r in rows]).type)
            for k in rows[0]
        ]
    schema = pa.schema(fields)
    columns = {f.name: pa.array([r.get(f.name) for r in rows], f.type) for f in schema}
    table = pa.table(columns, schema=schema)
    return _stamp(table, snap)


def _stamp(table: pa.Table, snap: Snapshot) -> pa.Table:
    n = table.num_rows
    table = table.append_column("as_of_seq", pa.array([snap.head_seq] * n, pa.int64()))
    return table.append_column("as_of_time", pa.array([snap.head_time] * n, pa.string()))


def _load(db: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    casts = ", ".join(
        f'CAST("{c}" AS TIMESTAMPTZ) AS "{c}"'
        for c in table.column_names
        if c in TIME_COLUMNS or c == "as_of_time"
    )
    db.register("incoming", table)
    select = f"SELECT * REPLACE ({casts}) FROM incoming" if casts else "SELECT * FROM incoming"
    db.execute(f'CREATE TABLE "{name}" AS {select}')
    db.unregister("incoming")


def build(registry: Registry, root: str | Path) -> Published:
    """Rebuild the inventory from the store and publish it atomically under ``root``."""
    base = Path(root)
    if base.exists() and not base.is_dir():
        raise BadInput(f"{base} exists and is not a folder; pass a folder for the inventory")
    builds = base / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    snap = take_snapshot(registry)
    stamp = snap.head_time.replace(":", "").replace("-", "").replace(".", "")
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=builds))
    try:
        counts = _write(registry, snap, work)
        work.chmod(0o755)
        final = builds / f"{snap.head_seq:012d}-{stamp}-{work.name[-6:]}"
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _swap(base / "current", final)
    _prune(builds, keep=final)
    return Published(
        root=base,
        build=final,
        database=final / DATABASE,
        as_of_seq=snap.head_seq,
        as_of_time=snap.head_time,
        tables=counts,
    )


def _write(registry: Registry, snap: Snapshot, work: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    db = duckdb.connect(str(work / DATABASE))
    try:
        db.execute("SET TimeZone = 'UTC'")
        for name, rows in tables(snap).items():
            table = _arrow(name, rows, snap)
            _load(db, name, table)
            counts[name] = table.num_rows
        counts["ledger"] = _load_ledger(db, registry, snap)
        for name, body in VIEWS.items():
            db.execute(f"CREATE VIEW {name} AS {body}")
        for name, body in MACROS.items():
            db.execute(f"CREATE MACRO {name}{body}")
        db.execute(
            "CREATE TABLE as_of AS SELECT ? AS ledger_seq, ? AS ledger_head, "
            "CAST(? AS TIMESTAMPTZ) AS ledger_time, ? AS catalog_digest",
            [snap.head_seq, snap.head_hash, snap.head_time, snap.catalog_digest],
        )
        parquet = work / "parquet"
        for name in [*counts]:
            folder = parquet / name
            folder.mkdir(parents=True)
            db.execute(f"COPY \"{name}\" TO '{folder / 'data.parquet'}' (FORMAT PARQUET)")
        db.execute("CHECKPOINT")
    finally:
        db.close()
    (work / "as_of.json").write_text(
        json.dumps({**snap.as_of, "tables": counts}, indent=2, sort_keys=True) + "\n"
    )
    return counts


def _load_ledger(db: duckdb.DuckDBPyConnection, registry: Registry, snap: Snapshot) -> int:
    db.execute(
        "CREATE TABLE ledger (seq BIGINT, recorded_at TIMESTAMPTZ, actor VARCHAR, "
        "action VARCHAR, subject VARCHAR, payload JSON, prev_hash VARCHAR, hash VARCHAR, "
        "as_of_seq BIGINT, as_of_time TIMESTAMPTZ)"
    )
    total = 0
    for batch in ledger_columns(registry, up_to=snap.head_seq):
        n = len(batch["seq"])
        table = pa.table(
            {
                **{k: pa.array(v) for k, v in batch.items()},
                "as_of_seq": pa.array([snap.head_seq] * n, pa.int64()),
                "as_of_time": pa.array([snap.head_time] * n, pa.string()),
            }
        )
        db.register("incoming", table)
        db.execute(
            "INSERT INTO ledger SELECT seq, CAST(recorded_at AS TIMESTAMPTZ), actor, action, "
            "subject, CAST(payload AS JSON), prev_hash, hash, as_of_seq, "
            "CAST(as_of_time AS TIMESTAMPTZ) FROM incoming"
        )
        db.unregister("incoming")
        total += n
    return total


def _swap(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` with one atomic rename of a fresh symlink."""
    tmp = link.with_name(f".current-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(Path("builds") / target.name)
    os.replace(tmp, link)


def _prune(builds: Path, *, keep: Path) -> None:
    done = sorted(p for p in builds.iterdir() if p.is_dir() and not p.name.startswith("."))
    for old in done[:-KEEP_BUILDS]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


def query(
    root: Path, sql: str, params: Iterable[Any] = ()
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run read-only SQL on the published inventory; ``(columns, rows)``.

    Raises:
        BadInput: the SQL is invalid (DuckDB's message, one line).
        NotFound: nothing is published under ``root``.
    """
    database = current_database(root)
    db = duckdb.connect(str(database), read_only=True)
    try:
        cursor = db.execute(sql, list(params))
        columns = [d[0] for d in cursor.description or []]
        return columns, cursor.fetchall()
    except duckdb.Error as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BadInput(f"SQL error: {first}") from None
    finally:
        db.close()


def describe(published: Published) -> Mapping[str, Any]:
    """A JSON-ready summary of a build."""
    return {
        "root": str(published.root),
        "database": str(published.database),
        "as_of_seq": published.as_of_seq,
        "as_of_time": published.as_of_time,
        "tables": published.tables,
    }
