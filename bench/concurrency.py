"""Concurrent writers on SQLite and on PostgreSQL, side by side in one run.

Run: ``.venv/bin/python bench/concurrency.py [--processes 8] [--ops 200]``.

Each process registers versions of one entry and moves them through staging and
production (request, approval by another process's actor, gated apply), rolling back now
and then: about ``--ops`` mixed operations per process. Afterwards, on each backend: version
numbers are gap-free and unique (none lost, none duplicated), the ledger replays with never
two production holders, and the chain verifies. Needs PostgreSQL's server binaries for the
PostgreSQL column (it starts a throwaway cluster).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from registry_pipeline.service import Registry

# The throwaway PostgreSQL cluster is test support, not part of the product.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.pgcluster import NoPostgres, running_cluster

ROOT = Path(__file__).parents[1]
WORKER = ROOT / "tests" / "integration" / "concurrency_worker.py"
OPS_PER_ROUND = 7.33


def _catalog(processes: int) -> dict[str, Any]:
    approvers = [f"w{i}@example.com" for i in range(processes)]
    return {
        "entries": {
            "churn-clf": {"kind": "classifier", "owner": "w0@example.com", "license": "mit"}
        },
        "policy": {
            "approvers": approvers,
            "stages": {"staging": {"approvals": 1}, "production": {"approvals": 1}},
        },
    }


def _rows(url: str, query: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(query))]
    finally:
        engine.dispose()


def run(url: str, folder: Path, processes: int, ops: int) -> dict[str, Any]:
    """Run the workload against ``url`` and check every invariant."""
    catalog = folder / "catalog.yaml"
    catalog.write_text(yaml.safe_dump(_catalog(processes)))
    Registry.init(url, catalog=catalog, actor="w0@example.com")
    rounds = max(1, round(ops / OPS_PER_ROUND))
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), url, str(i), str(processes), str(rounds), str(folder)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(processes)
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            raise SystemExit(f"worker failed: {err.strip().splitlines()[-1:]}")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    wall = time.perf_counter() - started
    numbers = sorted(n for r in reports for n in r["registered"])
    expected = list(range(1, len(numbers) + 1))
    holders: int | None = None
    double = 0
    for _, action, raw in _rows(url, "SELECT seq, action, payload FROM ledger ORDER BY seq"):
        payload = json.loads(raw)
        if action == "promotion.apply" and payload["target"] == "production":
            double += payload["displaces"] != holders
            holders = payload["version"]
        elif action == "stage.rollback" and payload["stage"] == "production":
            double += payload["from_version"] != holders
            holders = payload["to_version"]
    open_holders = _rows(
        url,
        "SELECT count(*) FROM stage_assignments WHERE stage = 'production' "
        "AND effective_to IS NULL",
    )[0][0]
    verified = Registry.open(url).verify().to_dict()
    total_ops = sum(r["ops"] for r in reports)
    return {
        "ops": total_ops,
        "seconds": wall,
        "throughput": total_ops / wall,
        "errors": sum(len(r["errors"]) for r in reports),
        "refused": sum(r["refused"] for r in reports),
        "versions": len(numbers),
        "lost_or_duplicated": 0 if numbers == expected else len(set(expected) ^ set(numbers)),
        "replay_mismatches": double,
        "open_production_holders": open_holders,
        "verify_ok": verified["ok"],
        "events": verified["events"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--ops", type=int, default=200, help="operations per process")
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_folder = Path(tmp) / "sqlite"
        sqlite_folder.mkdir()
        results["SQLite (WAL)"] = run(
            f"sqlite:///{sqlite_folder / 'registry.db'}", sqlite_folder, args.processes, args.ops
        )
        try:
            with running_cluster() as cluster:
                pg_folder = Path(tmp) / "postgres"
                pg_folder.mkdir()
                url = cluster.create_database("bench")
                results["PostgreSQL"] = run(url, pg_folder, args.processes, args.ops)
        except NoPostgres as e:
            print(f"PostgreSQL skipped: {e}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; {args.processes} processes x ~{args.ops} operations"
    )
    rows = [
        ("operations", "ops", "{:.0f}"),
        ("wall time (s)", "seconds", "{:.1f}"),
        ("throughput (ops/s)", "throughput", "{:.0f}"),
        ("unexpected errors", "errors", "{}"),
        ("refused by a gate (expected)", "refused", "{}"),
        ("versions registered", "versions", "{}"),
        ("lost or duplicated versions", "lost_or_duplicated", "{}"),
        ("ledger replay mismatches", "replay_mismatches", "{}"),
        ("open production holders", "open_production_holders", "{}"),
        ("audit verify ok", "verify_ok", "{}"),
    ]
    names = list(results)
    print(f"{'':<30}" + "".join(f"{n:>16}" for n in names))
    for label, key, fmt in rows:
        print(f"{label:<30}" + "".join(f"{fmt.format(results[n][key]):>16}" for n in names))
    bad = [
        n
        for n, r in results.items()
        if r["errors"]
        or r["lost_or_duplicated"]
        or r["replay_mismatches"]
        or r["open_production_holders"] != 1
        or not r["verify_ok"]
    ]
    if bad:
        raise SystemExit(f"invariants broken on: {', '.join(bad)}")


if __name__ == "__main__":
    main()
