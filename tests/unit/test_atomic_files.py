"""The one atomic file writer (registry_pipeline/atomic_files.py): whole files, shared mode."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_pipeline.atomic_files import write_atomically

pytestmark = pytest.mark.unit


@pytest.fixture
def private_umask() -> Iterator[None]:
    """A umask that would make a plain new file 0600: the writer's mode must not depend on it."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_text_is_written_whole_and_shared_readable(tmp_path: Path, private_umask: None) -> None:
    path = tmp_path / "nested" / "doc.json"
    write_atomically(path, "{}\n")
    assert path.read_text(encoding="utf-8") == "{}\n"
    assert mode(path) == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["doc.json"]


def test_bytes_and_an_explicit_mode(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    write_atomically(path, b"\x00\x01", mode=0o600)
    assert path.read_bytes() == b"\x00\x01"
    assert mode(path) == 0o600


def test_rewriting_replaces_the_file_and_its_mode(tmp_path: Path, private_umask: None) -> None:
    path = tmp_path / "doc.md"
    path.write_text("old", encoding="utf-8")
    path.chmod(0o600)
    write_atomically(path, "new ✓")
    assert path.read_text(encoding="utf-8") == "new ✓"
    assert mode(path) == 0o644


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "doc.md"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(UnicodeEncodeError):
        write_atomically(path, "\udcff")
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["doc.md"]
