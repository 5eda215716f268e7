"""One writer process of the concurrency test: registers versions of one entry and moves
them through staging and production, rolling back now and then.

Usage: python concurrency_worker.py DATABASE_URL WORKER_INDEX WORKERS ROUNDS SCRATCH_DIR
Prints one JSON line: {"registered": [...], "refused": n, "errors": [...]}.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from registry_pipeline.errors import GateRefused, NotFound, Refused
from registry_pipeline.service import Registry


def main() -> None:
    url, index, workers, rounds, scratch = sys.argv[1:6]
    me, peers = int(index), int(workers)
    actor = f"w{me}@example.com"
    other = f"w{(me + 1) % peers}@example.com"
    mine = Registry.open(url, actor=actor)
    approver = Registry.open(url, actor=other)
    registered: list[int] = []
    refused = 0
    ops = 0
    errors: list[str] = []
    started = time.perf_counter()
    for i in range(int(rounds)):
        source = Path(scratch) / f"w{me}-r{i}"
        source.mkdir(parents=True, exist_ok=True)
        (source / "model.bin").write_bytes(f"worker {me} round {i}".encode())
        try:
            ops += 1
            version = mine.register("churn-clf", source, params={"round": i, "worker": me})
            registered.append(version.version)
            for stage in ("staging", "production"):
                ops += 1
                request = mine.request_promotion(
                    f"churn-clf@{version.version}", to=stage, reason=f"round {i}"
                )
                ops += 1
                approver.approve(request.id, reason="looks fine")
                ops += 1
                mine.apply(request.id)
            if i % 3 == 2:
                ops += 1
                approver.rollback("churn-clf", stage="production", reason="drill")
        except (GateRefused, Refused, NotFound):
            refused += 1
        except Exception as e:  # noqa: BLE001 - the test reports every unexpected error
            errors.append(f"{type(e).__name__}: {e}")
    elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {
                "registered": registered,
                "refused": refused,
                "errors": errors,
                "ops": ops,
                "seconds": elapsed,
            }
        )
    )


if __name__ == "__main__":
    main()
