"""Every command documents itself with an example, and the README mentions every command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from registry_pipeline.cli import cli

pytestmark = pytest.mark.integration
README = Path(__file__).resolve().parents[2] / "README.md"


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


COMMANDS = _commands(cli)


def test_the_command_tree_is_the_whole_cli() -> None:
    assert len(COMMANDS) >= 25
    assert ("withdraw",) in COMMANDS
    assert ("import", "mlflow") in COMMANDS


def test_every_commands_help_shows_an_example() -> None:
    missing = []
    for path in COMMANDS:
        done = subprocess.run(
            [sys.executable, "-m", "registry_pipeline.cli", *path, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "COLUMNS": "100"},
        )
        assert done.returncode == 0, (path, done.stderr)
        example = done.stdout.partition("Example:")[2]
        if f"registry {' '.join(path)}" not in example:
            missing.append(" ".join(path))
    assert missing == []


def test_the_readme_mentions_every_command() -> None:
    readme = README.read_text(encoding="utf-8")
    missing = [" ".join(p) for p in COMMANDS if f"registry {' '.join(p)}" not in readme]
    assert missing == []
