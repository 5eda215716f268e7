"""The line protocol between ``bench/run.py`` and its two long-lived workers.

Standard library only: the same file is imported by ``worker_ours.py`` (our venv) and by
``worker_mlflow.py`` (MLflow's own venv, ``bench/.venv-mlflow``), so neither side pays an
import or a connection inside a timed call.

The runner writes one JSON object per line on the worker's stdin (``{"op": NAME, ...}``);
the worker answers with one line starting with :data:`PREFIX` (anything else a library
prints on stdout is ignored). ``timed`` is the one timing loop both workers use: an untimed
``prepare`` step, then ``perf_counter`` around the call alone.
"""

from __future__ import annotations

import cProfile
import http.client
import io
import json
import math
import os
import pstats
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PREFIX = "@@bench "
Handler = Callable[[dict[str, Any]], Mapping[str, Any]]


def serve(handlers: Mapping[str, Handler]) -> None:
    """Answer requests on stdin until ``{"op": "quit"}`` or end of input."""
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        op = message.pop("op")
        if op == "quit":
            break
        try:
            answer: dict[str, Any] = {"ok": True, **handlers[op](message)}
        except Exception as e:  # noqa: BLE001 - every failure is counted, not fatal
            answer = {"ok": False, "error": f"{type(e).__name__}: {e}", "trace": _trace()}
        out.write(PREFIX + json.dumps(answer, default=str) + "\n")
        out.flush()


def _trace() -> str:
    return "".join(traceback.format_exc().splitlines(keepends=True)[-12:])


def timed(
    prepare: Callable[[int], Any],
    call: Callable[[Any], Any],
    *,
    start: int,
    count: int,
    budget_s: float,
    profile_to: str | None = None,
) -> tuple[list[float], Any]:
    """Run ``call(prepare(i))`` for i in ``start..start+count``, timing only ``call``.

    Stops early once the timed calls add up to ``budget_s`` (after at least one). With
    ``profile_to``, cProfile records the timed calls only and its report is written there.

    Returns:
        The samples in seconds, and the last call's result.
    """
    samples: list[float] = []
    result: Any = None
    profiler = cProfile.Profile() if profile_to else None
    for i in range(start, start + count):
        argument = prepare(i)
        if profiler is not None:
            profiler.enable()
        began = time.perf_counter()
        result = call(argument)
        samples.append(time.perf_counter() - began)
        if profiler is not None:
            profiler.disable()
        if sum(samples) >= budget_s:
            break
    if profiler is not None and profile_to:
        write_profile(profiler, Path(profile_to), title=f"{len(samples)} timed calls")
    return samples, result


def write_profile(profiler: cProfile.Profile, path: Path, *, title: str) -> None:
    """Write the top functions by cumulative and by own time as text."""
    buffer = io.StringIO()
    buffer.write(f"# {title}\n\n## by cumulative time\n")
    stats = pstats.Stats(profiler, stream=buffer)
    stats.strip_dirs().sort_stats("cumulative").print_stats(35)
    buffer.write("\n## by own time\n")
    stats.sort_stats("tottime").print_stats(25)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buffer.getvalue())


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of ``samples``."""
    ordered = sorted(samples)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def wait_for(path: Path, *, timeout_s: float = 120.0) -> None:
    """Spin until ``path`` exists: the start barrier of the concurrent writers."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no start signal at {path}")
        time.sleep(0.0005)


def seed_tree(conn: Any) -> int:
    """Rebuild the ledger's Merkle tree on a ``sqlite3`` connection after events were bulk
    inserted with SQL (as the registry would have kept it); returns its size."""
    from registry_pipeline.core import merkle

    hashes = (bytes.fromhex(h) for (h,) in conn.execute("SELECT hash FROM ledger ORDER BY seq"))
    nodes = merkle.build(merkle.leaf_hash(h) for h in hashes)
    conn.execute("DELETE FROM merkle_nodes")
    conn.executemany(
        "INSERT INTO merkle_nodes (level, idx, hash) VALUES (?, ?, ?)",
        ((level, index, value.hex()) for (level, index), value in nodes.items()),
    )
    return sum(1 for level, _ in nodes if level == 0)


@contextmanager
def registry_server(url: str, folder: Path) -> Iterator[http.client.HTTPConnection]:
    """``registry serve`` over ``url`` on a free port (unthrottled), and one keep-alive
    connection to it once it answers; stopped on exit."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = {**os.environ, "REGISTRY_RATE_LIMIT": "10000000"}
    argv = [sys.executable, "-m", "registry_pipeline.cli", "--database", url]
    server = subprocess.Popen([*argv, "serve", "--port", str(port)], env=env, cwd=folder)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for _ in range(300):
            try:
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                break
            except OSError:
                conn.close()
                time.sleep(0.1)
        yield conn
    finally:
        server.terminate()
        server.wait(10)
