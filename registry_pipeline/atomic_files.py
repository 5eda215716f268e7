"""Whole-file writes: a reader sees the old file or the new one, never half of either.

Exports, deployment locks and any other file the registry hands to other people or
systems are written here, so they all get the same guarantees and the same mode.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

#: Files the registry writes are meant to be read by others (auditors, deployers).
SHARED_MODE = 0o644


def write_atomically(path: str | Path, content: str | bytes, *, mode: int = SHARED_MODE) -> None:
    """Write ``content`` to ``path`` through a temporary file beside it, flushed to disk and
    renamed over ``path``; the parent folder is created if missing.

    Text is written as UTF-8. The file gets ``mode`` whatever the umask is (``mkstemp``
    alone would leave it ``0600``).

    Raises:
        OSError: the folder or file cannot be written; ``path`` is then left as it was.
        UnicodeEncodeError: ``content`` is text that UTF-8 cannot encode (lone surrogates).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
