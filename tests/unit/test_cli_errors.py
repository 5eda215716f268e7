"""The CLI's error table: every next step has words, every error class an exit code, and no
message below the CLI names a flag or a command."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from registry_pipeline.cli import _errors
from registry_pipeline.errors import (
    BadInput,
    CatalogError,
    Conflict,
    GateRefused,
    NotFound,
    Refused,
    RegistryError,
    SourceError,
    Step,
    StoreUnavailable,
)

pytestmark = pytest.mark.unit
PACKAGE = Path(__file__).resolve().parents[2] / "registry_pipeline"
ERRORS = {
    "BadInput",
    "CatalogError",
    "SourceError",
    "NotFound",
    "Conflict",
    "Refused",
    "GateRefused",
    "StoreUnavailable",
    "RegistryError",
}
#: Values a step's words may use: the error's own fields, then what ``about=`` passes.
STEP_FIELDS = {"entry", "version", "stage", "request", "approver"}


def test_every_step_has_words_for_the_shell() -> None:
    assert set(_errors.NEXT_STEPS) == set(Step)


@pytest.mark.parametrize("step", list(Step))
def test_a_steps_words_use_only_fields_errors_carry(step: Step) -> None:
    fields = {f for _, f, _, _ in string.Formatter().parse(_errors.NEXT_STEPS[step]) if f}
    assert fields <= STEP_FIELDS


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (BadInput("x"), 2),
        (CatalogError("x"), 2),
        (SourceError("x"), 2),
        (NotFound("x"), 3),
        (Conflict("x"), 4),
        (Refused("x"), 5),
        (GateRefused("x"), 5),
        (StoreUnavailable("x"), 1),
        (RegistryError("x"), 1),
    ],
)
def test_each_error_class_has_the_contracts_exit_code(error: RegistryError, code: int) -> None:
    assert _errors.exit_code(error) == code


def test_the_line_is_the_facts_then_the_next_step() -> None:
    error = Conflict(
        "request 7 already asks for a@1 -> production", step=Step.SEE_GATES, about={"request": 7}
    )
    assert str(error) == "request 7 already asks for a@1 -> production"
    assert _errors.line(error) == (
        "request 7 already asks for a@1 -> production; see `registry gates 7`"
    )
    assert _errors.document(error)["message"] == _errors.line(error)


def test_a_hint_of_facts_stays_with_the_error() -> None:
    error = NotFound("no version a@9", entry="a", version=9, hint="latest is a@3")
    assert _errors.line(error) == "no version a@9; latest is a@3"


CLI_WORDS = re.compile(r"(?<![\w-])--[a-z]|`registry ")


def _strings(node: ast.AST) -> list[str]:
    return [
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


def _flagged(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in ERRORS:
                found += [
                    f"{path.name}:{node.lineno}: {v}" for v in _strings(node) if CLI_WORDS.search(v)
                ]
    return found


def test_no_error_below_the_cli_names_a_flag_or_a_command() -> None:
    below = [p for p in sorted(PACKAGE.rglob("*.py")) if "cli" not in p.relative_to(PACKAGE).parts]
    assert below
    assert [hit for p in below for hit in _flagged(p)] == []


def test_the_flag_scan_finds_a_flag_and_a_command(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        'raise BadInput(f"x {y}", hint="pass --out DIR")\n'
        'raise errors.NotFound("run `registry init` first")\n'
        'raise Conflict("a--b is not a flag")\n'
    )
    assert len(_flagged(sample)) == 2
