"""How commands write: JSON or text on stdout, one-line notes and errors on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from registry_pipeline.cli._app import Settings

state: dict[str, Any] = {"json": False}
"""Whether ``--json`` was given (read by :func:`fail`, which runs outside any command)."""


def emit(settings: Settings, data: Any, text: str | Callable[[], str]) -> None:
    """Write ``data`` as JSON with ``--json``, else the human ``text``."""
    if settings.as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        click.echo(text() if callable(text) else text)


def note(message: str) -> None:
    """A message for people: stderr, one line."""
    click.echo(message, err=True)


def fail(message: str, code: int, data: dict[str, Any] | None = None) -> NoReturn:
    """Print ``error: message`` on stderr (and ``data`` as JSON with ``--json``) and exit."""
    if state["json"] and data is not None:
        click.echo(json.dumps(data, sort_keys=True, default=str))
    click.echo(f"error: {message.translate(_ONE_LINE)}", err=True)
    sys.exit(code)


#: A line break inside an error message (an argument quoted back, say) is shown escaped, so
#: an error is always one line.
_ONE_LINE = str.maketrans({"\n": "\\n", "\r": "\\r"})


def v(number: int | None) -> str:
    """``v3``, or ``-`` for no version."""
    return f"v{number}" if number else "-"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, two spaces apart."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip()
        for row in [header, *rows]
    )


def cell(value: Any) -> Any:
    """A DuckDB value as JSON can carry it."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, int | float | str | bool | list | dict) or value is None:
        return value
    return str(value)


def text(value: Any) -> str:
    """A value as a table cell."""
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


@contextmanager
def progress_bar() -> Iterator[Callable[[int, int], None] | None]:
    """A bytes/rate/ETA bar on stderr for large sources, when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    bar: Any = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None and total >= 64 << 20:
            bar = tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc="hashing",
                file=sys.stderr,
                leave=False,
            )
        if bar is not None:
            bar.update(done - bar.n)

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()
