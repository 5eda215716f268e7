"""A stat cache of file hashes, so re-registering an unchanged multi-gigabyte folder does not
read it again.

Keyed by real path; a hit needs the same size, mtime, ctime, inode and device. ctime
cannot be set back by users (``touch -d`` sets mtime, not ctime), so a rewritten file is
always rehashed. The cache is a local SQLite file (``REGISTRY_HASH_CACHE``, default
``.registry/hash-cache.db``); it only ever saves reading, it is never a source of truth:
the registry's digests are computed from what the cache returns, and a corrupt or
unreadable cache is ignored.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from registry_pipeline.settings import hash_cache_path


class HashCache:
    """``(path, stat) -> sha256`` for files already hashed on this machine."""

    def __init__(self, path: str | Path | None = None, *, refresh: bool = False) -> None:
        """Open (lazily) the cache at ``path``; with ``refresh`` every lookup misses, so
        every file is read again and its entry rewritten (``registry register --rehash``)."""
        self.path = hash_cache_path(path)
        self.refresh = refresh
        self.hits = 0
        self.misses = 0
        self._conn: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection | None:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, size INTEGER, "
                    "mtime_ns INTEGER, ctime_ns INTEGER, inode INTEGER, device INTEGER, "
                    "sha256 TEXT)"
                )
            except (OSError, sqlite3.Error):
                return None
            self._conn = conn
        return self._conn

    def get(self, path: Path, info: os.stat_result) -> str | None:
        """The cached sha256 of ``path`` if its stat still matches, else ``None``."""
        conn = None if self.refresh else self._open()
        if conn is None:
            self.misses += 1
            return None
        try:
            row = conn.execute(
                "SELECT sha256 FROM hashes WHERE path = ? AND size = ? AND mtime_ns = ? "
                "AND ctime_ns = ? AND inode = ? AND device = ?",
                (
                    str(path),
                    info.st_size,
                    info.st_mtime_ns,
                    info.st_ctime_ns,
                    info.st_ino,
                    info.st_dev,
                ),
            ).fetchone()
        except sqlite3.Error:
            return None
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return str(row[0])

    def put(self, path: Path, info: os.stat_result, sha256: str) -> None:
        """Remember ``sha256`` for ``path`` as of ``info``."""
        conn = self._open()
        if conn is None:
            return
        try:
            conn.execute(
                "INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    str(path),
                    info.st_size,
                    info.st_mtime_ns,
                    info.st_ctime_ns,
                    info.st_ino,
                    info.st_dev,
                    sha256,
                ),
            )
        except sqlite3.Error:
            return

    def close(self) -> None:
        """Close the cache file."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
