"""Webhooks: what they cost a write, and how fast events reach a receiver, ours and
MLflow 3's own, in the same run.

Run: ``.venv/bin/python bench/webhooks.py [--writes 40] [--events 2000]``.

- ``write``: the p50 of one write over HTTP (``http.client``, one keep-alive connection)
  with no webhook, then with 10 webhooks subscribed to it and a receiver on 127.0.0.1,
  alternated twice (0, 10, 0, 10). Ours: ``POST /api/v1/requests/{id}/apply`` (gates
  re-checked, stage moved, ledger event; the dispatcher delivers in the background from the
  committed ledger). MLflow: ``POST .../model-versions/create`` with 10 webhooks on
  ``model_version.created`` (MLflow signs and posts from a thread pool, fire and forget).
- ``delivery``: events per second reaching one receiver: ours, ``--events`` ledger events
  delivered in order by the dispatcher (each one posted, answered, and its progress
  committed before the next), timed from the first arrival to the last.

Both servers run on SQLite files here, one worker each (``mlflow server --workers 1``:
without the ~40 ms Nagle stall its multi-worker mode has).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_servers import OURS, QUIET, free_port, peer_python, serving

ROOT = Path(__file__).resolve().parents[1]
CATALOG = """
entries:
  bench-model: {kind: classifier, owner: ml@example.com, license: mit}
policy:
  approvers: [approver@example.com]
  admins: [admin@example.com]
  stages:
    staging: {approvals: 1}
"""


@contextmanager
def receiver() -> Iterator[tuple[str, list[float]]]:
    """A receiver answering 204 at once; yields its URL and the arrival times."""
    arrivals: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            arrivals.append(time.perf_counter())
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", arrivals
    finally:
        server.shutdown()


def _call(
    conn: http.client.HTTPConnection, method: str, path: str, body: Any, headers: dict[str, str]
) -> Any:
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    text = response.read()
    if response.status >= 400:
        raise RuntimeError(f"{method} {path}: {response.status} {text[:300]!r}")
    return json.loads(text) if text else None


def ours_write(root: Path, writes: int, url: str) -> dict[str, float]:
    """p50 ms of apply with 0 and with 10 webhooks, alternated twice."""
    sys.path.insert(0, str(ROOT))
    from registry_pipeline.service import Registry

    (root / "catalog.yaml").write_text(CATALOG)
    database = f"sqlite:///{root / 'ours.db'}"
    Registry.init(database, catalog=root / "catalog.yaml", actor="admin@example.com")
    operator = Registry.open(database, actor="operator")
    tokens = {
        who: operator.tokens.create(principal=f"{who}@example.com", name="bench").token
        for who in ("ml", "approver", "admin")
    }
    port = free_port()
    env_before = dict(os.environ)
    os.environ["REGISTRY_ALLOW_PRIVATE_WEBHOOKS"] = "1"
    argv = [
        str(OURS),
        "-m",
        "registry_pipeline.cli",
        "--database",
        database,
        "serve",
        "--port",
        str(port),
        "--rate-limit",
        "10000000",
    ]
    times: dict[int, list[float]] = {0: [], 10: []}
    n = 0
    try:
        with serving(argv, port, "/healthz", root):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            head = {
                who: {"Authorization": f"Bearer {t}", "Content-Type": "application/json"}
                for who, t in tokens.items()
            }
            ml = Registry.open(database, actor="ml@example.com")
            for hooks in (0, 10, 0, 10):
                made = [
                    _call(
                        conn,
                        "POST",
                        "/api/v1/webhooks",
                        {"url": url, "events": ["promotion.apply"]},
                        head["admin"],
                    )["id"]
                    for _ in range(hooks)
                ]
                for _ in range(writes):
                    n += 1
                    source = root / "src" / str(n)
                    source.mkdir(parents=True)
                    (source / "model.bin").write_bytes(f"weights {n}".encode())
                    ml.register("bench-model", source)
                    request = _call(
                        conn,
                        "POST",
                        "/api/v1/requests",
                        {"ref": f"bench-model@{n}", "to": "staging", "reason": "b"},
                        head["ml"],
                    )["request"]
                    _call(
                        conn,
                        "POST",
                        f"/api/v1/requests/{request}/approve",
                        {"reason": "b"},
                        head["approver"],
                    )
                    started = time.perf_counter()
                    _call(conn, "POST", f"/api/v1/requests/{request}/apply", None, head["ml"])
                    times[hooks].append((time.perf_counter() - started) * 1000)
                    time.sleep(0.01)
                time.sleep(1.0)  # let the deliveries drain before the next phase
                for hook in made:
                    _call(conn, "DELETE", f"/api/v1/webhooks/{hook}", None, head["admin"])
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    return {k: statistics.median(v) for k, v in times.items()}


def ours_delivery(root: Path, events: int, url: str, arrivals: list[float]) -> float:
    """Events per second delivered in order to one receiver."""
    sys.path.insert(0, str(ROOT))
    from registry_pipeline.service import Registry

    (root / "catalog.yaml").write_text(CATALOG)
    database = f"sqlite:///{root / 'delivery.db'}"
    Registry.init(database, catalog=root / "catalog.yaml", actor="admin@example.com")
    os.environ["REGISTRY_ALLOW_PRIVATE_WEBHOOKS"] = "1"
    registry = Registry.open(database, actor="operator")
    registry.webhooks.add(url, events=["*"])
    for start in range(0, events - 1, 500):  # the events, in batches of 500 a transaction
        with registry.store.write("bench", {"method": "local", "principal": "bench"}) as tx:
            for k in range(start, min(start + 500, events - 1)):
                tx.append("version.register", f"bench-model@{k + 1}", {"entry": "bench-model"})
    port = free_port()
    argv = [
        str(OURS),
        "-m",
        "registry_pipeline.cli",
        "--database",
        database,
        "serve",
        "--port",
        str(port),
        "--allow-private-webhooks",
    ]
    arrivals.clear()
    with serving(argv, port, "/healthz", root):
        deadline = time.monotonic() + 600
        while len(arrivals) < events and time.monotonic() < deadline:
            time.sleep(0.2)
    if len(arrivals) < 2:
        return float("nan")
    return (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])


MLFLOW_WEBHOOKS = """
import sys
from mlflow.tracking import MlflowClient
uri, url, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = MlflowClient(tracking_uri=uri, registry_uri=uri)
for hook in client.list_webhooks():
    client.delete_webhook(hook.webhook_id)
for n in range(count):
    client.create_webhook(name=f"bench-{n}", url=url, events=["model_version.created"])
"""


def mlflow_write(root: Path, writes: int, url: str) -> dict[str, float]:
    """p50 ms of create-model-version with 0 and with 10 webhooks, alternated twice."""
    python = peer_python()
    port = free_port()
    backend = f"sqlite:///{root / 'mlflow.db'}"
    argv = [
        str(python),
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        backend,
        "--default-artifact-root",
        str(root / "artifacts"),
    ]
    times: dict[int, list[float]] = {0: [], 10: []}
    loopback = {
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    }
    env = {**os.environ, **QUIET, **loopback}
    os.environ.update(loopback)  # for the server `serving` starts
    with serving(argv, port, "/health", root):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        json_headers = {"Content-Type": "application/json"}
        _call(
            conn,
            "POST",
            "/api/2.0/mlflow/registered-models/create",
            {"name": "bench-model"},
            json_headers,
        )
        tracking = f"http://127.0.0.1:{port}"
        import subprocess

        for hooks in (0, 10, 0, 10):
            subprocess.run(
                [str(python), "-c", MLFLOW_WEBHOOKS, tracking, url, str(hooks)], check=True, env=env
            )
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)  # a fresh one
            for n in range(writes):
                started = time.perf_counter()
                _call(
                    conn,
                    "POST",
                    "/api/2.0/mlflow/model-versions/create",
                    {"name": "bench-model", "source": f"s3://bench/models/{hooks}-{n}"},
                    json_headers,
                )
                times[hooks].append((time.perf_counter() - started) * 1000)
                time.sleep(0.01)
            time.sleep(1.0)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=40)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--no-peer", action="store_true", help="Leave MLflow out.")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, receiver() as (url, arrivals):
        root = Path(folder)
        (root / "ours").mkdir()
        (root / "delivery").mkdir()
        (root / "mlflow").mkdir()
        ours = ours_write(root / "ours", options.writes, url)
        peer = None if options.no_peer else mlflow_write(root / "mlflow", options.writes, url)
        rate = ours_delivery(root / "delivery", options.events, url, arrivals)
    print()
    print("| measure | ours | MLflow 3 |")
    print("| --- | --- | --- |")
    print(
        f"| write p50, no webhook (ours: apply; MLflow: create version) | {ours[0]:.1f} ms | "
        + (f"{peer[0]:.1f} ms |" if peer else "- |")
    )
    print(
        f"| write p50, 10 webhooks subscribed | {ours[10]:.1f} ms | "
        + (f"{peer[10]:.1f} ms |" if peer else "- |")
    )
    added = (ours[10] / ours[0] - 1) * 100
    peer_added = (peer[10] / peer[0] - 1) * 100 if peer else None
    print(
        f"| added by 10 webhooks | {added:+.1f}% | "
        + (f"{peer_added:+.1f}% |" if peer_added is not None else "- |")
    )
    print(
        f"| events delivered a second, in order, to one receiver | {rate:.0f} | - "
        "(fire and forget, no order) |"
    )
    print(f"\ntarget: under 10% added on apply: {'met' if added < 10 else 'missed'}")


if __name__ == "__main__":
    main()
