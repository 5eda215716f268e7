"""What the ledger's Merkle tree costs, at 1,000,000 events.

Run: ``.venv/bin/python bench/merkle.py [--events 1000000] [--n 200]``.

- ``append``: one write transaction appending one ledger event (what every registry change
  does), and the tree's part of it (its append, timed inside the transaction): what the
  tree adds per event. Target: under 1 ms.
- ``inclusion``: ``GET /api/v1/ledger/proof/inclusion?seq=S`` for random S through the real
  ``registry serve`` (one keep-alive ``http.client`` connection). Target: p50 under 5 ms.
- ``consistency``: ``GET /api/v1/ledger/proof/consistency?first=F&second=N`` with F around
  half of N. Target: p50 under 20 ms.

MLflow's registry has no counterpart (no proofs of any kind), so there is no peer column.
The registry is seeded with ``bench/inventory_build.py``'s bulk insert (a genuinely chained
ledger and its tree), then verified.
"""

from __future__ import annotations

import argparse
import http.client
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).parent))

from _protocol import percentile, registry_server
from inventory_build import catalog, seed

from registry_pipeline.service import Registry
from registry_pipeline.store import Store
from registry_pipeline.store import merkle as stored

TARGETS = {"append added": 1.0, "inclusion": 5.0, "consistency": 20.0}


def time_appends(url: str, n: int) -> tuple[list[float], list[float]]:
    """Milliseconds of ``n`` one-event write transactions, and of the tree's part of each
    (its append, timed inside the transaction)."""
    store = Store.open(url)
    real = stored.append
    writes: list[float] = []
    tree: list[float] = []

    def timed_append(*args: Any) -> None:
        began = time.perf_counter()
        real(*args)
        tree.append((time.perf_counter() - began) * 1000)

    stored.append = timed_append  # type: ignore[assignment]
    try:
        for i in range(n):
            began = time.perf_counter()
            with store.write("bench", {"method": "local", "principal": "bench"}) as tx:
                tx.append("bench.append", f"bench:{i}", {"i": i})
            writes.append((time.perf_counter() - began) * 1000)
    finally:
        stored.append = real  # type: ignore[assignment]
        store.dispose()
    return writes, tree


def fetch(conn: http.client.HTTPConnection, path: str, token: str) -> float:
    began = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    answer = conn.getresponse()
    answer.read()
    if answer.status != 200:
        raise SystemExit(f"{path}: HTTP {answer.status}")
    return (time.perf_counter() - began) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-merkle-") as tmp:
        folder = Path(tmp)
        (folder / "catalog.yaml").write_text(yaml.safe_dump(catalog()))
        url = f"sqlite:///{folder / 'registry.db'}"
        Registry.init(url, catalog=folder / "catalog.yaml", actor="bench")
        began = time.perf_counter()
        seed(folder / "registry.db", 1000, args.events)
        seeded = time.perf_counter() - began
        writes, tree = time_appends(url, args.n)
        added = statistics.median(tree)
        rows.append(("a one-event write", statistics.median(writes), percentile(writes, 99)))
        rows.append(("its tree append", added, percentile(tree, 99)))
        registry = Registry.open(url, actor="operator")
        assert registry.verify().ok, "the seeded ledger does not verify"
        size = registry.ledger_head().seq
        token = registry.tokens.create(principal="bench@example.com").token
        with registry_server(url, folder) as conn:
            rng = random.Random(16)
            inclusion = [
                fetch(conn, f"/api/v1/ledger/proof/inclusion?seq={rng.randint(1, size)}", token)
                for _ in range(args.n + 5)
            ][5:]
            consistency = [
                fetch(
                    conn,
                    f"/api/v1/ledger/proof/consistency?first={size // 2 + rng.randint(0, 999)}"
                    f"&second={size}",
                    token,
                )
                for _ in range(args.n + 5)
            ][5:]
    rows.append(
        ("inclusion proof over HTTP", statistics.median(inclusion), percentile(inclusion, 99))
    )
    rows.append(
        ("consistency proof over HTTP", statistics.median(consistency), percentile(consistency, 99))
    )
    print(f"\n{size:,} ledger events (seeded in {seeded:.0f} s), {args.n} samples each\n")
    print("| measure | p50 (ms) | p99 (ms) |")
    print("| --- | --- | --- |")
    for name, p50, p99 in rows:
        print(f"| {name} | {p50:.2f} | {p99:.2f} |")
    verdicts = {
        "append added": added,
        "inclusion": statistics.median(inclusion),
        "consistency": statistics.median(consistency),
    }
    for name, value in verdicts.items():
        met = "met" if value < TARGETS[name] else "missed"
        print(f"target: {name} p50 under {TARGETS[name]:g} ms: {met} ({value:.2f} ms)")


if __name__ == "__main__":
    main()
