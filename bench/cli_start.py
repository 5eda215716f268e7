"""CLI cold start: wall time of ``registry --help`` and ``registry resolve WORKLOAD`` (on the
database, and through a ``registry serve`` with a token), each in a fresh process, as a
person or a deploy script pays it.

Run: ``.venv/bin/python bench/cli_start.py [--runs 15] [--json]``. Builds a small seeded
registry (the bench catalog, 1,000 versions, ``workload-0`` in production) in a temporary
folder, then alternates the two commands ``--runs`` times each with the installed
``registry`` entry point (interpreter start, imports, the query, output) and reports the
median and the slowest run. Targets: ``--help`` under 0.3 s, ``resolve`` under 0.3 s,
``resolve`` through the server under 0.2 s (medians; the client path imports neither
FastAPI nor SQLAlchemy).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).parent))

from _protocol import percentile
from worker_ours import REGISTRAR, catalog_document, seed

from registry_pipeline.service import Registry

TARGETS = {"help": 0.3, "resolve": 0.3, "resolve_remote": 0.2}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("registry serve did not start")


def measure(runs: int = 15) -> dict[str, Any]:
    """Time both commands ``runs`` times each, interleaved, after one untimed warm-up each
    (so the page cache holds the interpreter and libraries, as on any used machine)."""
    registry_bin = Path(sys.executable).with_name("registry")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "catalog.yaml").write_text(yaml.safe_dump(catalog_document()))
        url = f"sqlite:///{folder / 'registry.db'}"
        registry, _ = Registry.init(url, catalog=folder / "catalog.yaml", actor=REGISTRAR)
        registry.store.dispose()
        seed(folder / "registry.db", 10)
        # As an installed package runs: its bytecode cached (the untimed first run writes it;
        # PYTHONDONTWRITEBYTECODE in the caller's shell would recompile every module each run).
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env |= {"REGISTRY_DATABASE_URL": url, "REGISTRY_ACTOR": REGISTRAR}
        operator = Registry.open(url, actor="operator")
        token = operator.tokens.create(principal=REGISTRAR, name="bench").token
        operator.store.dispose()
        port = _free_port()
        server = subprocess.Popen(
            [str(registry_bin), "--database", url, "serve", "--port", str(port)],
            env={k: v for k, v in env.items() if k != "REGISTRY_ACTOR"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        remote = {
            **{
                k: v for k, v in env.items() if k not in ("REGISTRY_DATABASE_URL", "REGISTRY_ACTOR")
            },
            "REGISTRY_URL": f"http://127.0.0.1:{port}",
            "REGISTRY_TOKEN": token,
        }
        commands = {
            "help": ([str(registry_bin), "--help"], env),
            "resolve": ([str(registry_bin), "resolve", "workload-0"], env),
            "resolve_remote": ([str(registry_bin), "resolve", "workload-0"], remote),
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        try:
            _wait_for(port)
            for command, command_env in commands.values():
                subprocess.run(command, env=command_env, check=True, capture_output=True)
            for _ in range(runs):
                for name, (command, command_env) in commands.items():
                    began = time.perf_counter()
                    subprocess.run(command, env=command_env, check=True, capture_output=True)
                    samples[name].append(time.perf_counter() - began)
        finally:
            server.terminate()
            server.wait(timeout=20)
    return {
        name: {
            "command": " ".join(["registry", *commands[name][0][1:]])
            + (" (server)" if name == "resolve_remote" else ""),
            "runs": len(values),
            "median_s": statistics.median(values),
            "p99_s": percentile(values, 99),
            "target_s": TARGETS[name],
            "met": statistics.median(values) < TARGETS[name],
        }
        for name, values in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    result = measure(args.runs)
    if args.json:
        print(json.dumps(result))
        return
    for r in result.values():
        verdict = "ok" if r["met"] else "MISSED"
        print(
            f"{r['command']:<28} median {r['median_s']:.3f} s  p99 {r['p99_s']:.3f} s  "
            f"target < {r['target_s']} s {verdict}"
        )


if __name__ == "__main__":
    main()
