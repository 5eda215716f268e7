"""Definitions load time at 100, 1,000 and 5,000 catalog entries, each in a fresh process.

Run: ``.venv/bin/python bench/definitions_load.py``. Each size gets a generated catalog
(a mix of kinds with lineage and stacks); a child process imports the code location and
builds the asset graph, the way every Dagster process (code server, run worker) does.
Prints a table; the target at 1,000 entries is under 1.5 s.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

SIZES = (100, 1000, 5000)
REPEATS = 3
CHILD = """
import json, sys, time
t0 = time.perf_counter()
from registry_pipeline.definitions import defs
t1 = time.perf_counter()
d = defs()
graph = d.resolve_asset_graph()
d.resolve_all_job_defs()
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "build": t2 - t1, "assets": len(graph.get_all_asset_keys())}))
"""


def catalog(n: int) -> dict:
    entries: dict[str, dict] = {}
    workloads: dict[str, dict] = {}
    for i in range(0, n, 10):
        base, data, lora, evals, stack = (
            f"{k}-{i}" for k in ("base", "data", "lora", "evals", "stack")
        )
        entries[base] = {"kind": "base_model", "owner": "ml@example.com", "license": "mit"}
        entries[data] = {"kind": "dataset", "owner": "ml@example.com"}
        entries[lora] = {
            "kind": "lora_adapter",
            "owner": "ml@example.com",
            "upstream": [base, data],
        }
        entries[evals] = {"kind": "eval_suite", "owner": "ml@example.com", "evaluates": [lora]}
        for j in range(5):
            entries[f"prompt-{i}-{j}"] = {"kind": "prompt_template", "owner": "ml@example.com"}
        entries[stack] = {"kind": "stack", "owner": "ml@example.com", "components": [lora, evals]}
        workloads[f"w-{i}"] = {"stack": stack}
    return {"entries": entries, "workloads": workloads}


def measure(n: int, folder: Path) -> dict:
    path = folder / f"catalog-{n}.yaml"
    path.write_text(yaml.safe_dump(catalog(n)))
    env = {
        # bytecode cached, as an installed package runs (see cli_start.py)
        **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        "REGISTRY_CATALOG": str(path),
        "REGISTRY_DATABASE_URL": f"sqlite:///{folder / 'none.db'}",
    }
    subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, check=True)
    runs = []
    for _ in range(REPEATS):
        out = subprocess.run(
            [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "entries": n,
        "assets": runs[0]["assets"],
        "import_s": statistics.median(r["import"] for r in runs),
        "build_s": statistics.median(r["build"] for r in runs),
        "total_s": statistics.median(r["import"] + r["build"] for r in runs),
    }


def main() -> None:
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print(f"{'entries':>8} {'assets':>7} {'import s':>9} {'build s':>8} {'total s':>8}  target")
    with tempfile.TemporaryDirectory() as tmp:
        for n in SIZES:
            r = measure(n, Path(tmp))
            target = "< 1.5 s" if n == 1000 else ""
            verdict = ("ok" if r["total_s"] < 1.5 else "MISSED") if target else ""
            print(
                f"{r['entries']:>8} {r['assets']:>7} {r['import_s']:>9.2f} {r['build_s']:>8.2f} "
                f"{r['total_s']:>8.2f}  {target} {verdict}"
            )


if __name__ == "__main__":
    main()
