"""The exports read the registry through store/ (snapshot, Arrow tables): no SQL of their
own, so every statement against the registry database lives in one folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

EXPORTS = Path(__file__).resolve().parents[2] / "registry_pipeline" / "exports"
#: ``schema.<table>``, ``select(``, raw driver SQL, or SQLAlchemy itself.
SQL = re.compile(
    r"(?<![\w.-])schema\.\w|\bselect\(|\bexec_driver_sql\("
    r"|\bfrom sqlalchemy\b|\bimport sqlalchemy\b"
)


def test_no_export_module_writes_sql_against_the_store() -> None:
    offenders = {
        f"{path.name}:{number}": line.strip()
        for path in sorted(EXPORTS.glob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SQL.search(line)
    }
    assert offenders == {}
