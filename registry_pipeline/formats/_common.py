"""Shared reading and validation helpers for the format readers.

Every problem becomes a :class:`BadInput` whose one-line message starts with the file it
concerns (its path relative to the source) and, where there is one, says the fix.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from registry_pipeline.core.evals import check_metric_name
from registry_pipeline.core.times import format_time, read_instant
from registry_pipeline.errors import BadInput
from registry_pipeline.inputs import documents
from registry_pipeline.inputs.documents import shown

#: Larger "documents" (configs, manifests, results) are refused rather than read whole.
MAX_DOCUMENT_BYTES = 64 << 20
Model = TypeVar("Model", bound=BaseModel)


def relative(root: Path, path: Path) -> str:
    """``path`` as a POSIX path relative to ``root`` (its name when it is ``root``)."""
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError:
        return path.name
    return rel if rel not in ("", ".") else path.name


def read_text(path: Path, where: str) -> str:
    """Read a UTF-8 metadata file of an artifact (a BOM is tolerated); see
    :func:`registry_pipeline.inputs.documents.read_text`.

    Raises:
        BadInput: the file is unreadable, too large or not UTF-8 text.
    """
    return documents.read_text(path, where=where, limit=MAX_DOCUMENT_BYTES)


def read_json(path: Path, where: str, *, allow_nan: bool = False) -> Any:
    """Read and parse a JSON metadata file strictly (no NaN or Infinity unless
    ``allow_nan``)."""
    return documents.read_json(path, where=where, limit=MAX_DOCUMENT_BYTES, allow_nan=allow_nan)


def json_object(value: Any, where: str, what: str = "a JSON object") -> dict[str, Any]:
    """Return ``value`` if it is a mapping with string keys, else raise :class:`BadInput`."""
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise BadInput(f"{where}: expected {what}, found {type(value).__name__}")
    return value


def optional_str(document: Mapping[str, Any], key: str, where: str) -> str | None:
    """``document[key]`` if it is a string, ``None`` when absent or null."""
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput(f"{where}: {key!r} must be a string, not {shown(value)}")
    return value


def optional_int(
    document: Mapping[str, Any], key: str, where: str, *, minimum: int = 0
) -> int | None:
    """``document[key]`` if it is an integer >= ``minimum``, ``None`` when absent or null."""
    value = document.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BadInput(f"{where}: {key!r} must be an integer >= {minimum}, not {shown(value)}")
    return value


def optional_number(document: Mapping[str, Any], key: str, where: str) -> float | int | None:
    """``document[key]`` if it is a finite number, ``None`` when absent or null."""
    value = document.get(key)
    if value is None:
        return None
    if not is_number(value):
        raise BadInput(f"{where}: {key!r} must be a finite number, not {shown(value)}")
    return value  # type: ignore[no-any-return]


def optional_str_list(document: Mapping[str, Any], key: str, where: str) -> list[str] | None:
    """``document[key]`` if it is a list of strings, ``None`` when absent or null."""
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadInput(f"{where}: {key!r} must be a list of strings, not {shown(value)}")
    return list(value)


def is_number(value: object) -> bool:
    """True for a finite int or float (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def metric_name(name: str, where: str) -> str:
    """Check a metric name with the registry's rules; the message names ``where``."""
    try:
        return check_metric_name(name)
    except BadInput as e:
        raise BadInput(f"{where}: {e}") from None


def validate(model: type[Model], data: Any, where: str) -> Model:
    """Validate ``data`` with a pydantic model; the first problem becomes one line.

    Raises:
        BadInput: ``{where}: {field}: {problem}`` for the first problem found.
    """
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise BadInput(documents.validation_message(e, where, keys=model.model_fields)) from None
    except RecursionError:
        raise BadInput(f"{where}: nested too deeply to read") from None


def json_safe(value: Any) -> Any:
    """``value`` with dates as ISO text, tuples and sets as lists, keys as strings."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [json_safe(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    return str(value)


def iso_instant(value: object) -> str | None:
    """An epoch number or ISO 8601 text as the registry's UTC instant text, else ``None``."""
    if not is_number(value):
        instant = read_instant(value)
        return format_time(instant) if instant is not None else None
    try:
        return format_time(datetime.fromtimestamp(float(value), UTC))  # type: ignore[arg-type]
    except (ValueError, OverflowError, OSError):
        return None


def hint(name: str, relation: str, origin: str) -> dict[str, Any]:
    """An upstream hint: ``name`` relates to this artifact as ``relation``, read in ``origin``."""
    return {"name": name, "relation": relation, "from": origin}


def unique_hints(hints: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Hints without repeats of the same (name, relation); the first one read wins."""
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, Any]] = []
    for item in hints:
        key = (item["name"], item["relation"])
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out
