"""Documents users and jobs hand the registry: catalog files, configs, cards, eval results,
landing manifests and artifact metadata.

One reader for all of them: a bounded UTF-8 read (each caller names its own size limit),
strict YAML (a key given twice in one mapping is an error; plain YAML silently keeps the
last one) or strict JSON (no NaN or Infinity), and pydantic's errors turned into one line.
Every message starts with ``where`` (the file as the user knows it).
"""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from registry_pipeline.errors import BadInput, NotFound

_SPACES = re.compile(r"\s+")

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_Base):  # type: ignore[misc]
    """Safe loader (libyaml's when present) that refuses duplicate keys."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def parse_yaml(text: str, *, where: str) -> Any:
    """Parse YAML (or JSON, a subset) text; errors name ``where`` and the line.

    Raises:
        BadInput: the text is not valid YAML, or a mapping repeats a key.
    """
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except (ValueError, TypeError, AttributeError, OverflowError, RecursionError) as e:
        # PyYAML raises these while building values: impossible dates, integers past
        # Python's digit limit, unhashable mapping keys, malformed tagged scalars.
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise BadInput(f"{where}: a value cannot be read ({first})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}:" if mark is not None else ""
        problem = getattr(e, "problem", None) or "not valid YAML or JSON"
        raise BadInput(f"{where}:{line} {problem}") from None


def read_text(path: Path, *, where: str, limit: int, expected: str = "a file") -> str:
    """Read a UTF-8 text file of at most ``limit`` bytes (a leading BOM is dropped).

    ``expected`` is what to pass instead of a folder, for the message ("a YAML or JSON
    file").

    Raises:
        NotFound: the file does not exist.
        BadInput: a folder or special file, larger than ``limit``, unreadable, or not
            UTF-8 text.
    """
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise BadInput(f"{where}: a folder, not a file; pass {expected}")
        if not stat.S_ISREG(info.st_mode):
            raise BadInput(f"{where}: not a regular file")
        if info.st_size > limit:
            raise BadInput(f"{where}: larger than {_size(limit)}")
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise NotFound(f"{where}: does not exist") from None
    except OSError as e:
        raise BadInput(
            f"{where}: cannot be read ({e.strerror or e}); fix its permissions"
        ) from None
    if len(data) > limit:
        raise BadInput(f"{where}: larger than {_size(limit)}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise BadInput(f"{where}: not UTF-8 text (byte {e.start}); save it as UTF-8") from None


def read_yaml(path: Path, *, where: str, limit: int) -> Any:
    """Read a YAML (or JSON) file strictly; see :func:`read_text` and :func:`parse_yaml`."""
    return parse_yaml(read_text(path, where=where, limit=limit), where=where)


def read_json(path: Path, *, where: str, limit: int, allow_nan: bool = False) -> Any:
    """Read a JSON file strictly; see :func:`read_text` and :func:`parse_json`."""
    return parse_json(read_text(path, where=where, limit=limit), where, allow_nan=allow_nan)


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 and limit % (1 << 20) == 0 else f"{limit} bytes"


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str, where: str, *, allow_nan: bool = False) -> Any:
    """Parse JSON text strictly (no NaN or Infinity unless ``allow_nan``).

    Raises:
        BadInput: the text is not JSON; the message gives the line and column.
    """
    try:
        if allow_nan:
            return json.loads(text)
        return json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as e:
        raise BadInput(
            f"{where}: not valid JSON (line {e.lineno} column {e.colno}: {e.msg}); fix the file"
        ) from None
    except ValueError as e:
        raise BadInput(f"{where}: not valid JSON ({e}); write numbers as finite values") from None
    except RecursionError:
        raise BadInput(f"{where}: JSON nested too deeply to read") from None


def one_line(text: object, limit: int = 160) -> str:
    """``text`` on one line, whitespace collapsed, cut to ``limit`` characters."""
    flat = _SPACES.sub(" ", str(text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def shown(value: object, limit: int = 60) -> str:
    """A short ``repr`` of a value for a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def first_problem(error: ValidationError) -> ErrorDetails:
    """The problem :func:`validation_message` reports: the first unknown key if there is
    one (a misspelt key usually explains a missing one too), else the first problem."""
    problems = error.errors(include_url=False)
    return next((p for p in problems if p["type"] == "extra_forbidden"), problems[0])


def validation_message(
    error: ValidationError, where: str, *, keys: Iterable[str] | None = None
) -> str:
    """One line for a pydantic error: the file, the field and what is wrong with it.

    Args:
        error: what pydantic raised.
        where: the document as the user knows it (a path, ``output/registry.yaml``).
        keys: the document's top-level keys; when given, an unknown top-level key is
            answered with the list of the known ones instead of "check its spelling".

    Returns:
        ``{where}: {field}: {problem}`` (at most 400 characters), noting how many more
        problems there are.
    """
    problems = error.errors(include_url=False)
    if not problems:  # pragma: no cover - pydantic always reports at least one
        return f"{where}: invalid"
    first = first_problem(error)
    loc = ".".join(str(part) for part in first["loc"]) or "document"
    kind = first["type"]
    if kind == "extra_forbidden":
        if keys is not None and len(first["loc"]) == 1:
            text = f"unknown key {loc!r}; the keys are: {', '.join(keys)}"
        else:
            text = f"{loc}: unknown key (check its spelling)"
    elif kind == "missing":
        text = f"{loc!r} is missing; add it"
    elif kind in ("model_type", "dict_type") and loc == "document":
        text = "expected a mapping (object) of keys to values"
    else:
        message = first["msg"].removeprefix("Value error, ")
        text = f"{loc}: {message}"
        if "input" in first and kind not in ("value_error", "assertion_error"):
            text += f" (found {shown(first['input'])})"
    more = len(problems) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return one_line(f"{where}: {text}{suffix}", limit=400)
