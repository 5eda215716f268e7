"""Parallel hashing and the stat cache on real files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from registry_pipeline.hashcache import HashCache
from registry_pipeline.sources import read_source

pytestmark = pytest.mark.integration


def _model(root: Path, shards: int = 4, size: int = 256 * 1024) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(shards):
        (root / f"model-{i}.safetensors").write_bytes(os.urandom(size))
    return root


def test_parallel_and_sequential_hashing_agree(tmp_path: Path) -> None:
    model = _model(tmp_path / "m", shards=6)
    assert read_source(model, workers=1).digest == read_source(model, workers=4).digest


def test_unchanged_files_come_from_the_cache_and_changed_ones_are_read(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    cache = HashCache(tmp_path / "cache.db")
    first = read_source(model, cache=cache, cache_from=0)
    assert (cache.hits, cache.misses) == (0, 4)
    again = read_source(model, cache=cache, cache_from=0)
    assert again.digest == first.digest
    assert cache.hits == 4

    shard = model / "model-2.safetensors"
    before = shard.stat()
    data = bytearray(shard.read_bytes())
    data[0] ^= 0xFF
    shard.write_bytes(bytes(data))
    os.utime(shard, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert shard.stat().st_mtime_ns == before.st_mtime_ns
    changed = read_source(model, cache=cache, cache_from=0)
    assert changed.digest != first.digest
    assert cache.hits == 7
    assert {f.path: f.sha256 for f in changed.files}["model-2.safetensors"] != {
        f.path: f.sha256 for f in first.files
    }["model-2.safetensors"]


def test_rehash_reads_everything_again(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    read_source(model, cache=HashCache(tmp_path / "cache.db"), cache_from=0)
    refresh = HashCache(tmp_path / "cache.db", refresh=True)
    read_source(model, cache=refresh, cache_from=0)
    assert (refresh.hits, refresh.misses) == (0, 4)


def test_progress_reports_every_byte(tmp_path: Path) -> None:
    model = _model(tmp_path / "m", shards=3, size=1 << 20)
    seen: list[tuple[int, int]] = []
    read_source(model, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (3 << 20, 3 << 20)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_a_corrupt_cache_file_is_ignored_not_trusted(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    (tmp_path / "cache.db").write_bytes(b"this is not a database")
    cache = HashCache(tmp_path / "cache.db")
    assert read_source(model, cache=cache, cache_from=0).digest == read_source(model).digest
