"""Hashing speed, side by side in one run: ours vs ``sha256sum`` vs a plain hashlib loop.

Run: ``.venv/bin/python bench/hashing.py [--size-mib 2048] [--shards 8] [--repeat 3]``.

1. One large file: ``read_source`` vs ``sha256sum`` vs ``hashlib.file_digest`` (Python's
   own loop; the limit here). Target: at least 90% of hashlib's single-core rate.
2. A sharded model (``--shards`` files of size/shards): parallel threads vs one thread.
   Target: at least 1.6x on 2 cores.
3. Re-registering the unchanged model through the registry (stat cache) vs the first
   registration. Target: at least 50x faster.

Files are written once and read from the page cache (24 GiB of RAM here), so the numbers
are CPU-bound hashing, the part the registry controls; medians of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from registry_pipeline.hashcache import HashCache
from registry_pipeline.service import Registry
from registry_pipeline.sources import read_source

MIB = 1 << 20


def _median(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _write(path: Path, size: int) -> None:
    block = os.urandom(8 * MIB)
    with path.open("wb") as handle:
        for _ in range(size // len(block)):
            handle.write(block)


def _hashlib(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mib * MIB
    print(f"machine: {_cpu()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        big = folder / "single" / "model.bin"
        big.parent.mkdir()
        _write(big, size)
        ours = _median(lambda: read_source(big), args.repeat)
        plain = _median(lambda: _hashlib(big), args.repeat)
        sha256sum = shutil.which("sha256sum")
        tool = (
            _median(
                lambda: subprocess.run([sha256sum, str(big)], check=True, capture_output=True),
                args.repeat,
            )
            if sha256sum
            else float("nan")
        )
        assert read_source(big).files[0].sha256 == _hashlib(big)
        big.unlink()

        shards = folder / "sharded"
        shards.mkdir()
        for i in range(args.shards):
            _write(
                shards / f"model-{i + 1:05d}-of-{args.shards:05d}.safetensors", size // args.shards
            )
        sequential = _median(lambda: read_source(shards, workers=1), args.repeat)
        parallel = _median(lambda: read_source(shards), args.repeat)

        (folder / "catalog.yaml").write_text(
            yaml.safe_dump(
                {"entries": {"big-model": {"kind": "base_model", "owner": "ml@example.com"}}}
            )
        )
        os.environ["REGISTRY_HASH_CACHE"] = str(folder / "hash-cache.db")
        url = f"sqlite:///{folder / 'registry.db'}"
        registry, _ = Registry.init(url, catalog=folder / "catalog.yaml", actor="bench")
        started = time.perf_counter()
        first = registry.register("big-model", shards)
        first_s = time.perf_counter() - started
        again_s = _median(lambda: registry.register("big-model", shards), args.repeat)
        assert registry.register("big-model", shards).version == first.version
        HashCache().close()

    rate = lambda seconds: size / MIB / seconds  # noqa: E731
    print(f"\n1. one {args.size_mib} MiB file, median of {args.repeat}")
    print(f"{'':<26}{'MiB/s':>10}{'vs hashlib':>12}")
    print(
        f"{'read_source (ours)':<26}{rate(ours):>10.0f}{plain / ours:>11.2f}x"
        f"   target >= 0.90x {'ok' if plain / ours >= 0.9 else 'MISSED'}"
    )
    print(f"{'hashlib.file_digest':<26}{rate(plain):>10.0f}{1:>11.2f}x")
    print(f"{'sha256sum':<26}{rate(tool):>10.0f}{plain / tool:>11.2f}x")
    speedup = sequential / parallel
    print(f"\n2. {args.shards} shards of {args.size_mib // args.shards} MiB")
    print(f"{'one thread':<26}{rate(sequential):>10.0f}")
    print(
        f"{'parallel threads':<26}{rate(parallel):>10.0f}{speedup:>11.2f}x"
        f"   target >= 1.6x {'ok' if speedup >= 1.6 else 'MISSED'}"
    )
    cached = first_s / again_s
    print("\n3. registering the sharded model through the registry")
    print(f"{'first registration':<26}{first_s:>9.2f}s")
    print(
        f"{'unchanged, again':<26}{again_s:>9.3f}s{cached:>10.0f}x"
        f"   target >= 50x {'ok' if cached >= 50 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
