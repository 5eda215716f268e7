"""The real registry server in a subprocess (``registry serve`` on a free port)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(
    database: str, *, workers: int = 1, cwd: Path | None = None, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Start ``registry serve`` over ``database``; yield its base URL; stop it."""
    port = free_port()
    full_env = {**os.environ, **(env or {})}
    for name in ("REGISTRY_ACTOR", "REGISTRY_URL", "REGISTRY_TOKEN"):
        full_env.pop(name, None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "registry_pipeline.cli",
            "--database",
            database,
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        cwd=cwd,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"registry serve exited: {process.stdout.read()}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("registry serve did not answer /healthz within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
