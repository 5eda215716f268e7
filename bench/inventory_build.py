"""Inventory build at scale, and the point-in-time query on it.

Run: ``.venv/bin/python bench/inventory_build.py [--versions 100000] [--events 1000000]``.

Seeds a registry in bulk through its fastest path (direct inserts into the store's tables
in one transaction, with a genuinely hash-chained ledger, verified before timing), then
times ``inventory.build`` (read the store, load DuckDB, write Parquet, publish) and the
``production_at(T)`` query over random instants. Targets: build under 5 s; point-in-time
query median under 10 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from _protocol import seed_tree

from registry_pipeline.core.ledger import LedgerEvent, seal
from registry_pipeline.exports import inventory
from registry_pipeline.service import Registry

AUTH = {"method": "local", "principal": "bench", "os_user": "bench"}
AUTH_TEXT = json.dumps(AUTH, separators=(",", ":"), sort_keys=True)

ENTRIES = 100
STACKS = 10
T0 = 1_700_000_000.0


def _time(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1e6) % 1_000_000:06d}Z"


def catalog() -> dict:
    entries = {
        f"model-{i}": {"kind": "classifier", "owner": "ml@example.com", "license": "mit"}
        for i in range(ENTRIES - STACKS)
    }
    for s in range(STACKS):
        entries[f"stack-{s}"] = {
            "kind": "stack",
            "owner": "ml@example.com",
            "components": [f"model-{s}"],
        }
    workloads = {f"workload-{s}": {"stack": f"stack-{s}"} for s in range(STACKS)}
    return {"entries": entries, "workloads": workloads}


def seed(path: Path, versions: int, events: int) -> None:
    per_entry = versions // ENTRIES
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    with conn:
        rows = []
        stage_rows = []
        lineage = []
        for e in range(ENTRIES):
            name = f"model-{e}" if e < ENTRIES - STACKS else f"stack-{e - (ENTRIES - STACKS)}"
            for n in range(1, per_entry + 1):
                t = _time(T0 + n * 60 + e)
                digest = f"{(e * 1_000_003 + n):064x}"[-64:]
                rows.append((name, n, digest, 1000, 1, "{}", "bulk", "{}", t, "bench"))
                if name.startswith("stack-"):
                    s = int(name.split("-")[1])
                    lineage.append((name, n, f"model-{s}", n, "pins"))
                    start, end = _time(T0 + n * 60 + e), _time(T0 + (n + 1) * 60 + e)
                    last = n == per_entry
                    stage_rows.append(
                        (
                            name,
                            n,
                            "production",
                            start,
                            None if last else end,
                            start,
                            "bench",
                            "bulk",
                            "promotion",
                            None,
                            '["bob@example.com"]',
                            1,
                        )
                    )
                else:
                    stage_rows.append(
                        (
                            name,
                            n,
                            "candidate",
                            t,
                            None,
                            t,
                            "bench",
                            "registered",
                            "register",
                            None,
                            "[]",
                            1,
                        )
                    )
        conn.executemany(
            "INSERT INTO versions (entry, number, digest, size, file_count, manifest, source, "
            "params, created_at, created_by) VALUES (?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        conn.executemany("INSERT INTO lineage VALUES (?,?,?,?,?)", lineage)
        conn.executemany(
            "INSERT INTO stage_assignments (entry, number, stage, effective_from, effective_to, "
            "recorded_at, actor, reason, cause, request_id, approved_by, ledger_seq) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            stage_rows,
        )
        conn.execute("UPDATE entries SET next_version = ?", (per_entry + 1,))
        start_seq, prev = conn.execute("SELECT seq, hash FROM ledger_head").fetchone()
        batch = []
        last_time = ""
        for seq in range(start_seq + 1, start_seq + events + 1):
            last_time = _time(T0 + seq * 0.001 + 1e6)
            event = seal(
                LedgerEvent(
                    seq=seq,
                    recorded_at=last_time,
                    actor="bench",
                    action="version.register",
                    subject=f"model-{seq % ENTRIES}@{seq}",
                    payload={"n": seq},
                    prev_hash=prev,
                    auth=AUTH,
                )
            )
            prev = event.hash
            batch.append(
                (
                    seq,
                    last_time,
                    "bench",
                    event.action,
                    event.subject,
                    json.dumps(event.payload, separators=(",", ":")),
                    event.prev_hash,
                    event.hash,
                    AUTH_TEXT,
                )
            )
            if len(batch) == 100_000:
                conn.executemany("INSERT INTO ledger VALUES (?,?,?,?,?,?,?,?,?)", batch)
                batch = []
        if batch:
            conn.executemany("INSERT INTO ledger VALUES (?,?,?,?,?,?,?,?,?)", batch)
        conn.execute(
            "UPDATE ledger_head SET seq = ?, hash = ?, recorded_at = ?",
            (start_seq + events, prev, last_time),
        )
        seed_tree(conn)
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "catalog.yaml").write_text(yaml.safe_dump(catalog()))
        url = f"sqlite:///{folder / 'registry.db'}"
        Registry.init(url, catalog=folder / "catalog.yaml", actor="bench")
        started = time.perf_counter()
        seed(folder / "registry.db", args.versions, args.events)
        seeded = time.perf_counter() - started
        registry = Registry.open(url, actor="bench")
        verified = registry.verify().to_dict()
        assert verified["ok"], verified
        builds = []
        for _ in range(3):
            started = time.perf_counter()
            published = inventory.build(registry, folder / "inventory")
            builds.append(time.perf_counter() - started)
        db = duckdb.connect(str(published.database), read_only=True)
        rng = random.Random(7)
        span = args.versions // ENTRIES * 60
        timings = []
        answers = 0
        for _ in range(args.queries):
            instant = _time(T0 + rng.uniform(0, span))
            started = time.perf_counter()
            rows = db.execute(
                "SELECT workload, stack, version FROM production_at(?)", [instant]
            ).fetchall()
            timings.append((time.perf_counter() - started) * 1000)
            answers += len(rows)
        db.close()
    build_median = statistics.median(builds)
    query_median = statistics.median(timings)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, duckdb {duckdb.__version__}"
    )
    print(f"seeded {args.versions:,} versions and {args.events:,} ledger events in {seeded:.1f} s")
    print(f"{'measure':<34} {'median':>10} {'p99/max':>10}  target")
    print(
        f"{'inventory build (3 runs)':<34} {build_median:>9.2f}s {max(builds):>9.2f}s  "
        f"< 5 s {'ok' if build_median < 5 else 'MISSED'}"
    )
    p99 = sorted(timings)[int(len(timings) * 0.99) - 1]
    print(
        f"{'production_at(T) query':<34} {query_median:>8.2f}ms {p99:>8.2f}ms  "
        f"< 10 ms {'ok' if query_median < 10 else 'MISSED'}"
    )
    print(f"rows per table: {json.dumps(published.tables)}; answers: {answers}")


if __name__ == "__main__":
    main()
