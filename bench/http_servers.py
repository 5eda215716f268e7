"""Our registry server against MLflow's own server, over HTTP, in the same run.

Run: ``.venv/bin/python bench/http_servers.py [--seconds 5] [--versions 200]``.

Both servers run on a SQLite file on this machine: ``registry serve`` (uvicorn) and
``mlflow server`` (installed once in its own venv, ``bench/.venv-mlflow-server``, telemetry
off). Each is seeded with one model of ``--versions`` versions, the newest holding
production (ours: a stack serving a workload, approved and applied; MLflow: the alias
``production``). The load is driven by ``http.client`` in separate processes (one
keep-alive connection each, no JSON parsing in the timed loop), so the client costs little
CPU; the two servers are measured alternately, 1, 4 and 16 concurrent clients, each for
``--seconds``:

- ``empty``: the cheapest request each server has (ours ``GET /healthz``, which still reads
  the ledger head; MLflow ``GET /health``): the HTTP floor;
- ``resolve``: ours ``GET /api/v1/workloads/W/resolve`` (the whole stack of a workload,
  with a token) against MLflow's ``GET .../registered-models/alias`` (one version by
  alias, no authentication);
- ``register``: ours ``POST /api/v1/versions`` (an inspected source: manifest checked,
  lineage, ledger event) against MLflow's ``POST .../model-versions/create``.

Each server also runs with ``--workers 4`` for the floor, to show whether a multi-worker
server pays Nagle's algorithm (a ~40 ms stall per response). The table gives p50, p99 and
requests per second for each; the ratio is ours/MLflow of the p50.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import multiprocessing
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OURS = ROOT / ".venv" / "bin" / "python"
PEER_VENV = ROOT / "bench" / ".venv-mlflow-server"
PEER_SPEC = ("mlflow==3.17.2",)
QUIET = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}

CATALOG = """
entries:
  bench-model: {kind: classifier, owner: ml@example.com, license: mit}
  bench-stack: {kind: stack, owner: ml@example.com, components: [bench-model]}
workloads:
  bench: {stack: bench-stack}
policy:
  approvers: [approver@example.com]
  admins: [admin@example.com]
  stages:
    staging: {approvals: 1}
    production: {approvals: 1}
"""


def peer_python() -> Path:
    """MLflow's server in its own venv, installed once."""
    python = PEER_VENV / "bin" / "python"
    stamp = PEER_VENV / ".installed"
    if python.exists() and stamp.exists() and stamp.read_text() == "\n".join(PEER_SPEC):
        return python
    print(f"installing {' '.join(PEER_SPEC)} into {PEER_VENV.relative_to(ROOT)}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(PEER_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PEER_SPEC], check=True)
    stamp.write_text("\n".join(PEER_SPEC))
    return python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed_ours(root: Path, versions: int, applies: int) -> dict[str, Any]:
    """A registry with ``versions`` versions of one model, the newest pinned by a stack in
    production; ``applies`` more models with one version each in staging and an approved
    production request (the set-production case applies them in turn); a token."""
    sys.path.insert(0, str(ROOT))
    import yaml

    from registry_pipeline.service import Registry

    catalog = yaml.safe_load(CATALOG)
    for k in range(applies):
        catalog["entries"][f"apply-{k}"] = {
            "kind": "classifier",
            "owner": "ml@example.com",
            "license": "mit",
        }
    (root / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    url = f"sqlite:///{root / 'ours.db'}"
    Registry.init(url, catalog=root / "catalog.yaml", actor="admin@example.com")
    ml = Registry.open(url, actor="ml@example.com")
    approver = Registry.open(url, actor="approver@example.com")

    def version(entry: str, n: int) -> None:
        source = root / "src" / entry / str(n)
        source.mkdir(parents=True)
        (source / "model.bin").write_bytes(f"weights {entry} {n}".encode())
        ml.register(entry, source)

    def promote(ref: str, stage: str, *, apply: bool = True) -> int:
        request_id = ml.request_promotion(ref, to=stage, reason="bench").id
        approver.approve(request_id, reason="bench")
        if apply:
            ml.apply(request_id)
        return request_id

    for n in range(versions):
        version("bench-model", n)
    ml.register_stack("bench-stack", [f"bench-model@{versions}"])
    promote("bench-stack@1", "staging")
    promote("bench-stack@1", "production")
    pending = []
    for k in range(applies):
        version(f"apply-{k}", 0)
        promote(f"apply-{k}@1", "staging")
        pending.append(promote(f"apply-{k}@1", "production", apply=False))
    token = Registry.open(url, actor="operator").tokens.create(principal="ml@example.com").token
    return {"url": url, "token": token, "pending": pending, "db": root / "ours.db"}


def registration(client: int, n: int) -> Request:
    """A registration of new content (its own file digest), as a training job would send
    after inspecting its output: the manifest, the detected format, the source."""
    from registry_pipeline.core.digests import FileDigest, build_manifest

    sha = hashlib.sha256(f"{os.getpid()}-{client}-{n}".encode()).hexdigest()
    manifest = build_manifest([FileDigest(path="model.bin", size=1000, sha256=sha)])
    inspection = {
        "detected": {
            "format": "files",
            "facts": {},
            "card": {},
            "evals": [],
            "upstream": [],
            "warnings": [],
        },
        "manifest": {
            "format": "registry-pipeline/manifest/v1",
            "digest": manifest.digest,
            "files": [{"path": "model.bin", "size": 1000, "sha256": sha}],
        },
        "source": f"s3://bench-models/{sha[:16]}",
    }
    body = json.dumps({"entry": "bench-model", "inspection": inspection}).encode()
    return ("POST", "/api/v1/versions", body)


SEED_MLFLOW = """
import sys
from mlflow.tracking import MlflowClient
uri, versions = sys.argv[1], int(sys.argv[2])
client = MlflowClient(tracking_uri=uri, registry_uri=uri)
client.create_registered_model("bench-model")
for n in range(versions):
    v = client.create_model_version("bench-model", f"file:///models/v{n}", run_id=None)
client.set_registered_model_alias("bench-model", "production", v.version)
"""


def seed_mlflow(python: Path, root: Path, versions: int) -> str:
    uri = f"sqlite:///{root / 'mlflow.db'}"
    env = {**os.environ, **QUIET}
    subprocess.run([str(python), "-c", SEED_MLFLOW, uri, str(versions)], check=True, env=env)
    return uri


@contextmanager
def serving(argv: list[str], port: int, health: str, cwd: Path) -> Iterator[None]:
    env = {**os.environ, **QUIET}
    env = {k: v for k, v in env.items() if k not in ("REGISTRY_URL", "REGISTRY_TOKEN")}
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", health)
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.3)
        else:
            raise RuntimeError(f"{argv[0]} did not start")
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


#: A request a client sends: method, path, body.
Request = tuple[str, str, bytes | None]


def _client(args: tuple[int, Any, dict[str, str], float, int, Any]) -> None:
    """One keep-alive connection sending ``make(n)`` for n = 0, 1, ... for ``seconds`` (or
    ``limit`` requests); the requests are built before the clock starts."""
    port, make, headers, seconds, limit, out = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    prepared = [make(n) for n in range(limit)]
    latencies: list[float] = []
    errors = 0
    first_error = ""
    end = time.perf_counter() + seconds
    for method, path, body in prepared:
        if time.perf_counter() >= end:
            break
        started = time.perf_counter()
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        text = response.read()
        latencies.append(time.perf_counter() - started)
        if response.status >= 400:
            errors += 1
            first_error = first_error or f"{response.status} {text[:200]!r}"
    out.put((latencies, errors, first_error))


def load(
    port: int,
    make: Any,
    *,
    clients: int,
    seconds: float,
    headers: dict[str, str] | None = None,
    limit: int = 6000,
) -> dict[str, float]:
    """``clients`` processes, one connection each, for ``seconds``: p50, p99, req/s.

    ``make(client, n)`` builds client ``client``'s n-th request."""
    ctx = multiprocessing.get_context("fork")
    queue: Any = ctx.Queue()
    procs = [
        ctx.Process(
            target=_client,
            args=((port, partial(make, c), headers or {}, seconds, limit, queue),),
        )
        for c in range(clients)
    ]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    latencies = sorted(x for lat, _, _ in results for x in lat)
    errors = sum(e for _, e, _ in results)
    problem = next((p for _, _, p in results if p), "")
    if problem:
        print(f"  {errors} errors, first: {problem}", flush=True)
    if not latencies:
        return {"p50": float("nan"), "p99": float("nan"), "rps": 0.0, "errors": errors, "n": 0}
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    busy = max(sum(lat) for lat, _, _ in results)
    return {
        "p50": pick(0.5) * 1000,
        "p99": pick(0.99) * 1000,
        "rps": len(latencies) / busy if busy else 0.0,
        "errors": errors,
        "n": len(latencies),
    }


WRK_SCRIPT = """
local bodies, n, method, path = {}, 0, "GET", "/"
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  method, path = args[1], args[2]
  if args[3] ~= nil and args[3] ~= "" then
    for line in io.lines(args[3] .. "." .. id) do bodies[#bodies + 1] = line end
  end
end
function request()
  n = n + 1
  if #bodies == 0 then return wrk.format(method, path) end
  return wrk.format(method, path, nil, bodies[(n - 1) % #bodies + 1])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""
#: wrk's threads; each keeps its share of the connections.
WRK_THREADS = 2


def wrk_load(
    port: int,
    make: Any,
    *,
    clients: int,
    seconds: float,
    headers: dict[str, str],
    folder: Path,
    per_thread: int = 20_000,
) -> dict[str, float] | None:
    """The same load from ``wrk`` (C, a few % of a core for the whole load), when it is
    installed (Debian's ``wrk``): ``None`` otherwise. Bodies that must differ (a
    registration each) are built beforehand, one file per wrk thread."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    threads = min(WRK_THREADS, clients)
    method, path, body = make(0, 0)
    bodies = ""
    if body is not None:
        bodies = str(folder / f"bodies-{port}-{time.monotonic_ns()}")
        for t in range(threads):
            lines = (make(1000 + t, n)[2] for n in range(per_thread))
            Path(f"{bodies}.{t}").write_bytes(b"\n".join(x for x in lines if x) + b"\n")
    script = folder / "wrk.lua"
    script.write_text(WRK_SCRIPT)
    argv = [
        wrk,
        "-t",
        str(threads),
        "-c",
        str(clients),
        "-d",
        f"{max(1, round(seconds))}s",
        "--latency",
    ]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    argv += ["-s", str(script), f"http://127.0.0.1:{port}", "--", method, path, bodies]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=seconds + 120)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stdout[-500:]} {done.stderr[-500:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("WRK "))
    found = json.loads(line[4:])
    return {
        "p50": found["p50_us"] / 1000,
        "p99": found["p99_us"] / 1000,
        "rps": found["requests"] / (found["duration_us"] / 1e6),
        "errors": found["errors"],
        "n": found["requests"],
    }


def _numbers(db: Path, sql: str) -> list[int]:
    with sqlite3.connect(db) as conn:
        return sorted(int(r[0]) for r in conn.execute(sql))


def gap_free(numbers: list[int]) -> bool:
    """Version numbers 1..N, each once."""
    return numbers == list(range(1, len(numbers) + 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--versions", type=int, default=200)
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--applies", type=int, default=300, help="set-production calls")
    parser.add_argument("--json", action="store_true", help="print the results as JSON last")
    options = parser.parse_args()
    results = run(options)
    if options.json:
        print(json.dumps(results, default=str))


def run(options: argparse.Namespace) -> dict[str, Any]:
    """Seed both servers, measure every case, print the table; the results."""
    counts = [int(c) for c in options.clients.split(",")]
    peer = peer_python()
    rows: list[dict[str, Any]] = []
    checks: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        print(f"seeding {options.versions} versions on each side", flush=True)
        ours = seed_ours(root, options.versions, options.applies)
        mlflow_uri = seed_mlflow(peer, root, options.versions + options.applies)
        auth = {"Authorization": f"Bearer {ours['token']}", "Content-Type": "application/json"}
        plain = {"Content-Type": "application/json"}
        pending: list[int] = ours["pending"]
        first_alias = options.versions + 1

        def get(path: str) -> Any:
            return lambda _c, _n: ("GET", path, None)

        def their_create(c: int, n: int) -> Request:
            body = {"name": "bench-model", "source": f"s3://bench-models/{os.getpid()}-{c}-{n}"}
            return ("POST", "/api/2.0/mlflow/model-versions/create", json.dumps(body).encode())

        def their_alias(_c: int, n: int) -> Request:
            body = {"name": "bench-model", "alias": "production", "version": str(first_alias + n)}
            return ("POST", "/api/2.0/mlflow/registered-models/alias", json.dumps(body).encode())

        alias_path = "/api/2.0/mlflow/registered-models/alias?name=bench-model&alias=production"
        for workers in (1, 4):
            ours_port, their_port = free_port(), free_port()
            ours_cmd = [str(OURS), "-m", "registry_pipeline.cli", "--database", ours["url"]]
            ours_cmd += ["serve", "--port", str(ours_port), "--workers", str(workers)]
            ours_cmd += ["--rate-limit", "10000000"]  # the load is one principal
            their_cmd = [str(peer.parent / "mlflow"), "server", "--backend-store-uri"]
            their_cmd += [mlflow_uri, "--host", "127.0.0.1", "--port", str(their_port)]
            their_cmd += ["--workers", str(workers)]
            # (name, ours, theirs, client counts, requests per client, warm-up)
            cases: list[tuple[str, Any, Any, list[int], int, bool]] = [
                ("empty", get("/healthz"), get("/health"), counts, 6000, True)
            ]
            if workers == 1:
                cases += [
                    ("resolve", get("/api/v1/workloads/bench/resolve"), get(alias_path),
                     counts, 6000, True),
                    ("register", lambda c, n: registration(c, n), their_create, counts, 6000,
                     True),
                    ("set production",
                     lambda _c, n: ("POST", f"/api/v1/requests/{pending[n]}/apply", None),
                     their_alias, [1], len(pending), False),
                ]  # fmt: skip
            with (
                serving(ours_cmd, ours_port, "/healthz", root),
                serving(their_cmd, their_port, "/health", root),
            ):
                time.sleep(5)  # MLflow's server keeps starting helpers after /health answers
                for name, ours_make, their_make, clients_list, limit, warm in cases:
                    for clients in clients_list:
                        measured = []
                        for port, make, headers in (
                            (ours_port, ours_make, auth),
                            (their_port, their_make, plain),
                        ):
                            if warm:
                                load(port, make, clients=clients, seconds=0.5, headers=headers)
                            measured.append(
                                load(
                                    port,
                                    make,
                                    clients=clients,
                                    seconds=options.seconds,
                                    headers=headers,
                                    limit=limit,
                                )
                            )
                        row = {
                            "op": name,
                            "driver": "http.client",
                            "workers": workers,
                            "clients": clients,
                            "ours": measured[0],
                            "mlflow": measured[1],
                        }
                        rows.append(row)
                        print_row(row)
                    if not warm or workers != 1:
                        continue
                    heavy = max(clients_list)
                    by_wrk = [
                        wrk_load(
                            port, make, clients=heavy, seconds=options.seconds,
                            headers=headers, folder=root,
                        )
                        for port, make, headers in (
                            (ours_port, ours_make, auth),
                            (their_port, their_make, plain),
                        )
                    ]  # fmt: skip
                    if by_wrk[0] is not None and by_wrk[1] is not None:
                        row = {
                            "op": name,
                            "driver": "wrk",
                            "workers": workers,
                            "clients": heavy,
                            "ours": by_wrk[0],
                            "mlflow": by_wrk[1],
                        }
                        rows.append(row)
                        print_row(row)
        ours_numbers = _numbers(
            ours["db"], "SELECT number FROM versions WHERE entry = 'bench-model'"
        )
        their_numbers = _numbers(
            root / "mlflow.db", "SELECT version FROM model_versions WHERE name = 'bench-model'"
        )
        checks = {
            "ours_versions": len(ours_numbers),
            "ours_gap_free": gap_free(ours_numbers),
            "mlflow_versions": len(their_numbers),
            "mlflow_gap_free": gap_free(their_numbers),
        }
    print()
    print(
        "| operation | load from | server workers | clients | ours p50 / p99 ms "
        "| MLflow p50 / p99 ms "
        "| ours / MLflow p50 | ours req/s | MLflow req/s | errors ours / MLflow |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(markdown_row(row))
    print(
        f"\nversion numbers after the run: ours {checks['ours_versions']} "
        f"({'gap-free' if checks['ours_gap_free'] else 'GAPS'}), MLflow "
        f"{checks['mlflow_versions']} ({'gap-free' if checks['mlflow_gap_free'] else 'GAPS'})"
    )
    return {"rows": rows, "checks": checks, "seconds": options.seconds}


def print_row(row: dict[str, Any]) -> None:
    ours, theirs = row["ours"], row["mlflow"]
    print(
        f"{row['op']:15} {row['driver']:11} workers={row['workers']} "
        f"clients={row['clients']:2}: ours "
        f"{ours['p50']:.2f} ms ({ours['rps']:.0f}/s, {ours['errors']} errors), MLflow "
        f"{theirs['p50']:.2f} ms ({theirs['rps']:.0f}/s, {theirs['errors']} errors)",
        flush=True,
    )


def markdown_row(row: dict[str, Any]) -> str:
    ours, theirs = row["ours"], row["mlflow"]
    ratio = ours["p50"] / theirs["p50"] if theirs["p50"] else float("nan")
    return (
        f"| {row['op']} | {row['driver']} | {row['workers']} | {row['clients']} | "
        f"{ours['p50']:.2f} / "
        f"{ours['p99']:.2f} | {theirs['p50']:.2f} / {theirs['p99']:.2f} | {ratio:.2f}x "
        f"| {ours['rps']:.0f} | {theirs['rps']:.0f} | {ours['errors']} / {theirs['errors']} |"
    )


if __name__ == "__main__":
    main()
