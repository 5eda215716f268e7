"""The benchmark suite: ours against MLflow's model registry, same machine, same run.

Run: ``make bench`` (or ``.venv/bin/python bench/run.py [--quick]``). ``--quick`` runs
1,000 and 10,000 versions only; ``--sizes 1000,100000`` picks sizes; ``--no-docs`` leaves
``docs/benchmarks.md`` alone; ``--no-extras`` skips the ours-only measurements;
``--no-http`` skips the two servers; ``--scale-versions 0`` skips the scale run.

What it does:

1. Installs the peer in its own virtualenv, ``bench/.venv-mlflow`` (``mlflow-skinny`` with
   the same SQLAlchemy as ours, from PyPI), once; telemetry off
   (``MLFLOW_DISABLE_TELEMETRY=true``, ``DO_NOT_TRACK=1``).
2. For each size (1,000, 10,000 and 100,000 versions over 100 entries) starts two
   long-lived workers, ``worker_ours.py`` in our venv and ``worker_mlflow.py`` in MLflow's,
   each on a SQLite file, seeds both in bulk (see each worker's docstring for how), then
   runs every operation interleaved: ours a batch, MLflow a batch, ours, MLflow... for
   ``--rounds`` rounds after one warm-up batch each. Every call is timed alone
   (``perf_counter``); the report gives the median and p99 (nearest rank) of all calls and
   the ratio ours/MLflow of the medians.
3. Four concurrent writer processes per system creating versions of one entry (three
   rounds, interleaved): throughput, errors, duplicated or lost versions.
4. Ours only: CLI cold start (``cli_start.py``), Dagster definitions load at 100 / 1,000 /
   5,000 entries (``definitions_load.py``), training sensor tick (``sensor_tick.py``).
5. Both servers over HTTP (``http_servers.py``: ``registry serve`` against ``mlflow
   server``) and both at scale (``scale.py``: 1,000,000 versions over 10,000 entries).
6. Prints every target with ok/MISSED, profiles (cProfile) our side of each missed
   comparison into ``bench/results/profile-*.txt``, writes the results as JSON
   (``bench/results/bench-<time>.json`` and ``latest.json``) and as Markdown
   (``docs/benchmarks.md``, with the command that produced it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).parent))

from _protocol import PREFIX, percentile

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
DOCS = ROOT / "docs" / "benchmarks.md"
PEER_VENV = BENCH / ".venv-mlflow"
#: The peer, pinned: the MLflow our lock file uses, with our SQLAlchemy (same driver layer).
PEER_SPEC = ("mlflow-skinny==3.17.2", "alembic==1.20.1", "SQLAlchemy==2.1.9")
SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (1_000, 10_000)
QUIET_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "DAGSTER_DISABLE_TELEMETRY": "1",
}


@dataclass(frozen=True)
class Op:
    """One compared operation: what each side calls, the batch per round, a time budget."""

    name: str
    title: str
    ours: str
    peer: str
    batch: int
    budget_s: float = 5.0
    warmup: int = 2


OPS = (
    Op(
        "resolve",
        "resolve production",
        '`Registry.show("model-N@production")`',
        "`MlflowClient.get_model_version_by_alias(name, 'production')`",
        batch=50,
    ),
    Op(
        "resolve_fresh",
        "resolve production right after a write",
        "a version of another entry recorded (untimed: the ledger moves, nothing kept in "
        'memory answers), then `Registry.show("model-N@production")`',
        "a version of another model created (untimed), then `get_model_version_by_alias`",
        batch=20,
    ),
    Op(
        "resolve_workload",
        "resolve a workload",
        '`Registry.resolve("workload-0")` (stack and pinned components)',
        "no workloads or stacks in MLflow",
        batch=50,
    ),
    Op(
        "tag_search",
        "search versions by tag",
        '`Registry.search(params={"dataset": K})` (the store\'s search index)',
        "`MlflowClient.search_model_versions(\"tags.dataset = 'ds-K'\")`, all pages",
        batch=5,
        budget_s=4.0,
        warmup=1,
    ),
    Op(
        "tag_search_fresh",
        "search by tag right after a write",
        "a version tagged `ds-K` recorded (untimed), then `Registry.search`; the answer "
        "must include it",
        "a version tagged `ds-K` created (untimed), then `search_model_versions`, all pages; "
        "the answer must include it",
        batch=5,
        budget_s=4.0,
        warmup=1,
    ),
    Op(
        "metric_search",
        "search versions by eval metric threshold",
        '`Registry.search(metric="accuracy", at_least=0.995, suite=S)`',
        "not supported",
        batch=5,
        budget_s=4.0,
        warmup=1,
    ),
    Op(
        "history",
        "who moved production and when",
        '`Registry.history(entry, stage="production")`',
        "not supported",
        batch=20,
    ),
    Op(
        "create",
        "create a version",
        "`Registry.register` of a fresh tiny file (hashed), with a params tag",
        "`MlflowClient.create_model_version` with a tag (metadata only)",
        batch=20,
    ),
    Op(
        "create_import",
        "create a version, metadata only",
        "`Registry.import_version` (digest supplied, nothing read)",
        "(same MLflow call as above)",
        batch=20,
    ),
    Op(
        "promote",
        "set production",
        "`Registry.apply` of a production request, approval already recorded (gates "
        "re-checked, ledger event, holder displaced)",
        "`MlflowClient.set_registered_model_alias(name, 'production', v)`",
        batch=5,
        warmup=1,
    ),
)
#: Targets: the ratio ours/MLflow of the medians must be at most this.
RATIO_TARGETS = {"create": 0.25, "resolve": 0.2, "tag_search": 0.5, "tag_search_fresh": 0.5}


# -- the peer's venv ----------------------------------------------------------------------


def peer_python() -> Path:
    """MLflow's venv, created and filled from PyPI when missing or pinned differently."""
    python = PEER_VENV / "bin" / "python"
    stamp = PEER_VENV / ".installed"
    wanted = "\n".join(PEER_SPEC)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"installing the peer into {PEER_VENV.relative_to(ROOT)}: {' '.join(PEER_SPEC)}")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(PEER_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PEER_SPEC],
        check=True,
    )
    stamp.write_text(wanted)
    return python


# -- workers ------------------------------------------------------------------------------


class Worker:
    """A long-lived worker process answering one JSON line per request."""

    def __init__(self, name: str, python: Path, script: str, log: Path) -> None:
        self.name = name
        self.log = log
        self._err: IO[str] = log.open("a")
        self.proc = subprocess.Popen(
            [str(python), str(BENCH / script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=True,
            cwd=ROOT,
            env={**os.environ, **QUIET_ENV},
        )

    def ask(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send one request and wait for its answer; raise on a worker error."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith(PREFIX):
                answer: dict[str, Any] = json.loads(line[len(PREFIX) :])
                if not answer["ok"]:
                    raise RuntimeError(f"{self.name} {op}: {answer['error']}\n{answer['trace']}")
                return answer
        raise RuntimeError(f"{self.name} worker exited; see {self.log}")

    def close(self) -> None:
        """Ask the worker to stop and wait for it."""
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        self._err.close()


def summary(samples: list[float]) -> dict[str, Any]:
    """Median, p99 and count of samples in seconds (empty: unsupported)."""
    if not samples:
        return {"n": 0}
    return {
        "n": len(samples),
        "median_s": statistics.median(samples),
        "p99_s": percentile(samples, 99),
        "min_s": min(samples),
    }


def measure_op(op: Op, workers: dict[str, Worker], rounds: int) -> dict[str, Any]:
    """One warm-up batch each, then ``rounds`` rounds of ours a batch, MLflow a batch."""
    starts = {side: 0 for side in workers}
    samples: dict[str, list[float]] = {side: [] for side in workers}
    row: dict[str, Any] = {"peer_unsupported": None}
    for rnd in range(rounds + 1):
        keep = rnd > 0
        for side, worker in workers.items():
            if side == "peer" and row["peer_unsupported"]:
                continue
            answer = worker.ask(
                "run",
                name=op.name,
                start=starts[side],
                count=op.batch if keep else op.warmup,
                budget_s=op.budget_s,
            )
            if answer.get("unsupported"):
                row["peer_unsupported"] = answer["unsupported"]
                continue
            starts[side] += len(answer["samples"])
            if keep:
                samples[side].extend(answer["samples"])
                row[f"{side}_rows"] = answer.get("rows")
            if "inventory_rebuild_s" in answer:
                row.setdefault("inventory_rebuild_s", answer["inventory_rebuild_s"])
    row["ours"] = summary(samples["ours"])
    row["peer"] = summary(samples["peer"])
    if samples["peer"]:
        row["ratio"] = row["ours"]["median_s"] / row["peer"]["median_s"]
        row["ratio_p99"] = row["ours"]["p99_s"] / row["peer"]["p99_s"]
    return row


def compare_size(
    size: int, ours: Worker, peer: Worker, folder: Path, rounds: int, profile: bool
) -> dict[str, Any]:
    """Seed both sides at ``size``, then run every operation interleaved."""
    print(f"\n== {size:,} versions over 100 entries (load average {load()})")
    load_before = load()
    seeded_ours = ours.ask("setup", size=size, folder=str(folder / "ours"))
    print(
        f"  seeded ours in {seeded_ours['seed_s']:.1f} s ({seeded_ours['ledger_events']:,} "
        f"ledger events, verified in {seeded_ours['verify_s']:.1f} s; inventory built in "
        f"{seeded_ours['inventory_build_s']:.1f} s)"
    )
    seeded_peer = peer.ask("setup", size=size, folder=str(folder / "mlflow"))
    print(
        f"  seeded MLflow in {seeded_peer['seed_s']:.1f} s (schema created by MLflow in "
        f"{seeded_peer['schema_s']:.1f} s)"
    )
    # Reads run first, on exactly the seeded data (same rows on both sides); then writes.
    # Seeding leaves hundreds of MB of dirty pages; flush them so that neither side's first
    # fsyncs wait for the other's (or its own) seeding writeback.
    os.sync()
    time.sleep(1)
    results: dict[str, Any] = {}
    for op in OPS:
        results[op.name] = measure_op(op, {"ours": ours, "peer": peer}, rounds)
        print(f"  {_line(op, results[op.name])}")
    profiles = {}
    for name, limit in RATIO_TARGETS.items():
        ratio = results[name].get("ratio")
        if profile and ratio is not None and ratio > limit:
            path = RESULTS / f"profile-{name}-{size}.txt"
            ours.ask("run", name=name, start=10_000, count=40, budget_s=20, profile_to=str(path))
            peer_path = RESULTS / f"profile-{name}-{size}-mlflow.txt"
            peer.ask(
                "run", name=name, start=10_000, count=40, budget_s=20, profile_to=str(peer_path)
            )
            profiles[name] = [str(path.relative_to(ROOT)), str(peer_path.relative_to(ROOT))]
            print(f"  profiled {name}: {path.relative_to(ROOT)}")
    return {
        "size": size,
        "load": [load_before, load()],
        "seed_ours": seeded_ours,
        "seed_peer": seeded_peer,
        "ops": results,
        "profiles": profiles,
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.2f}"


def _line(op: Op, row: dict[str, Any]) -> str:
    ours, peer = row["ours"], row["peer"]
    text = f"{op.title:<42} ours {_ms(ours.get('median_s')):>8} ms (p99 {_ms(ours.get('p99_s'))})"
    if peer.get("n"):
        text += (
            f"  MLflow {_ms(peer['median_s']):>8} ms (p99 {_ms(peer['p99_s'])})"
            f"  ratio {row['ratio']:.2f}x"
        )
    else:
        text += "  MLflow: " + (row["peer_unsupported"] or "n/a").split(":")[0]
    return text


# -- concurrent writers ---------------------------------------------------------------------


def writers_round(
    python: Path, script: str, folder: Path, entry: str, writers: int, count: int
) -> dict[str, Any]:
    """Start ``writers`` processes, release them together, collect what each did."""
    go = folder / f"go-{entry}-{script}"
    os.sync()
    procs = [
        subprocess.Popen(
            [
                str(python),
                str(BENCH / script),
                "writer",
                str(folder),
                entry,
                str(i),
                str(count),
                str(go),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, **QUIET_ENV},
        )
        for i in range(writers)
    ]
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            _, err = proc.communicate()
            raise RuntimeError(f"writer did not start: {line!r} {err[-2000:]}")
    go.touch()
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"writer failed: {err[-2000:]}")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    created = [n for r in reports for n in r["created"]]
    wall = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    errors = [e for r in reports for e in r["errors"]]
    return {
        "attempted": writers * count,
        "created": len(created),
        "numbers": created,
        "errors": len(errors),
        "error_kinds": sorted(
            {e.split(":")[0] + ": " + e.split(":", 2)[1][:80] for e in errors} if errors else set()
        ),
        "seconds": wall,
        "throughput": len(created) / wall if wall > 0 else 0.0,
    }


def concurrency(
    ours_python: Path, peer_python_: Path, folder: Path, writers: int, count: int, rounds: int
) -> dict[str, Any]:
    """``rounds`` interleaved rounds of ``writers`` writers on each side, one entry each."""
    print(f"\n== {writers} concurrent writer processes, {count} versions each, one entry")
    log = RESULTS / "logs"
    ours = Worker("ours", ours_python, "worker_ours.py", log / "conc-ours.log")
    peer = Worker("mlflow", peer_python_, "worker_mlflow.py", log / "conc-mlflow.log")
    sides = {
        "ours": (ours, ours_python, "worker_ours.py", folder / "ours"),
        "peer": (peer, peer_python_, "worker_mlflow.py", folder / "mlflow"),
    }
    out: dict[str, Any] = {
        "writers": writers,
        "per_writer": count,
        "rounds": {},
        "load": [load()],
    }
    try:
        for worker, _, _, where in sides.values():
            worker.ask("conc_setup", folder=str(where))
        for side in sides:
            out["rounds"][side] = []
        for r in range(rounds):
            entry = f"model-{r}"
            for side, (worker, python, script, where) in sides.items():
                result = writers_round(python, script, where, entry, writers, count)
                stored = worker.ask("conc_check", folder=str(where), entry=entry)
                numbers = result.pop("numbers")
                result["duplicates"] = (len(numbers) - len(set(numbers))) + (
                    len(stored["contents"]) - len(set(stored["contents"]))
                )
                result["lost"] = len(set(numbers) - set(stored["numbers"]))
                result["stored"] = len(stored["numbers"])
                result["gaps"] = max(stored["numbers"], default=0) - len(set(stored["numbers"]))
                if "ledger_ok" in stored:
                    result["ledger_ok"] = stored["ledger_ok"]
                out["rounds"][side].append(result)
                print(
                    f"  round {r + 1} {('ours' if side == 'ours' else 'MLflow'):<6} "
                    f"{result['throughput']:7.1f} versions/s, {result['created']}/"
                    f"{result['attempted']} created, {result['errors']} errors, "
                    f"{result['duplicates']} duplicates, {result['lost']} lost"
                    + (f" ({'; '.join(result['error_kinds'])})" if result["errors"] else "")
                )
    finally:
        ours.close()
        peer.close()
    out["load"].append(load())
    for side in sides:
        rows = out["rounds"][side]
        out[side] = {
            "throughput": statistics.median(r["throughput"] for r in rows),
            "errors": sum(r["errors"] for r in rows),
            "duplicates": sum(r["duplicates"] for r in rows),
            "lost": sum(r["lost"] for r in rows),
            "created": sum(r["created"] for r in rows),
            "attempted": sum(r["attempted"] for r in rows),
            "error_kinds": sorted({k for r in rows for k in r["error_kinds"]}),
        }
    peer_tp = out["peer"]["throughput"]
    out["ratio"] = out["ours"]["throughput"] / peer_tp if peer_tp else float("inf")
    return out


# -- ours only ------------------------------------------------------------------------------


def _script_json(script: str, *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--json", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **QUIET_ENV},
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def extras() -> dict[str, Any]:
    """CLI cold start, definitions load, sensor tick."""
    import definitions_load

    print("\n== ours only")
    cli = _script_json("cli_start.py")
    for r in cli.values():
        print(f"  {r['command']:<30} median {r['median_s']:.3f} s (p99 {r['p99_s']:.3f} s)")
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in definitions_load.SIZES:
            r = definitions_load.measure(n, Path(tmp))
            loads.append(r)
            print(
                f"  definitions load, {n:>5} entries: {r['total_s']:.2f} s ({r['assets']} assets)"
            )
    sensor = _script_json("sensor_tick.py")
    print(
        f"  sensor tick, {sensor['seen']:,} seen + {sensor['new']} new: "
        f"median {sensor['median_s']:.3f} s"
    )
    return {"cli": cli, "definitions": loads, "sensor": sensor}


# -- machine and versions -----------------------------------------------------------------


def load() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine shows here."""
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def machine() -> dict[str, Any]:
    """Cores, CPU model, memory, OS."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def our_versions() -> dict[str, Any]:
    """Our package, its commit, and the libraries on the timed paths."""
    import duckdb
    import sqlalchemy

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                cwd=ROOT,
                check=True,
            ).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", False
    return {
        "registry-pipeline": metadata.version("registry-pipeline"),
        "commit": commit + ("+local changes" if dirty else ""),
        "sqlalchemy": sqlalchemy.__version__,
        "duckdb": duckdb.__version__,
        "dagster": metadata.version("dagster"),
        "sqlite": sqlite3.sqlite_version,
        "python": platform.python_version(),
    }


# -- verdicts and report --------------------------------------------------------------------


def verdicts(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target with its measured value and ok/MISSED."""
    out: list[dict[str, Any]] = []
    sizes = report["sizes"]
    for s in sizes:
        for name, limit in RATIO_TARGETS.items():
            ratio = s["ops"][name].get("ratio")
            title = next(o.title for o in OPS if o.name == name)
            out.append(
                {
                    "target": f"{title} at {s['size']:,}: ours/MLflow median <= {limit}x",
                    "measured": f"{ratio:.2f}x" if ratio is not None else "n/a",
                    "met": ratio is not None and ratio <= limit,
                }
            )
    conc = report.get("concurrency")
    if conc:
        out.append(
            {
                "target": f"{conc['writers']} concurrent writers: ours/MLflow throughput >= 5x, "
                "zero errors (ours)",
                "measured": f"{conc['ratio']:.2f}x, {conc['ours']['errors']} errors",
                "met": conc["ratio"] >= 5 and conc["ours"]["errors"] == 0,
            }
        )
    out += _http_verdicts(report)
    extra = report.get("extras")
    if extra:
        for r in extra["cli"].values():
            out.append(
                {
                    "target": f"`{r['command']}` cold start < {r['target_s']} s",
                    "measured": f"{r['median_s']:.3f} s",
                    "met": r["met"],
                }
            )
        for r in extra["definitions"]:
            if r["entries"] == 1000:
                out.append(
                    {
                        "target": "Dagster definitions load at 1,000 entries < 1.5 s",
                        "measured": f"{r['total_s']:.2f} s",
                        "met": r["total_s"] < 1.5,
                    }
                )
        sensor = extra["sensor"]
        out.append(
            {
                "target": f"sensor tick, {sensor['seen']:,} seen + {sensor['new']} new < 2 s",
                "measured": f"{sensor['median_s']:.3f} s",
                "met": sensor["met"],
            }
        )
    return out


def _http_row(report: dict[str, Any], op: str, clients: int, driver: str) -> Any:
    rows = report.get("http", {}).get("rows", [])
    return next(
        (
            r
            for r in rows
            if r["op"] == op
            and r["clients"] == clients
            and r["driver"] == driver
            and r["workers"] == 1
        ),
        None,
    )


def _http_verdicts(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The over-HTTP and at-scale targets."""
    out: list[dict[str, Any]] = []
    if "http" in report:
        resolve = _http_row(report, "resolve", 1, "http.client")
        ratio = resolve["ours"]["p50"] / resolve["mlflow"]["p50"]
        out.append(
            {
                "target": "over HTTP, resolve p50 <= 0.2x MLflow's get-version-by-alias",
                "measured": f"{ratio:.2f}x ({resolve['ours']['p50']:.2f} / "
                f"{resolve['mlflow']['p50']:.2f} ms)",
                "met": ratio <= 0.2,
            }
        )
        checks = report["http"]["checks"]
        for driver in ("http.client", "wrk"):
            reg = _http_row(report, "register", 16, driver)
            if reg is None:
                continue
            times = reg["ours"]["rps"] / reg["mlflow"]["rps"]
            out.append(
                {
                    "target": f"over HTTP, register at 16 clients ({driver}) >= 5x MLflow's "
                    "create throughput, zero errors, gap-free numbers",
                    "measured": f"{times:.2f}x ({reg['ours']['rps']:.0f} / "
                    f"{reg['mlflow']['rps']:.0f} per s), {reg['ours']['errors']} errors, "
                    f"{'gap-free' if checks['ours_gap_free'] else 'GAPS'}",
                    "met": times >= 5 and reg["ours"]["errors"] == 0 and checks["ours_gap_free"],
                }
            )
        apply = _http_row(report, "set production", 1, "http.client")
        ratio = apply["ours"]["p50"] / apply["mlflow"]["p50"]
        out.append(
            {
                "target": "over HTTP, set production (gated apply) p50 <= 1x MLflow's alias move",
                "measured": f"{ratio:.2f}x",
                "met": ratio <= 1,
            }
        )
    if "scale" in report:
        for t in report["scale"]["targets"]:
            out.append(
                {**t, "target": f"at {report['scale']['versions']:,} versions: {t['target']}"}
            )
    return out


def _http_markdown(report: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    web = report.get("http")
    if web:
        lines += [
            "## Over HTTP: `registry serve` against `mlflow server`",
            "",
            "Both servers on SQLite files on this machine, one worker each (`mlflow server "
            "--workers 1`: with more, uvicorn leaves Nagle's algorithm on and every response "
            "waits ~40 ms; the 4-worker rows show both servers' floor), seeded with one model of "
            "200 versions (ours: the newest pinned by a stack in production for a workload). "
            "Load from separate `http.client` processes, one keep-alive connection each, "
            "requests built before the clock starts, and from `wrk` (C) for the 16-client rows "
            f"when it is installed; {web['seconds']:.0f} s per case after a warm-up, the two "
            "servers alternately. `empty`: ours `GET /healthz` (reads the ledger head), MLflow "
            "`GET /health`. `resolve`: ours the whole stack of a workload with a token, MLflow "
            "one version by alias. `register`: ours `POST /api/v1/versions` of new content each "
            "time (manifest recomputed, registrar role, ledger event, Merkle leaf, search "
            "index), MLflow `model-versions/create`. `set production`: ours applies an "
            "approved production request (every gate re-checked), MLflow moves an alias.",
            "",
            "| operation | load from | server workers | clients | ours p50 / p99 ms | MLflow "
            "p50 / p99 ms | ours / MLflow p50 | ours req/s | MLflow req/s | errors ours / MLflow |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in web["rows"]:
            o, m = r["ours"], r["mlflow"]
            lines.append(
                f"| {r['op']} | {r['driver']} | {r['workers']} | {r['clients']} | "
                f"{o['p50']:.2f} / {o['p99']:.2f} | {m['p50']:.2f} / {m['p99']:.2f} | "
                f"{o['p50'] / m['p50']:.2f}x | {o['rps']:.0f} | {m['rps']:.0f} | "
                f"{o['errors']} / {m['errors']} |"
            )
        c = web["checks"]
        lines += [
            "",
            f"Version numbers after the run: ours {c['ours_versions']:,} "
            f"({'gap-free' if c['ours_gap_free'] else 'with GAPS'}), MLflow "
            f"{c['mlflow_versions']:,} ({'gap-free' if c['mlflow_gap_free'] else 'with GAPS'}).",
            "",
        ]
    scale = report.get("scale")
    if scale:
        z = scale["sizes"]
        lines += [
            f"## At scale: {scale['versions']:,} versions over {scale['entries']:,} entries",
            "",
            f"Seeded ours in {scale['seed']['ours_s']:.0f} s, MLflow in "
            f"{scale['seed']['mlflow_s']:.0f} s (bulk rows; see `bench/scale.py`). Then both "
            "servers (one worker each), 1 and 4 `http.client` connections, "
            "alternately. Ours resolves `model-K@production` for a random K and a workload's "
            "stack; MLflow reads an alias of a random model. Register: new content for a random "
            "entry.",
            "",
            "| operation | clients | ours p50 / p99 ms | MLflow p50 / p99 ms "
            "| errors ours / MLflow |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for r in scale["rows"]:
            o, m = r["ours"], r.get("mlflow")
            theirs = f"{m['p50']:.2f} / {m['p99']:.2f}" if m else "-"
            lines.append(
                f"| {r['op']} | {r['clients']} | {o['p50']:.2f} / {o['p99']:.2f} | {theirs} | "
                f"{o['errors']} / {m['errors'] if m else '-'} |"
            )
        lines += [
            "",
            f"Store file size per 10,000 versions: ours {z['ours_mb_per_10k']:.1f} MiB "
            "(versions, params and their search index, evals, stage history, the ledger and its "
            f"Merkle tree), MLflow {z['mlflow_mb_per_10k']:.1f} MiB (versions and tags only).",
            "",
        ]
    return lines


def markdown(report: dict[str, Any]) -> str:
    """``docs/benchmarks.md``: method, machine, versions, tables, targets."""
    m, ours_v, peer_v = report["machine"], report["versions"]["ours"], report["versions"]["mlflow"]
    lines = [
        "# Benchmarks: ours against MLflow's model registry",
        "",
        "Generated by `bench/run.py`; do not edit by hand, run it again.",
        "",
        f"- Command: `{report['command']}`",
        f"- Run: {report['started']} to {report['finished']} ({report['wall_s'] / 60:.1f} min)",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory']} RAM, {m['os']}; load "
        f"average (1 / 5 / 15 min) {report.get('load_at_start')} at the start, "
        f"{report.get('load_at_end')} at the end (other work on the machine shows here: "
        "the interleaving spreads it over both sides, but it inflates both)",
        f"- Ours: registry-pipeline {ours_v['registry-pipeline']} (commit {ours_v['commit']}), "
        f"Python {ours_v['python']}, SQLAlchemy {ours_v['sqlalchemy']}, SQLite "
        f"{ours_v['sqlite']}, DuckDB {ours_v['duckdb']}, Dagster {ours_v['dagster']}",
        f"- MLflow: mlflow-skinny {peer_v['mlflow']} in its own venv (`bench/.venv-mlflow`), "
        f"Python {peer_v['python']}, SQLAlchemy {peer_v['sqlalchemy']}, SQLite {peer_v['sqlite']}; "
        "telemetry off (`MLFLOW_DISABLE_TELEMETRY=true`, `DO_NOT_TRACK=1`)",
        f"- Raw results: `bench/results/{report['json_name']}`",
        "",
        "## How it is measured",
        "",
        "Both systems run on this machine in the same run, each on its own SQLite file in "
        "its default configuration (ours: WAL, `synchronous=FULL`; MLflow: its SQLAlchemy "
        "store as it configures SQLite), each through its Python API in a long-lived worker "
        "process (no import or connection inside a timed call). Operations are interleaved: "
        f"ours a batch, MLflow a batch, for {report['rounds']} rounds after one warm-up "
        "batch each. Each call is timed alone; set-up a call needs (a file to register, a "
        "request to approve) is done before its timer starts. Medians and p99 (nearest rank) "
        "are over every timed call; the ratio is ours/MLflow of the medians (below 1: ours "
        "is faster).",
        "",
        "These are the numbers of one run. When the load average is well above the core "
        "count, other work shares the machine: interleaving keeps it from favouring either "
        "side, but it stretches the tails, and fsync-bound results (create, set production, "
        "the concurrent writers) moved a lot between runs on the same day; repeat "
        "`make bench` before reading much into one ratio.",
        "",
        "Data: N versions spread evenly over 100 entries (registered models), each with a "
        "`dataset` tag taking 100 values (1% of versions match a tag search) and, on our "
        "side, one `accuracy` eval; every 5th version of each entry was promoted "
        "(through staging on ours) and the newest of those holds production.",
        "",
        "- **Seeding ours**: direct bulk inserts into our tables in one transaction, with a "
        "genuinely hash-chained ledger (every version, eval and promotion has its sealed "
        "event), then `Registry.verify` before anything is timed. Our version tag is the "
        "version's `params` (training config, recorded at registration).",
        "- **Seeding MLflow**: MLflow creates its own schema (its migrations) and the 100 "
        "registered models through `MlflowClient`; versions and tags are inserted in bulk "
        "with SQL into MLflow's own `model_versions` and `model_version_tags` tables, rows "
        "shaped after a version MLflow created itself (the client takes ~10 ms a version); "
        "the `production` aliases are set through the client; checked through the client.",
        "- **Create a version**: ours is `Registry.register` of a fresh tiny file, the path "
        "every registration takes (it hashes the file, detects its format, records version, "
        "params, ledger event and candidate stage in one transaction) although MLflow's "
        "`create_model_version` only records a source URI; `Registry.import_version` "
        "(metadata only, the digest supplied) is shown beside it. The target applies to "
        "`register`.",
        "- **Set production**: ours is the gated path: the production request and its "
        "approval are recorded before the timer starts (as are the staging request, "
        "approval and apply it needs first); `Registry.apply` is timed: it re-evaluates "
        "every gate (approvals, evals threshold, license, transition) inside its write "
        "transaction, appends `promotion.apply` to the ledger, displaces the holder and "
        "rewrites deployment manifests. MLflow moves an alias.",
        "- **Search**: ours is `Registry.search` (what `registry search` and `GET "
        "/api/v1/versions` run): the store's search indexes, written in the transaction that "
        "records each version and eval, so nothing is rebuilt and a version recorded a "
        "moment ago is found; answers are kept in memory until the ledger moves. *Right "
        "after a write*: a version with the searched tag is recorded first (untimed), and "
        "the call fails unless the answer includes it, on both sides. The DuckDB inventory "
        "(`registry sql`) is still rebuilt when the ledger moved (its build time is in the "
        "seeding line).",
        "- **Resolve production**: *steady* is what a deployment system polling sees (the "
        "answer kept in memory until the ledger moves); *right after a write* records a "
        "version of another entry first (untimed), so nothing kept answers and the reads "
        "run.",
        "",
    ]
    for s in report["sizes"]:
        so, sp = s["seed_ours"], s["seed_peer"]
        lines += [
            f"## {s['size']:,} versions over 100 entries",
            "",
            f"Seeded ours in {so['seed_s']:.1f} s ({so['versions']:,} versions, "
            f"{so['evals']:,} evals, {so['stage_rows']:,} stage rows, {so['ledger_events']:,} "
            f"ledger events; chain verified in {so['verify_s']:.1f} s; inventory built in "
            f"{so['inventory_build_s']:.2f} s). Seeded MLflow in {sp['seed_s']:.1f} s "
            f"(+ {sp['schema_s']:.1f} s for MLflow to create its schema). Load average "
            f"{' then '.join(s.get('load', []))}.",
            "",
            "| operation | ours | MLflow | ours median (ms) | ours p99 (ms) | MLflow median (ms) "
            "| MLflow p99 (ms) | ours/MLflow | calls |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for op in OPS:
            row = s["ops"][op.name]
            o, p = row["ours"], row["peer"]
            peer_text = row["peer_unsupported"] if op.peer == "not supported" else op.peer
            if op.name == "create_import":
                p = s["ops"]["create"]["peer"]
            ratio = o["median_s"] / p["median_s"] if p.get("n") else None
            lines.append(
                f"| {op.title} | {op.ours} | {peer_text} | {_ms(o.get('median_s'))} | "
                f"{_ms(o.get('p99_s'))} | {_ms(p.get('median_s'))} | {_ms(p.get('p99_s'))} | "
                f"{f'{ratio:.2f}x' if ratio is not None else '-'} | "
                f"{o['n']} / {p.get('n', 0)} |"
            )
        rows = {k: s["ops"][k] for k in ("tag_search", "metric_search")}
        counts = ", ".join(
            f"{k.replace('_', ' ')}: ours {v.get('ours_rows')} rows"
            + (f", MLflow {v.get('peer_rows')}" if v.get("peer_rows") is not None else "")
            for k, v in rows.items()
        )
        lines += ["", f"Rows returned by the last search call: {counts}.", ""]
    conc = report.get("concurrency")
    if conc:
        lines += [
            f"## {conc['writers']} concurrent writers",
            "",
            f"{conc['writers']} processes per system, each creating {conc['per_writer']} "
            "versions of one entry (ours: `register` of a tiny file; MLflow: "
            "`create_model_version`), released together by a start barrier after imports and "
            f"connections; {len(conc['rounds']['ours'])} rounds, interleaved, a fresh entry "
            "each round. Throughput is versions created per second of wall time (median of "
            "the rounds); errors are exceptions raised to the caller; duplicates are version "
            "numbers handed out twice or content stored twice; lost are versions reported "
            "created but not stored.",
            "",
            "| | versions/s (median) | created / attempted | errors | duplicates | lost |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for side, label in (("ours", "ours"), ("peer", "MLflow")):
            c = conc[side]
            lines.append(
                f"| {label} | {c['throughput']:.1f} | {c['created']} / {c['attempted']} | "
                f"{c['errors']} | {c['duplicates']} | {c['lost']} |"
            )
        kinds = conc["peer"]["error_kinds"] + conc["ours"]["error_kinds"]
        lines += [
            "",
            f"Ratio ours/MLflow: {conc['ratio']:.2f}x. Load average "
            f"{' then '.join(conc.get('load', []))}.",
        ]
        if kinds:
            lines += ["", "Errors seen: " + "; ".join(f"`{k}`" for k in kinds) + "."]
        lines.append("")
    lines += _http_markdown(report)
    extra = report.get("extras")
    if extra:
        lines += [
            "## Ours only",
            "",
            "| measure | median | p99 / max | target |",
            "| --- | ---: | ---: | --- |",
        ]
        for r in extra["cli"].values():
            lines.append(
                f"| `{r['command']}` cold start, fresh process ({r['runs']} runs) | "
                f"{r['median_s']:.3f} s | {r['p99_s']:.3f} s | < {r['target_s']} s |"
            )
        for r in extra["definitions"]:
            lines.append(
                f"| Dagster definitions load, {r['entries']:,} entries ({r['assets']:,} assets, "
                f"fresh process, median of 3) | {r['total_s']:.2f} s | - | "
                f"{'< 1.5 s' if r['entries'] == 1000 else ''} |"
            )
        sensor = extra["sensor"]
        lines += [
            f"| training sensor tick, {sensor['seen']:,} outputs seen + {sensor['new']} new "
            f"(real landing folder, {sensor['repeat']} ticks) | {sensor['median_s']:.3f} s | "
            f"{sensor['p99_s']:.3f} s | < 2 s |",
            "",
        ]
    lines += ["## Targets", "", "| target | measured | verdict |", "| --- | --- | --- |"]
    for v in report["verdicts"]:
        lines.append(f"| {v['target']} | {v['measured']} | {'ok' if v['met'] else 'MISSED'} |")
    lines.append("")
    profiles = [p for s in report["sizes"] for ps in s["profiles"].values() for p in ps]
    if profiles:
        lines += [
            "cProfile reports of the missed comparisons (ours and MLflow, 40 calls each) are "
            "written to " + ", ".join(f"`{p}`" for p in profiles) + " (not committed).",
            "",
        ]
    return "\n".join(lines)


def _command(quick: bool) -> str:
    if os.environ.get("MAKELEVEL") and sys.argv[1:] in ([], ["--quick"]):
        return "make bench" + (" QUICK=1" if quick else "")
    return shlex.join([".venv/bin/python", "bench/run.py", *sys.argv[1:]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 versions only")
    parser.add_argument("--sizes", help="comma-separated version counts (multiples of 100)")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds per op")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--writes", type=int, default=50, help="versions per writer")
    parser.add_argument("--writer-rounds", type=int, default=3)
    parser.add_argument("--no-extras", action="store_true", help="skip the ours-only part")
    parser.add_argument("--no-http", action="store_true", help="skip the two servers")
    parser.add_argument("--http-seconds", type=float, default=5.0, help="per HTTP case")
    parser.add_argument(
        "--scale-versions",
        type=int,
        default=None,
        help="versions of the scale run over 10,000 entries (0: skip; default 1,000,000, "
        "100,000 with --quick)",
    )
    parser.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md alone")
    parser.add_argument("--no-profile", action="store_true", help="no profiles of misses")
    parser.add_argument(
        "--render", metavar="JSON", help="only rewrite docs/benchmarks.md from a results file"
    )
    args = parser.parse_args()
    if args.scale_versions is None:
        args.scale_versions = 100_000 if args.quick else 1_000_000
    if args.render:
        DOCS.write_text(markdown(json.loads(Path(args.render).read_text())))
        print(f"wrote {DOCS.relative_to(ROOT)} from {args.render}")
        return
    sizes = (
        tuple(int(s) for s in args.sizes.split(","))
        if args.sizes
        else QUICK_SIZES
        if args.quick
        else SIZES
    )
    began = time.time()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "logs").mkdir(exist_ok=True)
    peer = peer_python()
    ours_python = Path(sys.executable)
    report: dict[str, Any] = {
        "command": _command(args.quick),
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "load_at_start": load(),
        "rounds": args.rounds,
        "sizes": [],
    }
    probe = Worker("mlflow", peer, "worker_mlflow.py", RESULTS / "logs" / "mlflow.log")
    report["versions"] = {"ours": our_versions(), "mlflow": probe.ask("info")}
    probe.close()
    m, v = report["machine"], report["versions"]
    print(
        f"machine: {m['cpu']}, {m['cores']} cores, {m['memory']}; ours "
        f"{v['ours']['registry-pipeline']} ({v['ours']['commit']}), "
        f"MLflow {v['mlflow']['mlflow']}"
    )
    with tempfile.TemporaryDirectory(prefix="registry-bench-") as tmp:
        for size in sizes:
            ours = Worker("ours", ours_python, "worker_ours.py", RESULTS / "logs" / "ours.log")
            peer_worker = Worker(
                "mlflow", peer, "worker_mlflow.py", RESULTS / "logs" / "mlflow.log"
            )
            try:
                report["sizes"].append(
                    compare_size(
                        size,
                        ours,
                        peer_worker,
                        Path(tmp) / str(size),
                        args.rounds,
                        not args.no_profile,
                    )
                )
            finally:
                ours.close()
                peer_worker.close()
        if args.writers > 0:
            report["concurrency"] = concurrency(
                ours_python,
                peer,
                Path(tmp) / "writers",
                args.writers,
                args.writes,
                args.writer_rounds,
            )
    if not args.no_http:
        print("\n== over HTTP: registry serve against mlflow server (bench/http_servers.py)")
        report["http"] = _script_json("http_servers.py", "--seconds", str(args.http_seconds))
    if args.scale_versions > 0:
        print(f"\n== at scale: {args.scale_versions:,} versions (bench/scale.py)")
        report["scale"] = _script_json(
            "scale.py", "--versions", str(args.scale_versions), "--seconds", str(args.http_seconds)
        )
    if not args.no_extras:
        report["extras"] = extras()
    report["verdicts"] = verdicts(report)
    report["finished"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    report["load_at_end"] = load()
    report["wall_s"] = time.time() - began
    name = f"bench-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    report["json_name"] = name
    text = json.dumps(report, indent=2, default=str)
    (RESULTS / name).write_text(text)
    (RESULTS / "latest.json").write_text(text)
    print("\n== targets")
    for verdict in report["verdicts"]:
        print(
            f"  {'ok    ' if verdict['met'] else 'MISSED'} {verdict['target']}: "
            f"{verdict['measured']}"
        )
    if not args.no_docs:
        DOCS.parent.mkdir(exist_ok=True)
        DOCS.write_text(markdown(report))
        print(
            f"\nwrote {DOCS.relative_to(ROOT)} and bench/results/{name} "
            f"in {report['wall_s'] / 60:.1f} min"
        )


if __name__ == "__main__":
    main()
