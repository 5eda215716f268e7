"""Read a source folder or file into a content manifest.

Hashes each file with streaming sha256 and builds the sorted manifest. Refuses what could
make a digest lie or a registration escape its folder: symlinks pointing outside the
source, special files (FIFOs, sockets, devices), unreadable files, names that are not UTF-8.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from registry_pipeline.core.digests import FileDigest, Manifest, build_manifest
from registry_pipeline.errors import SourceError
from registry_pipeline.hashcache import HashCache

BLOCK = 8 << 20
#: Sources smaller than this are simply read: a cache lookup would cost more than it saves.
CACHE_FROM = 16 << 20


#: Called with (bytes hashed so far, total bytes to hash) as hashing progresses.
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class _Found:
    full: Path
    rel: str
    info: os.stat_result


def read_source(
    source: str | Path,
    *,
    exclude: Sequence[str] = (),
    cache: HashCache | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
    cache_from: int = CACHE_FROM,
) -> Manifest:
    """Hash every file under ``source`` (a folder, or a single file) into a manifest.

    Files are hashed in parallel threads (sha256 releases the GIL on large blocks); a
    :class:`HashCache` skips files whose stat is unchanged since they were last hashed.

    Args:
        exclude: relative POSIX paths left out of the manifest (metadata beside the
            content, such as a landing manifest); they are not read.
        cache: the stat cache to consult and fill (``None``: read everything).
        progress: called with (bytes done, bytes total) while hashing.
        workers: hashing threads (default: the CPU count, at most 8).
        cache_from: consult the cache only for sources of at least this many bytes.

    Raises:
        SourceError: the source is missing or empty, or contains an escaping symlink, a
            special file or an unreadable file, or a file changed while it was hashed; the
            message names the path.
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
        found = [_Found(path.resolve(), path.name, info)]
    elif stat.S_ISDIR(info.st_mode):
        root = path.resolve()
        skip = set(exclude)
        found = [f for f in _walk(root, root, "", frozenset()) if f.rel not in skip]
        if not found:
            raise SourceError(f"source {str(path)!r} holds no files", path=str(path))
    else:
        raise SourceError(f"source {str(path)!r} is not a regular file or folder", path=str(path))
    total = sum(f.info.st_size for f in found)
    use = cache if total >= cache_from else None
    return build_manifest(_hash_all(found, cache=use, progress=progress, workers=workers))


def _hash_all(
    found: list[_Found], *, cache: HashCache | None, progress: Progress | None, workers: int | None
) -> list[FileDigest]:
    total = sum(f.info.st_size for f in found)
    done = 0
    lock = threading.Lock()

    def advance(n: int) -> None:
        nonlocal done
        if progress is None:
            return
        with lock:
            done += n
            progress(done, total)

    out: list[FileDigest] = []
    todo: list[_Found] = []
    for f in found:
        cached = cache.get(f.full, f.info) if cache is not None else None
        if cached is not None:
            out.append(FileDigest(path=f.rel, size=f.info.st_size, sha256=cached))
            advance(f.info.st_size)
        else:
            todo.append(f)
    threads = max(1, min(workers or os.cpu_count() or 1, 8, len(todo) or 1))
    order = sorted(todo, key=lambda f: -f.info.st_size)
    if threads == 1:
        hashed = [_hash_file(f, advance) for f in order]
    else:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hash") as pool:
            hashed = list(pool.map(lambda f: _hash_file(f, advance), order))
    for f, digest in zip(order, hashed, strict=True):
        if cache is not None:
            cache.put(f.full, f.info, digest.sha256)
        out.append(digest)
    return out


def _walk(root: Path, folder: Path, prefix: str, ancestors: frozenset[Path]) -> list[_Found]:
    real = folder.resolve()
    if real in ancestors:
        raise SourceError(f"{prefix.rstrip('/')!r} is a symlink loop back to its own folder")
    ancestors = ancestors | {real}
    out: list[_Found] = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as e:
        raise SourceError(f"cannot read folder {str(folder)!r}: {e.strerror}") from e
    for item in entries:
        rel = _relative(prefix, item.name, folder)
        full = Path(item.path)
        info = item.stat(follow_symlinks=False)
        if stat.S_ISLNK(info.st_mode):
            target = full.resolve()
            if not target.is_relative_to(root):
                raise SourceError(
                    f"{rel!r} is a symlink pointing outside the source folder "
                    f"(to {str(target)!r}); copy the file in instead",
                    path=str(full),
                )
            if not target.exists():
                raise SourceError(f"{rel!r} is a broken symlink", path=str(full))
            info = target.stat()
            full = target
        if stat.S_ISDIR(info.st_mode):
            out += _walk(root, full, f"{rel}/", ancestors)
        elif stat.S_ISREG(info.st_mode):
            out.append(_Found(full, rel, info))
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


def _hash_file(found: _Found, advance: Callable[[int], None]) -> FileDigest:
    digest = hashlib.sha256()
    # No bigger than the file (one byte over, to see it end): zeroing an 8 MiB buffer for
    # a 1 KiB file would cost more than hashing it.
    buffer = bytearray(min(BLOCK, found.info.st_size + 1))
    view = memoryview(buffer)
    size = 0
    try:
        with found.full.open("rb", buffering=0) as handle:
            while True:
                n = handle.readinto(buffer)
                if not n:
                    break
                digest.update(view[:n])
                size += n
                advance(n)
    except PermissionError:
        raise SourceError(
            f"{found.rel!r} is not readable; fix its permissions", path=str(found.full)
        ) from None
    except OSError as e:
        raise SourceError(
            f"{found.rel!r} cannot be read: {e.strerror}", path=str(found.full)
        ) from e
    if size != found.info.st_size:
        raise SourceError(
            f"{found.rel!r} changed while it was being hashed ({found.info.st_size} bytes "
            f"listed, {size} read); register it once the writer has finished",
            path=str(found.full),
        )
    return FileDigest(path=found.rel, size=size, sha256=digest.hexdigest())
