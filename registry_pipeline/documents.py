"""YAML and JSON documents users hand the registry, read strictly: a key given twice in
one mapping is an error (plain YAML silently keeps the last one)."""

from __future__ import annotations

from typing import Any

import yaml

from registry_pipeline.errors import BadInput

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
