"""Shared fixtures: a fresh registry database per test, the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
CATALOG = FIXTURES / "catalog.yaml"


@dataclass
class Result:
    """A finished CLI run."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


#: SIGTERM as this test process started with it.
_SIGTERM = signal.getsignal(signal.SIGTERM)


@pytest.fixture(autouse=True)
def _sigterm_as_it_was() -> Any:
    """Put SIGTERM back after each test. Running Dagster in process maps SIGTERM to the
    SIGINT handler, which a test worker may ignore: every process a later test starts
    (a server, ``events --follow``) would then inherit an ignored SIGTERM and outlive
    ``terminate()``."""
    yield
    if signal.getsignal(signal.SIGTERM) is not _SIGTERM:
        signal.signal(signal.SIGTERM, _SIGTERM)


@pytest.fixture(autouse=True)
def _private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test's manifests, inventory and landing folder in its own tmp folder,
    never in the working tree."""
    for name, folder in (
        ("REGISTRY_DEPLOYMENTS", "deployments"),
        ("REGISTRY_INVENTORY", "inventory"),
        ("REGISTRY_LANDING", "landing"),
        ("REGISTRY_EXPORTS", "exports"),
        ("REGISTRY_HASH_CACHE", "hash-cache.db"),
        ("REGISTRY_CREDENTIALS", "credentials.json"),
    ):
        monkeypatch.setenv(name, str(tmp_path / "state" / folder))
    for name in (
        "REGISTRY_DATABASE_URL",
        "REGISTRY_CATALOG",
        "REGISTRY_ACTOR",
        "REGISTRY_URL",
        "REGISTRY_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A SQLite registry file of this test's own."""
    return f"sqlite:///{tmp_path / 'registry.db'}"


def unavailable(reason: str) -> None:
    """Skip a test whose prerequisite is missing, saying how to get it; with CI=true the
    prerequisite must be there, so fail instead."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI needs this test: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_cluster() -> Any:
    """A throwaway PostgreSQL cluster for the session. Without the server binaries the
    PostgreSQL tests skip, saying how to install them; with CI=true they fail instead."""
    from support.pgcluster import NoPostgres, find_bindir, running_cluster

    try:
        find_bindir()
    except NoPostgres as e:
        unavailable(str(e))
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh registry database on each backend: a SQLite file, a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    cluster = request.getfixturevalue("pg_cluster")
    return str(cluster.create_database(f"registry_{uuid.uuid4().hex[:16]}"))


def raw_sql(url: str, *statements: str, **params: Any) -> None:
    """Run statements (with ``:name`` bind parameters) on the registry database behind
    the registry's back (tamper tests)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement), params)
    finally:
        engine.dispose()


def raw_rows(url: str, query: str) -> list[tuple[Any, ...]]:
    """Rows of a query run directly on the registry database."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(query))]
    finally:
        engine.dispose()


@pytest.fixture
def run_cli(tmp_path: Path, db_url: str) -> Callable[..., Result]:
    """Run the real ``registry`` CLI in a subprocess against this test's database.

    ``run_cli("show", "x@1", actor="bob@example.com", json=True)``.
    """

    def run(
        *args: str,
        actor: str = "alice@example.com",
        json: bool = False,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Result:
        argv = [
            sys.executable,
            "-m",
            "registry_pipeline.cli",
            "--database",
            db_url,
            "--actor",
            actor,
        ]
        if json:
            argv.append("--json")
        full_env = {**os.environ, **(env or {})}
        full_env.pop("REGISTRY_DEBUG", None)
        proc = subprocess.run(
            [*argv, *args],
            capture_output=True,
            text=True,
            env=full_env,
            cwd=cwd or tmp_path,
            timeout=120,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def artifacts(tmp_path: Path) -> Callable[[str, dict[str, bytes]], Path]:
    """Make a folder of files: ``artifacts("lora", {"adapter.bin": b"..."})``."""

    def make(name: str, files: dict[str, bytes]) -> Path:
        root = tmp_path / "artifacts" / name
        for rel, data in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return root

    return make


EXAMPLES = Path(__file__).parents[1] / "examples" / "catalog.yaml"
SUPPORT_BOT_PINS = [
    "llama-3.2-1b-instruct@1",
    "support-lora@1",
    "support-prompt@1",
    "bge-small-en@1",
    "kb-index@1",
    "support-evals@1",
]


def register_support_components(url: str, root: Path, *, round_: int = 1) -> Any:
    """Register one version of every support-bot component of the example catalog, each by
    its owner (each a one-file folder whose content names the entry and the round).

    Returns the registry acting as support-ml@example.com, the support-bot owner."""
    from registry_pipeline.service import Registry

    plain = (
        "llama-3.2-1b-instruct",
        "support-tickets-2026q3",
        "support-prompt",
        "bge-small-en",
        "kb-docs-2026-11",
        "support-evals",
    )
    linked = {
        "support-lora": ["llama-3.2-1b-instruct@1", "support-tickets-2026q3@1"],
        "kb-index": ["bge-small-en@1", "kb-docs-2026-11@1"],
    }
    catalog = Registry.open(url).catalog()
    for name in (*plain, *linked):
        source = root / "src" / f"{name}-{round_}"
        source.mkdir(parents=True, exist_ok=True)
        (source / "f.bin").write_text(f"{name} round {round_}")
        owner = Registry.open(url, actor=catalog.entry(name).owner)
        owner.register(name, source, upstream=linked.get(name, []))
    return Registry.open(url, actor="support-ml@example.com")


def make_ready(registry: Any, ref: str) -> None:
    """Give a support-bot version passing evals and a complete card."""
    registry.ingest_evals(
        ref, {"accuracy": 0.9, "hallucination_rate": 0.01}, suite="support-evals@1"
    )
    registry.set_card(
        ref,
        {"intended_use": "answers", "limitations": "English", "training_data": "tickets"},
    )


def promote_through(url: str, ref: str, *stages: str) -> None:
    """Request, approve (by another approver) and apply ``ref`` through ``stages``."""
    from registry_pipeline.service import Registry

    alice = Registry.open(url, actor="alice@example.com")
    bob = Registry.open(url, actor="bob@example.com")
    for stage in stages:
        request = alice.request_promotion(ref, to=stage, reason=f"to {stage}")
        bob.approve(request.id, reason="reviewed")
        alice.apply(request.id)


@pytest.fixture
def example_estate(db_url: str, tmp_path: Path) -> Any:
    """The example catalog in a fresh registry with support-bot@1 ready for production."""
    return seed_example_estate(db_url, tmp_path)


def seed_example_estate(url: str, root: Path) -> Any:
    """The example catalog at ``url`` with support-bot@1 ready for production; the
    registry acting as its owner."""
    from registry_pipeline.service import Registry

    Registry.init(url, catalog=EXAMPLES, actor="carol@example.com")
    registry = register_support_components(url, root)
    registry.register_stack("support-bot", SUPPORT_BOT_PINS)
    make_ready(registry, "support-bot@1")
    return registry
