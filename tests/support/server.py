"""The real registry server in a subprocess (``registry serve`` on a free port)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    database: str,
    *,
    workers: int = 1,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> tuple[subprocess.Popen[str], str]:
    """Start ``registry serve`` over ``database`` and wait for ``/healthz``; the process
    (for the caller to stop, or to kill) and its base URL."""
    port = free_port()
    full_env = {**os.environ, **(env or {})}
    for name in ("REGISTRY_ACTOR", "REGISTRY_URL", "REGISTRY_TOKEN"):
        full_env.pop(name, None)
    output = tempfile.TemporaryFile("w+")  # noqa: SIM115 (open as long as the server runs)
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
            *args,
        ],
        cwd=cwd,
        env=full_env,
        stdout=output,  # a file, not a pipe nobody drains: the server never blocks on it
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                output.seek(0)
                raise RuntimeError(f"registry serve exited: {output.read()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("registry serve did not answer /healthz within 60 s")
            time.sleep(0.2)
    except BaseException:
        stop_server(process)
        raise
    return process, url


def stop_server(process: subprocess.Popen[str]) -> None:
    """Stop a server (SIGTERM, then SIGKILL after 15 s)."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running_server(
    database: str, *, workers: int = 1, cwd: Path | None = None, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Start ``registry serve`` over ``database``; yield its base URL; stop it."""
    process, url = start_server(database, workers=workers, cwd=cwd, env=env)
    try:
        yield url
    finally:
        stop_server(process)


@dataclass
class Estate:
    """A running server over a seeded registry, and a token per person."""

    url: str
    database: str
    tokens: dict[str, str]
    token_ids: dict[str, int]
    pid: int = 0
    """The server process."""

    def cli(
        self, *args: str, token: str | None = None, actor: str | None = None, stdin: str = ""
    ) -> tuple[int, str, str]:
        """The real CLI in a subprocess: through the server presenting ``token``, or (no
        token) on the database itself as ``actor``. ``(exit code, stdout, stderr)``."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        env["REGISTRY_CREDENTIALS"] = str(
            Path(self.database.removeprefix("sqlite:///")).parent / "creds.json"
        )
        argv = [sys.executable, "-m", "registry_pipeline.cli"]
        if token is not None:  # "" reaches the server with no token at all
            env["REGISTRY_URL"] = self.url
            if token:
                env["REGISTRY_TOKEN"] = token
        else:
            argv += ["--database", self.database, *(["--actor", actor] if actor else [])]
        done = subprocess.run(
            [*argv, *args], capture_output=True, text=True, env=env, input=stdin, timeout=120
        )
        return done.returncode, done.stdout, done.stderr

    def promote(self, ref: str, *, to: str, reason: str, who: str = "alice") -> int:
        """Open a promotion request through the real CLI as ``who``; its id."""
        code, out, err = self.cli(
            "--json", "promote", ref, "--to", to, "--reason", reason, token=self.tokens[who]
        )
        assert code == 0, err
        return int(json.loads(out)["request"])

    def client(self, who: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@contextmanager
def served_estate(
    root: Path, *, env: dict[str, str] | None = None, then_catalog: Path | None = None
) -> Iterator[Estate]:
    """The example estate (support-bot@1 in production, @2 ready) behind a running server,
    with a token for each of alice, bob, carol, support-ml, dave, and a revoked and an
    expired one."""
    from conftest import (
        EXAMPLES,
        SUPPORT_BOT_PINS,
        make_ready,
        promote_through,
        raw_sql,
        register_support_components,
    )

    from registry_pipeline.service import Registry

    database = f"sqlite:///{root / 'registry.db'}"
    Registry.init(database, catalog=EXAMPLES, actor="carol@example.com")
    for round_ in (1, 2):
        owner = register_support_components(database, root, round_=round_)
        owner.register_stack(
            "support-bot", [p.replace("@1", f"@{round_}") for p in SUPPORT_BOT_PINS]
        )
        make_ready(owner, f"support-bot@{round_}")
        if round_ == 1:
            promote_through(database, "support-bot@1", "staging", "production")
    operator = Registry.open(database, actor="operator")
    tokens, ids = {}, {}
    for who in ("alice", "bob", "carol", "support-ml", "dave", "revoked", "expired"):
        created = operator.tokens.create(principal=f"{who}@example.com", name="test")
        tokens[who], ids[who] = created.token, created.info.id
    operator.tokens.revoke(ids["revoked"])
    raw_sql(
        database,
        "UPDATE tokens SET expires_at = '2026-01-01T00:00:00.000000Z' WHERE id = :id",
        id=ids["expired"],
    )
    if then_catalog is not None:  # e.g. a policy that closes local mode, loaded last
        Registry.init(database, catalog=then_catalog, actor="carol@example.com")
    process, url = start_server(database, cwd=root, env=env)
    try:
        yield Estate(url=url, database=database, tokens=tokens, token_ids=ids, pid=process.pid)
    finally:
        stop_server(process)


@contextmanager
def served_cli(database: str, root: Path) -> Iterator[Callable[..., Any]]:
    """A ``run_cli`` (see ``tests/conftest.py``) that drives the real CLI through a real
    server over ``database``: ``actor=`` picks whose token the CLI presents (minted by the
    operator on first use), never a claimed name."""
    from conftest import Result

    from registry_pipeline.service import Registry
    from registry_pipeline.store import Store

    Store.open(database, create=True).dispose()  # the operator creates the database
    tokens: dict[str, str] = {}
    token_ids: dict[str, int] = {}

    def token_for(actor: str) -> str:
        if actor not in tokens:
            operator = Registry(Store.open(database), actor="operator")
            try:
                created = operator.tokens.create(principal=actor, name="story")
            finally:
                operator.store.dispose()
            tokens[actor], token_ids[actor] = created.token, created.info.id
        return tokens[actor]

    with running_server(database, cwd=root) as url:

        def run(
            *args: str,
            actor: str = "alice@example.com",
            json: bool = False,
            env: dict[str, str] | None = None,
            cwd: Path | None = None,
        ) -> Any:
            full_env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
            full_env.update(env or {})
            full_env.pop("REGISTRY_DEBUG", None)
            full_env["REGISTRY_URL"] = url
            full_env["REGISTRY_TOKEN"] = token_for(actor)
            full_env["REGISTRY_CREDENTIALS"] = str(root / "credentials.json")
            argv = [sys.executable, "-m", "registry_pipeline.cli", *(["--json"] if json else [])]
            done = subprocess.run(
                [*argv, *args],
                capture_output=True,
                text=True,
                env=full_env,
                cwd=cwd or root,
                timeout=120,
            )
            return Result(done.returncode, done.stdout, done.stderr)

        run.token_ids = token_ids  # type: ignore[attr-defined]  # whose token has which id
        yield run
