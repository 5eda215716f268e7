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
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from registry_pipeline.catalog import catalog_from_document
from registry_pipeline.core import review
from registry_pipeline.core.catalog import Catalog, StageRule
from registry_pipeline.core.promotion import Decision
from registry_pipeline.core.stages import Stage
from registry_pipeline.core.times import format_time, parse_stored
from registry_pipeline.errors import BadInput, NotFound, Step
from registry_pipeline.service import Registry
from registry_pipeline.settings import inventory_root as inventory_root
from registry_pipeline.store.arrow import dump_tables

DATABASE = "inventory.duckdb"
KEEP_BUILDS = 3
#: A build an analyst may still be opening is kept this long after it was replaced.
RETENTION_S = 600
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
        -- Every version that holds production for its entry now, when it was last
        -- approved and when that approval falls due for review under the policy.
        SELECT s.entry, e.kind, s.version, v.digest, s.effective_from AS since,
               s.approved_by, s.requester, s.request_id, s.approved_at, s.review_due_at
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
        -- Production holders whose approval is older than the policy's review period
        -- (review_due_at is computed by the registry's review rule when the build is made).
        SELECT p.*, e.review_every_days
        FROM production_holders p JOIN entries e ON e.entry = p.entry
        WHERE p.review_due_at < now()
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


def current_database(root: Path) -> Path:
    """The published DuckDB file under ``root``; raises :class:`NotFound` if none."""
    database = root / "current" / DATABASE
    if not database.exists():
        raise NotFound(
            f"no inventory published under {root}",
            step=Step.BUILD_INVENTORY,
        )
    return database


def published_seq(root: Path) -> int | None:
    """The ledger seq of the published build, or ``None``."""
    try:
        return int(json.loads((root / "current" / "as_of.json").read_text())["ledger_seq"])
    except (OSError, ValueError, KeyError):
        return None


def ensure_current(registry: Registry, root: Path) -> Path:
    """The published inventory under ``root``, rebuilt first if the ledger moved since."""
    if published_seq(root) != registry.ledger_head().seq:
        build(registry, root)
    return root


@dataclass(frozen=True, slots=True, kw_only=True)
class Raw:
    """The store's tables as Arrow, read in one transaction, and the head they agree with."""

    tables: dict[str, pa.Table]
    head_seq: int
    head_hash: str
    head_time: str
    catalog: Catalog
    catalog_digest: str | None


#: Inventory tables built in DuckDB from the raw store tables (``raw_<name>``).
TRANSFORMS = {
    "versions": """
        SELECT v.entry, v.number AS version, v.digest, v.size, v.file_count, v.source,
               CAST(v.params AS JSON) AS params,
               coalesce(u.upstream, CAST([] AS VARCHAR[])) AS upstream, s.stage,
               CAST(v.created_at AS TIMESTAMPTZ) AS created_at, v.created_by
        FROM raw_versions v
        LEFT JOIN (SELECT entry, number,
                          list(upstream_entry || '@' || upstream_number
                               ORDER BY upstream_entry) AS upstream
                   FROM raw_lineage GROUP BY entry, number) u USING (entry, number)
        LEFT JOIN (SELECT entry, number, stage FROM raw_stage_assignments
                   WHERE effective_to IS NULL) s USING (entry, number)
        ORDER BY v.entry, v.number
    """,
    "lineage_edges": """
        SELECT entry, number AS version, upstream_entry, upstream_number AS upstream_version,
               relation
        FROM raw_lineage
    """,
    "eval_results": """
        SELECT id AS eval_id, entry, number AS version, suite, suite_number AS suite_version,
               unnest(map_keys(m)) AS metric, unnest(map_values(m)) AS value,
               CAST(produced_at AS TIMESTAMPTZ) AS produced_at,
               CAST(recorded_at AS TIMESTAMPTZ) AS recorded_at, recorded_by
        FROM (SELECT *, CAST(CAST(metrics AS JSON) AS MAP(VARCHAR, DOUBLE)) AS m
              FROM raw_evals)
    """,
    "promotion_requests": """
        SELECT id, entry, number AS version, digest, target, requester, reason, status,
               CAST(created_at AS TIMESTAMPTZ) AS created_at,
               CAST(decided_at AS TIMESTAMPTZ) AS decided_at
        FROM raw_requests
    """,
    "approvals": """
        SELECT a.id, a.request_id, q.entry, q.number AS version, q.target, q.requester,
               a.approver, a.decision, a.reason, a.digest, a.signature IS NOT NULL AS signed,
               CAST(a.created_at AS TIMESTAMPTZ) AS created_at
        FROM raw_approvals a JOIN raw_requests q ON q.id = a.request_id
    """,
    "gate_results": """
        SELECT id, request_id, ledger_seq, CAST(evaluated_at AS TIMESTAMPTZ) AS evaluated_at,
               name, CAST(passed AS BOOLEAN) AS passed, detail
        FROM raw_gate_results
    """,
    "stage_history": """
        SELECT s.entry, s.number AS version, s.stage,
               CAST(s.effective_from AS TIMESTAMPTZ) AS effective_from,
               CAST(s.effective_to AS TIMESTAMPTZ) AS effective_to,
               s.actor, s.reason, s.cause, s.request_id, q.requester,
               CAST(CAST(s.approved_by AS JSON) AS VARCHAR[]) AS approved_by,
               len(CAST(CAST(s.approved_by AS JSON) AS VARCHAR[])) AS approvers, s.ledger_seq,
               CAST(r.approved_at AS TIMESTAMPTZ) AS approved_at,
               CAST(r.review_due_at AS TIMESTAMPTZ) AS review_due_at
        FROM raw_stage_assignments s LEFT JOIN raw_requests q ON q.id = s.request_id
        LEFT JOIN raw_reviews r ON r.id = s.id
        ORDER BY s.effective_from, s.id
    """,
    "ledger": """
        SELECT seq, CAST(recorded_at AS TIMESTAMPTZ) AS recorded_at, actor, action, subject,
               CAST(payload AS JSON) AS payload, prev_hash, hash
        FROM raw_ledger ORDER BY seq
    """,
    "deployments": """
        SELECT t.workload, t.target, t.manifest, t.stack, s.version, v.digest,
               s.effective_from AS since
        FROM workload_targets t
        LEFT JOIN stage_history s ON s.entry = t.stack AND s.stage = 'production'
             AND s.effective_to IS NULL
        LEFT JOIN versions v ON v.entry = s.entry AND v.version = s.version
    """,
}


def fetch_raw(registry: Registry) -> Raw:
    """Read every store table the inventory needs as Arrow, in one read transaction
    (:func:`registry_pipeline.store.arrow.dump_tables`), with the catalog current then."""
    dump = dump_tables(registry.store)
    document = dump.catalog_document
    return Raw(
        tables=dump.tables,
        head_seq=dump.head_seq,
        head_hash=dump.head_hash,
        head_time=dump.head_time,
        catalog=catalog_from_document(document) if document else Catalog(entries={}),
        catalog_digest=dump.catalog_digest,
    )


def review_table(raw: Raw) -> pa.Table:
    """When each production assignment was last approved and when that approval falls
    due for review, by :mod:`registry_pipeline.core.review` (the rule ``registry review
    due`` and the gates apply): ``(id, approved_at, review_due_at)``; ``review_due_at`` is
    null when the policy sets no review period."""
    approvals: dict[int, list[datetime]] = defaultdict(list)
    for a in _column_rows(raw.tables["approvals"], "request_id", "decision", "created_at"):
        if a["decision"] == Decision.APPROVE:
            approvals[a["request_id"]].append(parse_stored(a["created_at"]))
    catalog = raw.catalog
    rules: dict[str, StageRule] = {}
    rows = []
    assignments = raw.tables["stage_assignments"]
    for s in _column_rows(assignments, "id", "entry", "stage", "effective_from", "request_id"):
        if s["stage"] != Stage.PRODUCTION or s["entry"] not in catalog.entries:
            continue
        rule = rules.get(s["entry"])
        if rule is None:
            risk = catalog.risk_class(s["entry"])
            rule = rules[s["entry"]] = catalog.policy.rule_for(Stage.PRODUCTION, risk)
        approved = review.approved_at(
            since=parse_stored(s["effective_from"]),
            approvals=approvals.get(s["request_id"], []),
        )
        due = review.review_due_at(rule, approved)
        rows.append(
            {
                "id": s["id"],
                "approved_at": format_time(approved),
                "review_due_at": format_time(due) if due is not None else None,
            }
        )
    return pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [("id", pa.int64()), ("approved_at", pa.string()), ("review_due_at", pa.string())]
        ),
    )


def _column_rows(table: pa.Table, *names: str) -> Iterator[dict[str, Any]]:
    columns = [table.column(n).to_pylist() for n in names]
    for values in zip(*columns, strict=True):
        yield dict(zip(names, values, strict=True))


def catalog_tables(catalog: Catalog) -> dict[str, pa.Table]:
    """The tables that come from the catalog: entries, workloads, workload targets."""
    served: dict[str, list[str]] = {}
    for w in catalog.workloads.values():
        served.setdefault(w.stack, []).append(w.name)
    entries = []
    for name, e in sorted(catalog.entries.items()):
        rule = catalog.policy.rule_for(Stage.PRODUCTION, catalog.risk_class(name))
        entries.append(
            {
                "entry": name,
                "kind": e.kind.value,
                "owner": e.owner,
                "description": e.description,
                "license": e.license,
                "risk_class": catalog.risk_class(name),
                "intended_use": e.intended_use,
                "upstream": list(e.upstream),
                "components": list(e.components),
                "evaluates": list(e.evaluates),
                "workloads": sorted(served.get(name, [])),
                "review_every_days": rule.review_every_days,
            }
        )
    workloads = sorted(catalog.workloads.values(), key=lambda w: w.name)
    targets = [
        {"workload": w.name, "stack": w.stack, "target": t.name, "manifest": t.manifest}
        for w in workloads
        for t in (w.targets or ())
    ]
    text, texts = pa.string(), pa.list_(pa.string())
    return {
        "entries": pa.Table.from_pylist(
            entries,
            schema=pa.schema(
                [
                    ("entry", text),
                    ("kind", text),
                    ("owner", text),
                    ("description", text),
                    ("license", text),
                    ("risk_class", text),
                    ("intended_use", text),
                    ("upstream", texts),
                    ("components", texts),
                    ("evaluates", texts),
                    ("workloads", texts),
                    ("review_every_days", pa.float64()),
                ]
            ),
        ),
        "workloads": pa.Table.from_pylist(
            [
                {"workload": w.name, "stack": w.stack, "targets": [t.name for t in w.targets]}
                for w in workloads
            ],
            schema=pa.schema([("workload", text), ("stack", text), ("targets", texts)]),
        ),
        "workload_targets": pa.Table.from_pylist(
            targets,
            schema=pa.schema(
                [("workload", text), ("stack", text), ("target", text), ("manifest", text)]
            ),
        ),
    }


def build(registry: Registry, root: str | Path) -> Published:
    """Rebuild the inventory from the store and publish it atomically under ``root``."""
    base = Path(root)
    if base.exists() and not base.is_dir():
        raise BadInput(f"{base} exists and is not a folder; pass a folder for the inventory")
    builds = base / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    raw = fetch_raw(registry)
    stamp = raw.head_time.replace(":", "").replace("-", "").replace(".", "")
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=builds))
    try:
        counts = _write(raw, work)
        work.chmod(0o755)
        final = builds / f"{raw.head_seq:012d}-{stamp}-{work.name[-6:]}"
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
        as_of_seq=raw.head_seq,
        as_of_time=raw.head_time,
        tables=counts,
    )


PUBLISHED = (
    "entries",
    "workloads",
    "versions",
    "lineage_edges",
    "eval_results",
    "promotion_requests",
    "approvals",
    "gate_results",
    "stage_history",
    "deployments",
    "ledger",
)


def _write(raw: Raw, work: Path) -> dict[str, int]:
    db = duckdb.connect(str(work / DATABASE))
    try:
        db.execute("SET TimeZone = 'UTC'")
        for name, table in raw.tables.items():
            db.register(f"raw_{name}", table)
        db.register("raw_reviews", review_table(raw))
        small = catalog_tables(raw.catalog)
        for name, table in small.items():
            db.register(f"catalog_{name}", table)
        db.execute("CREATE TEMP TABLE workload_targets AS SELECT * FROM catalog_workload_targets")
        stamp = f"{raw.head_seq} AS as_of_seq, CAST('{raw.head_time}' AS TIMESTAMPTZ) AS as_of_time"
        for name in ("entries", "workloads"):
            db.execute(f'CREATE TABLE "{name}" AS SELECT *, {stamp} FROM catalog_{name}')
        for name, body in TRANSFORMS.items():
            db.execute(f'CREATE TABLE "{name}" AS SELECT *, {stamp} FROM ({body})')
        for name in raw.tables:
            db.unregister(f"raw_{name}")
        db.unregister("raw_reviews")
        for name in small:
            db.unregister(f"catalog_{name}")
        for name, body in VIEWS.items():
            db.execute(f"CREATE VIEW {name} AS {body}")
        for name, body in MACROS.items():
            db.execute(f"CREATE MACRO {name}{body}")
        db.execute(
            "CREATE TABLE as_of AS SELECT ? AS ledger_seq, ? AS ledger_head, "
            "CAST(? AS TIMESTAMPTZ) AS ledger_time, ? AS catalog_digest",
            [raw.head_seq, raw.head_hash, raw.head_time, raw.catalog_digest],
        )
        counts = {
            name: int(db.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0])
            for name in PUBLISHED
        }
        parquet = work / "parquet"
        for name in PUBLISHED:
            folder = parquet / name
            folder.mkdir(parents=True)
            db.execute(f"COPY \"{name}\" TO '{folder / 'data.parquet'}' (FORMAT PARQUET)")
        db.execute("CHECKPOINT")
    finally:
        db.close()
    as_of = {"ledger_seq": raw.head_seq, "ledger_head": raw.head_hash, "time": raw.head_time}
    (work / "as_of.json").write_text(
        json.dumps({**as_of, "tables": counts}, indent=2, sort_keys=True) + "\n"
    )
    return counts


def _swap(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` with one atomic rename of a fresh symlink."""
    tmp = link.with_name(f".current-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(Path("builds") / target.name)
    os.replace(tmp, link)


def _prune(builds: Path, *, keep: Path) -> None:
    """Remove builds beyond the newest :data:`KEEP_BUILDS` once they are older than
    :data:`RETENTION_S`, so a reader that resolved ``current`` a moment ago can still open
    its build (an open DuckDB session keeps reading even after removal)."""
    done = sorted(
        (p for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
    )
    cutoff = time.time() - RETENTION_S
    for old in done[:-KEEP_BUILDS]:
        if old != keep and old.stat().st_mtime < cutoff:
            shutil.rmtree(old, ignore_errors=True)


SANDBOX = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "lock_configuration": True,
}
"""DuckDB settings of a query connection: the inventory's own tables only. No file, URL or
other database is read or written (``COPY ... TO``, ``read_csv``, ``ATTACH``), no extension
is installed or loaded, and the query cannot ``SET`` any of this back."""


def query(
    root: Path, sql: str, params: Iterable[Any] = ()
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run read-only SQL on the published inventory; ``(columns, rows)``.

    Raises:
        BadInput: the SQL is invalid (DuckDB's message, one line).
        NotFound: nothing is published under ``root``.
    """
    if not sql.strip():
        raise BadInput('empty SQL; pass a query, e.g. "SELECT * FROM production_now"')
    database = current_database(root)
    db = duckdb.connect(str(database), read_only=True, config=dict(SANDBOX))
    try:
        cursor = db.execute(sql, list(params))
        if cursor is None or cursor.description is None:
            return [], []
        columns = [d[0] for d in cursor.description]
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
