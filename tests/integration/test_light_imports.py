"""What a command or a code location loads is what it uses: ``registry resolve`` reads
without the write-side use cases or the catalog's models, through a server without the
store's SQLAlchemy, and the Dagster definitions load without SQLAlchemy, DuckDB or Arrow
(the assets import them when they run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import (
    CATALOG,
    EXAMPLES,
    SUPPORT_BOT_PINS,
    make_ready,
    promote_through,
    register_support_components,
)
from support.server import running_server

from registry_pipeline.service import Registry

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served_in_production(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry with support-bot@1 serving customer-support in production."""
    root = tmp_path_factory.mktemp("light")
    database = f"sqlite:///{root / 'registry.db'}"
    Registry.init(database, catalog=EXAMPLES, actor="carol@example.com")
    owner = register_support_components(database, root)
    owner.register_stack("support-bot", SUPPORT_BOT_PINS)
    make_ready(owner, "support-bot@1")
    promote_through(database, "support-bot@1", "staging", "production")
    return root


def imported(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[set[str], str]:
    """The modules a fresh interpreter imported running ``argv`` (``-X importtime``), and
    what it printed on stdout."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=True,
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return modules, done.stdout


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    return {**env, **extra}


def test_local_resolve_loads_only_the_read_side(served_in_production: Path) -> None:
    root = served_in_production
    database = f"sqlite:///{root / 'registry.db'}"
    modules, out = imported(
        ["-m", "registry_pipeline.cli", "--database", database, "resolve", "customer-support"],
        clean_env(),
        root,
    )
    assert out.startswith("customer-support: support-bot@1 ")
    assert "sqlalchemy" in modules
    unused = {
        "pydantic",
        "yaml",
        "httpx",
        "registry_pipeline.catalog",
        "registry_pipeline.service.approvals",
        "registry_pipeline.service.registration",
        "registry_pipeline.service.webhooks",
    }
    assert unused & modules == set()


def test_resolve_through_a_server_loads_neither_the_store_nor_the_server(
    served_in_production: Path,
) -> None:
    root = served_in_production
    database = f"sqlite:///{root / 'registry.db'}"
    operator = Registry.open(database, actor="operator")
    token = operator.tokens.create(principal="alice@example.com", name="light").token
    with running_server(database, cwd=root) as url:
        modules, out = imported(
            ["-m", "registry_pipeline.cli", "resolve", "customer-support"],
            clean_env(REGISTRY_URL=url, REGISTRY_TOKEN=token),
            root,
        )
    assert out.startswith("customer-support: support-bot@1 ")
    assert {"sqlalchemy", "fastapi", "starlette", "registry_pipeline.store"} & modules == set()


def test_the_definitions_load_without_sqlalchemy_duckdb_or_arrow(tmp_path: Path) -> None:
    child = (
        "import sys\n"
        "from registry_pipeline.definitions import defs\n"
        "d = defs()\n"
        "d.resolve_asset_graph()\n"
        "d.resolve_all_job_defs()\n"
        "print(len(d.resolve_asset_graph().get_all_asset_keys()))\n"
    )
    env = clean_env(
        REGISTRY_CATALOG=str(CATALOG), REGISTRY_DATABASE_URL=f"sqlite:///{tmp_path / 'none.db'}"
    )
    modules, out = imported(["-c", child], env, tmp_path)
    assert int(out) > 0
    assert {"sqlalchemy", "duckdb", "pyarrow", "pandas"} & modules == set()
