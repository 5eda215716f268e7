"""Shared fixtures: a fresh registry database per test, the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A SQLite registry file of this test's own."""
    return f"sqlite:///{tmp_path / 'registry.db'}"


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
