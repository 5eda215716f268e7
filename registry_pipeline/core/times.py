"""Instants as the registry stores and reads them: UTC, microseconds, fixed-width text."""

from __future__ import annotations

from datetime import UTC, datetime

from registry_pipeline.core.errors import BadInput

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_time(instant: datetime) -> str:
    """Fixed-width UTC text, so text order is time order."""
    if instant.tzinfo is None:
        raise ValueError("naive datetimes are not stored; attach a timezone")
    utc = instant.astimezone(UTC)
    # strftime's %Y does not zero-pad years before 1000, which would break text order.
    return f"{utc.year:04d}-{utc.strftime('%m-%dT%H:%M:%S.%f')}Z"


def parse_stored(text: str) -> datetime:
    """Read a stored instant back (its fixed width read by ``fromisoformat``, a twentieth
    of ``strptime``'s time: every read of a version, an eval or the ledger head pays it)."""
    if len(text) == _WIDTH and text[10] == "T" and text[-1] == "Z":
        return datetime.fromisoformat(text)
    return datetime.strptime(text, FORMAT).replace(tzinfo=UTC)


_WIDTH = len("2026-01-01T00:00:00.000000Z")


def read_instant(text: object) -> datetime | None:
    """The UTC instant an ISO 8601 text names (``2026-11-27T10:00:00Z``, an offset, or a
    date; a time without an offset is read as UTC), or ``None`` when it names none."""
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text.strip())
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def parse_instant(text: str, *, what: str = "instant") -> datetime:
    """Parse an ISO 8601 instant a user typed; see :func:`read_instant`.

    Raises:
        BadInput: the text is not ISO 8601.
    """
    value = read_instant(text)
    if value is None:
        raise BadInput(
            f"invalid {what} {text!r}: use ISO 8601 between years 1 and 9999 in UTC, "
            "e.g. 2026-11-27T10:00:00Z"
        )
    return value
