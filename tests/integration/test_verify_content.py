"""`registry verify-content`: a deployment system checks the bytes it is about to serve."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import CATALOG

pytestmark = pytest.mark.integration


@pytest.fixture
def registered(run_cli, tmp_path: Path) -> Path:
    assert run_cli("init", "--catalog", str(CATALOG), actor="carol@example.com").code == 0
    source = tmp_path / "base"
    (source / "weights").mkdir(parents=True)
    (source / "config.json").write_text('{"hidden": 8}')
    (source / "weights" / "a.bin").write_bytes(b"\x00" * 1000)
    done = run_cli("register", "llama-3-8b-instruct", str(source), actor="ml-platform@example.com")
    assert done.code == 0, done.stderr
    return source


def test_the_registered_bytes_verify(run_cli, registered: Path, tmp_path: Path) -> None:
    copy = tmp_path / "deployed"
    shutil.copytree(registered, copy)
    done = run_cli("verify-content", "llama-3-8b-instruct@1", str(copy), json=True)
    assert done.code == 0, done.stderr
    assert done.json()["ok"] is True
    assert done.json()["difference"] is None


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: (d / "weights" / "a.bin").write_bytes(b"\x01" * 1000), "weights/a.bin differs"),
        (lambda d: (d / "config.json").write_text('{"hidden": 16}'), "config.json is 14 bytes"),
        (lambda d: (d / "config.json").unlink(), "config.json is missing"),
        (lambda d: (d / "extra.txt").write_text("x"), "extra.txt is not in the registered version"),
    ],
)
def test_other_bytes_exit_4_naming_the_first_difference(
    run_cli, registered: Path, tmp_path: Path, change, named: str
) -> None:
    copy = tmp_path / "deployed"
    shutil.copytree(registered, copy)
    change(copy)
    done = run_cli("verify-content", "llama-3-8b-instruct@1", str(copy))
    assert done.code == 4
    line = done.stderr.strip()
    assert "\n" not in line
    assert line.startswith(f"error: {copy} is not llama-3-8b-instruct@1: ")
    assert named in line


def test_unknown_version_and_missing_path(run_cli, registered: Path, tmp_path: Path) -> None:
    assert run_cli("verify-content", "llama-3-8b-instruct@9", str(registered)).code == 3
    missing = run_cli("verify-content", "llama-3-8b-instruct@1", str(tmp_path / "nope"))
    assert missing.code in (2, 3)
    assert missing.stderr.startswith("error: ")
    assert "Traceback" not in missing.stderr
