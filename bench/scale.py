"""Both servers at scale: 1,000,000 versions over 10,000 entries, through HTTP.

Run: ``.venv/bin/python bench/scale.py [--versions 1000000] [--entries 10000] [--seconds 5]``
(``make bench`` runs it with a smaller ``--versions`` unless ``SCALE=1``).

Ours is seeded with ``worker_ours.seed`` (bulk inserts with a genuinely hash-chained
ledger, its Merkle tree, search indexes; every 5th version of each entry promoted through
staging, the newest of those holding production) and MLflow with ``worker_mlflow.seed``'s
rows (versions and tags in bulk into its own tables; registered models and aliases too,
shaped after rows its client wrote). Then ``registry serve`` and ``mlflow server``
(``--workers 1``, the configuration without Nagle's stall) answer, measured alternately
with one and four ``http.client`` connections:

- ``resolve``: ours ``GET /api/v1/versions/model-K@production`` for a random K (a
  different version each call, so mostly not answered from memory) and
  ``GET /api/v1/workloads/workload-0/resolve``; MLflow ``GET .../registered-models/alias``
  for a random model;
- ``register``: ours ``POST /api/v1/versions`` of new content for a random entry (gated by
  the registrar role, ledger event, Merkle leaf, search index rows, group commit); MLflow
  ``POST .../model-versions/create``.

It prints p50 / p99 per case, the targets (resolve p99 < 5 ms, register p99 < 20 ms
through our server), and each store's file size per 10,000 versions.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import http_servers as http  # noqa: E402
import worker_ours  # noqa: E402
import yaml  # noqa: E402

from registry_pipeline.service import Registry  # noqa: E402

QUIET = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}

SEED_MLFLOW = r"""
import json, sqlite3, sys, time
sys.path.insert(0, sys.argv[4])
import worker_mlflow as w
from mlflow.tracking import MlflowClient
uri, entries, per_entry = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
db = uri.removeprefix("sqlite:///")
client = MlflowClient(tracking_uri=uri, registry_uri=uri)
client.create_registered_model("model-0")
client.create_model_version("model-0", "file:///template", tags={"dataset": "x"})
client.set_registered_model_alias("model-0", "production", "1")
conn = sqlite3.connect(db, isolation_level=None)
conn.row_factory = sqlite3.Row
model = dict(conn.execute("SELECT * FROM registered_models").fetchone())
version = dict(conn.execute("SELECT * FROM model_versions").fetchone())
tag = dict(conn.execute("SELECT * FROM model_version_tags").fetchone())
alias = dict(conn.execute("SELECT * FROM registered_model_aliases").fetchone())
conn.execute("PRAGMA synchronous=OFF")
conn.execute("BEGIN IMMEDIATE")
for table in ("registered_model_aliases", "model_version_tags", "model_versions",
              "registered_models"):
    conn.execute(f"DELETE FROM {table}")
start = int((time.time() - 30 * 86400) * 1000)
top = per_entry - per_entry % 5

def insert(table, rows):
    rows = iter(rows)
    first = next(rows)
    cols = list(first)
    sql = (f"INSERT INTO {table} ({', '.join(chr(34) + c + chr(34) for c in cols)}) "
           f"VALUES ({', '.join(':' + c for c in cols)})")
    conn.execute(sql, first)
    conn.executemany(sql, rows)

insert("registered_models", ({**model, "name": f"model-{e}"} for e in range(entries)))
def versions():
    for n in range(1, per_entry + 1):
        for e in range(entries):
            at = start + ((n - 1) * entries + e) * 10
            src = f"file:///data/model-{e}/{n}"
            yield {**version, "name": f"model-{e}", "version": n, "creation_time": at,
                   "last_updated_time": at, "source": src, "storage_location": src}
insert("model_versions", versions())
insert("model_version_tags", ({**tag, "name": f"model-{e}", "version": n,
                               "value": w.dataset_tag(e, n)}
                              for n in range(1, per_entry + 1) for e in range(entries)))
insert("registered_model_aliases", ({**alias, "name": f"model-{e}", "version": top}
                                    for e in range(entries)))
conn.execute("COMMIT")
conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
conn.close()
got = client.get_model_version_by_alias("model-7", "production")
assert int(got.version) == top, got
print(json.dumps({"versions": entries * per_entry}))
"""


def seed_ours(folder: Path, entries: int, per_entry: int) -> dict[str, Any]:
    """``worker_ours.seed`` over ``entries`` entries; a registrar's token."""
    worker_ours.ENTRIES = entries
    (folder / "catalog.yaml").write_text(yaml.safe_dump(worker_ours.catalog_document()))
    url = f"sqlite:///{folder / 'ours.db'}"
    Registry.init(url, catalog=folder / "catalog.yaml", actor=worker_ours.REGISTRAR)
    began = time.perf_counter()
    counts = worker_ours.seed(folder / "ours.db", per_entry)
    seeded = time.perf_counter() - began
    with sqlite3.connect(folder / "ours.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    operator = Registry.open(url, actor="operator")
    token = operator.tokens.create(principal=worker_ours.REGISTRAR, name="bench").token
    return {"url": url, "token": token, "seed_s": seeded, **counts}


def seed_mlflow(folder: Path, entries: int, per_entry: int) -> dict[str, Any]:
    python = http.peer_python()
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    began = time.perf_counter()
    done = subprocess.run(
        [str(python), "-c", SEED_MLFLOW, uri, str(entries), str(per_entry), str(BENCH)],
        capture_output=True,
        text=True,
        env={**os.environ, **QUIET},
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"seeding MLflow failed: {done.stderr[-3000:]}")
    return {"uri": uri, "seed_s": time.perf_counter() - began, "python": python}


def registration_for(entries: int) -> Any:
    def make(client: int, n: int) -> http.Request:
        method, path, body = http.registration(client, n)
        assert body is not None
        document = json.loads(body)
        document["entry"] = f"model-{random.Random(client * 1_000_003 + n).randrange(entries)}"
        return method, path, json.dumps(document).encode()

    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--json", action="store_true", help="print the results as JSON last")
    options = parser.parse_args()
    results = run(options)
    if options.json:
        print(json.dumps(results, default=str))


def run(options: argparse.Namespace) -> dict[str, Any]:
    entries = options.entries
    per_entry = max(1, options.versions // entries)
    with tempfile.TemporaryDirectory(prefix="registry-scale-") as tmp:
        folder = Path(tmp)
        print(f"seeding {entries * per_entry:,} versions over {entries:,} entries", flush=True)
        ours = seed_ours(folder, entries, per_entry)
        print(f"  ours in {ours['seed_s']:.0f} s ({ours['ledger_events']:,} ledger events)")
        theirs = seed_mlflow(folder, entries, per_entry)
        print(f"  MLflow in {theirs['seed_s']:.0f} s", flush=True)
        sizes = {
            "ours_bytes": (folder / "ours.db").stat().st_size,
            "mlflow_bytes": (folder / "mlflow.db").stat().st_size,
        }
        per_10k = 10_000 / (entries * per_entry)
        sizes["ours_mb_per_10k"] = sizes["ours_bytes"] * per_10k / 2**20
        sizes["mlflow_mb_per_10k"] = sizes["mlflow_bytes"] * per_10k / 2**20
        ours_port, their_port = http.free_port(), http.free_port()
        ours_cmd = [str(http.OURS), "-m", "registry_pipeline.cli", "--database", ours["url"]]
        ours_cmd += ["serve", "--port", str(ours_port), "--workers", "1"]
        ours_cmd += ["--rate-limit", "10000000"]
        their_cmd = [str(http.peer_python().parent / "mlflow"), "server"]
        their_cmd += ["--backend-store-uri", theirs["uri"], "--host", "127.0.0.1"]
        their_cmd += ["--port", str(their_port), "--workers", "1"]
        auth = {"Authorization": f"Bearer {ours['token']}", "Content-Type": "application/json"}
        plain = {"Content-Type": "application/json"}

        def show(client: int, n: int) -> http.Request:
            k = random.Random(client * 7_919 + n).randrange(entries)
            return ("GET", f"/api/v1/versions/model-{k}@production", None)

        def alias(client: int, n: int) -> http.Request:
            k = random.Random(client * 7_919 + n).randrange(entries)
            path = f"/api/2.0/mlflow/registered-models/alias?name=model-{k}&alias=production"
            return ("GET", path, None)

        def create(client: int, n: int) -> http.Request:
            k = random.Random(client * 1_000_003 + n).randrange(entries)
            body = {"name": f"model-{k}", "source": f"s3://bench/{os.getpid()}-{client}-{n}"}
            return ("POST", "/api/2.0/mlflow/model-versions/create", json.dumps(body).encode())

        def workload(_c: int, _n: int) -> http.Request:
            return ("GET", "/api/v1/workloads/workload-0/resolve", None)

        cases = [
            ("resolve a version by stage", show, alias),
            ("resolve a workload", workload, None),
            ("register", registration_for(entries), create),
        ]
        rows = []
        with (
            http.serving(ours_cmd, ours_port, "/healthz", folder),
            http.serving(their_cmd, their_port, "/health", folder),
        ):
            time.sleep(5)
            for name, ours_make, their_make in cases:
                for clients in (1, 4):
                    row: dict[str, Any] = {"op": name, "clients": clients}
                    for side, port, make, headers in (
                        ("ours", ours_port, ours_make, auth),
                        ("mlflow", their_port, their_make, plain),
                    ):
                        if make is None:
                            continue
                        http.load(port, make, clients=clients, seconds=1.5, headers=headers)
                        row[side] = http.load(
                            port, make, clients=clients, seconds=options.seconds, headers=headers
                        )
                    rows.append(row)
                    print(_line(row), flush=True)
    targets = [
        {
            "target": f"{r['op']} p99 through our server ({r['clients']} clients) < {limit} ms",
            "measured": f"{r['ours']['p99']:.2f} ms",
            "met": r["ours"]["p99"] < limit and r["ours"]["errors"] == 0,
        }
        for r in rows
        for limit in ((20,) if r["op"] == "register" else (5,))
    ]
    print(
        f"\nstore size per 10,000 versions: ours {sizes['ours_mb_per_10k']:.1f} MiB "
        f"(versions, params and their search index, evals, stage history, ledger, Merkle "
        f"tree), MLflow {sizes['mlflow_mb_per_10k']:.1f} MiB (versions and tags)"
    )
    for t in targets:
        print(f"  {'ok    ' if t['met'] else 'MISSED'} {t['target']}: {t['measured']}")
    return {
        "versions": entries * per_entry,
        "entries": entries,
        "seed": {"ours_s": ours["seed_s"], "mlflow_s": theirs["seed_s"]},
        "sizes": sizes,
        "rows": rows,
        "targets": targets,
    }


def _line(row: dict[str, Any]) -> str:
    text = f"  {row['op']:28} clients={row['clients']}: ours p50 {row['ours']['p50']:.2f} ms, "
    text += f"p99 {row['ours']['p99']:.2f} ms ({row['ours']['errors']} errors)"
    if "mlflow" in row:
        m = row["mlflow"]
        text += f"; MLflow p50 {m['p50']:.2f} ms, p99 {m['p99']:.2f} ms ({m['errors']} errors)"
    return text


if __name__ == "__main__":
    main()
