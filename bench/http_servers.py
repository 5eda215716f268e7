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
import http.client
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


def seed_ours(root: Path, versions: int) -> tuple[str, str, dict[str, Any]]:
    """A registry with ``versions`` versions of one model, the newest in production
    through a stack; a token; and a registration body for ``POST /api/v1/versions``."""
    sys.path.insert(0, str(ROOT))
    from registry_pipeline.inspection import inspect_source
    from registry_pipeline.service import Registry

    (root / "catalog.yaml").write_text(CATALOG)
    url = f"sqlite:///{root / 'ours.db'}"
    Registry.init(url, catalog=root / "catalog.yaml", actor="admin@example.com")
    ml = Registry.open(url, actor="ml@example.com")
    for n in range(versions):
        source = root / "src" / f"v{n}"
        source.mkdir(parents=True)
        (source / "model.bin").write_bytes(f"weights {n}".encode())
        ml.register("bench-model", source)
    ml.register_stack("bench-stack", [f"bench-model@{versions}"])
    approver = Registry.open(url, actor="approver@example.com")
    for stage in ("staging", "production"):
        request = ml.request_promotion("bench-stack@1", to=stage, reason="bench")
        approver.approve(request.id, reason="bench")
        ml.apply(request.id)
    token = Registry.open(url, actor="operator").tokens.create(principal="ml@example.com").token
    probe = root / "src" / "probe"
    probe.mkdir()
    (probe / "model.bin").write_bytes(b"probe")
    inspection = inspect_source(probe).to_dict()
    return url, token, {"entry": "bench-model", "inspection": inspection}


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


def _client(args: tuple[int, str, str, bytes | None, dict[str, str], float, Any]) -> None:
    port, method, path, body, headers, seconds, out = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies: list[float] = []
    errors = 0
    first_error = ""
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        payload = body
        if body is not None and b"@N@" in body:
            payload = body.replace(b"@N@", f"{os.getpid()}-{n}".encode())
        n += 1
        started = time.perf_counter()
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        text = response.read()
        latencies.append(time.perf_counter() - started)
        if response.status >= 400:
            errors += 1
            first_error = first_error or f"{response.status} {text[:200]!r}"
    out.put((latencies, errors, first_error))


def load(
    port: int,
    method: str,
    path: str,
    *,
    clients: int,
    seconds: float,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, float]:
    """``clients`` processes, one connection each, for ``seconds``: p50, p99, req/s."""
    queue: Any = multiprocessing.get_context("fork").Queue()
    procs = [
        multiprocessing.get_context("fork").Process(
            target=_client,
            args=((port, method, path, body, headers or {}, seconds, queue),),
        )
        for _ in range(clients)
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
        print(f"  {method} {path}: {errors} errors, first: {problem}", flush=True)
    if not latencies:
        return {"p50": float("nan"), "p99": float("nan"), "rps": 0.0, "errors": errors}
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    return {
        "p50": pick(0.5) * 1000,
        "p99": pick(0.99) * 1000,
        "rps": len(latencies) / seconds,
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--versions", type=int, default=200)
    parser.add_argument("--clients", default="1,4,16")
    options = parser.parse_args()
    counts = [int(c) for c in options.clients.split(",")]
    peer = peer_python()
    rows: list[tuple[str, str, int, dict[str, float], dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        print(f"seeding {options.versions} versions on each side", flush=True)
        ours_url, token, register_body = seed_ours(root, options.versions)
        mlflow_uri = seed_mlflow(peer, root, options.versions)
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        register_body["inspection"]["source"] = "@N@"
        ours_register = json.dumps(register_body).encode()
        theirs_register = json.dumps(
            {"name": "bench-model", "source": "s3://bench-models/@N@"}
        ).encode()
        for workers in (1, 4):
            ours_port, their_port = free_port(), free_port()
            ours_cmd = [str(OURS), "-m", "registry_pipeline.cli", "--database", ours_url]
            ours_cmd += ["serve", "--port", str(ours_port), "--workers", str(workers)]
            ours_cmd += ["--rate-limit", "10000000"]  # the load is one principal
            their_cmd = [str(peer.parent / "mlflow"), "server", "--backend-store-uri"]
            their_cmd += [mlflow_uri, "--host", "127.0.0.1", "--port", str(their_port)]
            their_cmd += ["--workers", str(workers)]
            with (
                serving(ours_cmd, ours_port, "/healthz", root),
                serving(their_cmd, their_port, "/health", root),
            ):
                cases = [("empty", ("GET", "/healthz", None, {}), ("GET", "/health", None, {}))]
                if workers == 1:
                    cases += [
                        (
                            "resolve",
                            ("GET", "/api/v1/workloads/bench/resolve", None, auth),
                            (
                                "GET",
                                "/api/2.0/mlflow/registered-models/alias"
                                "?name=bench-model&alias=production",
                                None,
                                {},
                            ),
                        ),
                        (
                            "register",
                            ("POST", "/api/v1/versions", ours_register, auth),
                            (
                                "POST",
                                "/api/2.0/mlflow/model-versions/create",
                                theirs_register,
                                {"Content-Type": "application/json"},
                            ),
                        ),
                    ]
                for name, ours_req, their_req in cases:
                    for clients in counts:
                        if name != "empty" and workers == 4:
                            continue
                        measured = []
                        for port, (method, path, body, headers) in (
                            (ours_port, ours_req),
                            (their_port, their_req),
                        ):
                            measured.append(
                                load(
                                    port,
                                    method,
                                    path,
                                    clients=clients,
                                    seconds=options.seconds,
                                    body=body,
                                    headers=headers,
                                )
                            )
                        rows.append((name, f"{workers}", clients, measured[0], measured[1]))
                        print_row(rows[-1])
    print()
    print(
        "| operation | workers | clients | ours p50 / p99 ms | MLflow p50 / p99 ms "
        "| ours / MLflow p50 | ours req/s | MLflow req/s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(markdown_row(row))


def print_row(row: tuple[str, str, int, dict[str, float], dict[str, float]]) -> None:
    name, workers, clients, ours, theirs = row
    print(
        f"{name:9} workers={workers} clients={clients:2}: ours {ours['p50']:.2f} ms "
        f"({ours['rps']:.0f}/s, {ours['errors']} errors), MLflow {theirs['p50']:.2f} ms "
        f"({theirs['rps']:.0f}/s, {theirs['errors']} errors)",
        flush=True,
    )


def markdown_row(row: tuple[str, str, int, dict[str, float], dict[str, float]]) -> str:
    name, workers, clients, ours, theirs = row
    ratio = ours["p50"] / theirs["p50"] if theirs["p50"] else float("nan")
    return (
        f"| {name} | {workers} | {clients} | {ours['p50']:.2f} / {ours['p99']:.2f} "
        f"| {theirs['p50']:.2f} / {theirs['p99']:.2f} | {ratio:.2f}x "
        f"| {ours['rps']:.0f} | {theirs['rps']:.0f} |"
    )


if __name__ == "__main__":
    main()
