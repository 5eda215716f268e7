"""Bounded reads of the text files users pass on the command line or through the API."""

from __future__ import annotations

from pathlib import Path

from registry_pipeline.errors import BadInput, NotFound

#: Eval results, card files and training configs are documents, not data: larger files are
#: refused before they are read.
MAX_INPUT_BYTES = 4 * 1024 * 1024


def read_input_text(
    path: str | Path,
    *,
    what: str,
    limit: int = MAX_INPUT_BYTES,
    expected: str = "a YAML or JSON file",
) -> str:
    """Read a UTF-8 text file a user passed (a byte-order mark is tolerated).

    Args:
        path: the file.
        what: what the file is, for messages ("eval results", "card file").
        limit: the largest size read, in bytes.
        expected: what to pass instead of a folder, for the message.

    Raises:
        NotFound: the file does not exist.
        BadInput: a folder, unreadable, larger than ``limit`` or not UTF-8 text.
    """
    file = Path(path)
    shown = f"{what} {str(file)!r}"
    try:
        if file.stat().st_size > limit:
            raise BadInput(f"{shown} is larger than {_size(limit)}")
        data = file.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{shown} does not exist") from None
    except IsADirectoryError:
        raise BadInput(f"{shown} is a folder; pass {expected}") from None
    except OSError as e:
        raise BadInput(f"{shown} cannot be read: {e.strerror}") from e
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInput(f"{shown} is not UTF-8 text") from None


def _size(limit: int) -> str:
    if limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MiB"
    return f"{limit} bytes"
