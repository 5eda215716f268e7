"""Training sensor tick time: 10,000 outputs already seen in the landing folder, 10 new.

Run: ``.venv/bin/python bench/sensor_tick.py [--seen 10000] [--new 10] [--repeat 7] [--json]``.

Builds a real landing folder (``<landing>/<entry>/<run-id>/`` with a ``registry.yaml``
saying ``complete: true`` and a small ``model.bin``) holding ``--seen`` outputs across the
100 bench entries, and the cursor a previous tick would have left for them (watermark and
look-back set exactly as ``tick`` computes them: all of them are recent, so the cursor
lists every one, the heaviest case). Then ``--new`` outputs land and
``registry_pipeline.sensors.training_outputs.tick(catalog, landing, cursor, log=...)`` is timed
``--repeat`` times from that same cursor: it scans every folder, skips the seen ones, reads
and validates each new manifest, hashes each new output and returns one run request per
new output. Target: under 2 s (median).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).parent))

from _protocol import percentile
from worker_ours import ENTRIES, catalog_document

from registry_pipeline.catalog import load_catalog
from registry_pipeline.landing import scan
from registry_pipeline.sensors.training_outputs import LOOKBACK_NS, tick

TARGET_S = 2.0


def _drop(landing: Path, entry: str, run_id: str, payload: bytes) -> None:
    folder = landing / entry / run_id
    folder.mkdir(parents=True)
    (folder / "model.bin").write_bytes(payload)
    (folder / "registry.yaml").write_text(
        yaml.safe_dump({"entry": entry, "params": {"lr": 0.001}, "complete": True})
    )


def measure(seen: int = 10_000, new: int = 10, repeat: int = 7) -> dict[str, Any]:
    """Build the landing folder and cursor, then time ``tick`` ``repeat`` times."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "catalog.yaml").write_text(yaml.safe_dump(catalog_document()))
        catalog, _ = load_catalog(folder / "catalog.yaml")
        landing = folder / "landing"
        for i in range(seen):
            _drop(landing, f"model-{i % ENTRIES}", f"run-{i:06d}", b"weights %d" % i)
        outputs = scan(landing)
        watermark = max(o.ready_ns for o in outputs)
        recent = {o.key: o.ready_ns for o in outputs if o.ready_ns > watermark - LOOKBACK_NS}
        cursor = json.dumps({"watermark": watermark, "recent": recent}, sort_keys=True)
        time.sleep(0.05)
        for i in range(new):
            _drop(landing, f"model-{i % ENTRIES}", f"new-{i:06d}", b"new weights %d" % i)
        log = logging.getLogger("bench.sensor")
        samples = []
        requests = 0
        for _ in range(repeat):
            began = time.perf_counter()
            result = tick(catalog, landing, cursor, log=log)
            samples.append(time.perf_counter() - began)
            requests = len(result.run_requests or [])
    if requests != new:
        raise RuntimeError(f"tick asked for {requests} runs, expected {new}")
    median = statistics.median(samples)
    return {
        "seen": seen,
        "new": new,
        "cursor_keys": len(recent),
        "run_requests": requests,
        "repeat": repeat,
        "median_s": median,
        "p99_s": percentile(samples, 99),
        "target_s": TARGET_S,
        "met": median < TARGET_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seen", type=int, default=10_000)
    parser.add_argument("--new", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    result = measure(args.seen, args.new, args.repeat)
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"tick with {result['seen']:,} seen + {result['new']} new: median "
        f"{result['median_s']:.3f} s, p99 {result['p99_s']:.3f} s, "
        f"{result['run_requests']} run requests; target < {TARGET_S} s "
        f"{'ok' if result['met'] else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
