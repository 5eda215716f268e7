"""Read a source folder or file into a content manifest.

Hashes each file with streaming sha256 and builds the sorted manifest. Refuses what could
make a digest lie or a registration escape its folder: symlinks pointing outside the
source, special files (FIFOs, sockets, devices), unreadable files, names that are not UTF-8.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from registry_pipeline.core.digests import FileDigest, Manifest, build_manifest
from registry_pipeline.errors import SourceError

CHUNK = 1 << 20


def read_source(source: str | Path, *, exclude: Sequence[str] = ()) -> Manifest:
    """Hash every file under ``source`` (a folder, or a single file) into a manifest.

    Args:
        exclude: relative POSIX paths left out of the manifest (metadata beside the
            content, such as a landing manifest).

    Raises:
        SourceError: the source is missing or empty, or contains an escaping symlink, a
            special file or an unreadable file; the message names the path.
    """
    path = Path(source)
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise SourceError(
            f"source {str(path)!r} does not exist; pass a folder or a file", path=str(path)
        ) from None
    except OSError as e:
        raise SourceError(f"source {str(path)!r}: {e.strerror}", path=str(path)) from e
    if stat.S_ISLNK(info.st_mode):
        path = path.resolve()
        info = path.stat()
    if stat.S_ISREG(info.st_mode):
        return build_manifest([_hash_file(path, path.name, path.name)])
    if not stat.S_ISDIR(info.st_mode):
        raise SourceError(f"source {str(path)!r} is not a regular file or folder", path=str(path))
    root = path.resolve()
    skip = set(exclude)
    files = [f for f in _walk(root, root, "", frozenset()) if f.path not in skip]
    if not files:
        raise SourceError(f"source {str(path)!r} holds no files", path=str(path))
    return build_manifest(files)


def _walk(root: Path, folder: Path, prefix: str, ancestors: frozenset[Path]) -> list[FileDigest]:
    real = folder.resolve()
    if real in ancestors:
        raise SourceError(f"{prefix.rstrip('/')!r} is a symlink loop back to its own folder")
    ancestors = ancestors | {real}
    out: list[FileDigest] = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as e:
        raise SourceError(f"cannot read folder {str(folder)!r}: {e.strerror}") from e
    for item in entries:
        rel = _relative(prefix, item.name, folder)
        full = Path(item.path)
        mode = item.stat(follow_symlinks=False).st_mode
        if stat.S_ISLNK(mode):
            target = full.resolve()
            if not target.is_relative_to(root):
                raise SourceError(
                    f"{rel!r} is a symlink pointing outside the source folder "
                    f"(to {str(target)!r}); copy the file in instead",
                    path=str(full),
                )
            if not target.exists():
                raise SourceError(f"{rel!r} is a broken symlink", path=str(full))
            mode = target.stat().st_mode
            full = target
        if stat.S_ISDIR(mode):
            out += _walk(root, full, f"{rel}/", ancestors)
        elif stat.S_ISREG(mode):
            out.append(_hash_file(full, rel, rel))
        else:
            raise SourceError(
                f"{rel!r} is a special file (FIFO, socket or device); only regular files "
                "can be registered",
                path=str(full),
            )
    return out


def _relative(prefix: str, name: str, folder: Path) -> str:
    if "\\" in name or any(ord(c) < 32 for c in name):
        raise SourceError(f"file name {name!r} in {str(folder)!r} has a control character")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise SourceError(f"file name {name!r} in {str(folder)!r} is not valid UTF-8") from None
    return f"{prefix}{name}"


def _hash_file(path: Path, rel: str, shown: str) -> FileDigest:
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
    except PermissionError:
        raise SourceError(
            f"{shown!r} is not readable; fix its permissions", path=str(path)
        ) from None
    except OSError as e:
        raise SourceError(f"{shown!r} cannot be read: {e.strerror}", path=str(path)) from e
    return FileDigest(path=rel, size=size, sha256=digest)
