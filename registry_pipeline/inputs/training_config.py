"""The training config file handed to ``registry register --config``.

A YAML or JSON mapping with ``params`` (the training configuration, recorded on the
version) and ``upstream`` (a list of ``ENTRY@VERSION`` the version was made from).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry_pipeline.core.errors import BadInput
from registry_pipeline.inputs.documents import read_yaml

MAX_CONFIG_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class TrainingConfig:
    """What a config file says about the version it describes."""

    params: dict[str, Any] = field(default_factory=dict)
    upstream: tuple[str, ...] = ()


def read_training_config(path: str | Path) -> TrainingConfig:
    """Read and check a training config file.

    Raises:
        BadInput: unreadable, too large, malformed, or not the shape above.
        NotFound: the file does not exist.
    """
    file = Path(path)
    where = f"config file {str(file)!r}"
    document = read_yaml(file, where=where, limit=MAX_CONFIG_BYTES)
    if not isinstance(document, dict) or not set(document) <= {"params", "upstream"}:
        raise BadInput(
            f"{where}: use a mapping with `params` (training config) "
            "and `upstream` (list of ENTRY@VERSION)"
        )
    params = document.get("params") or {}
    upstream = document.get("upstream") or []
    if not isinstance(params, dict):
        raise BadInput(f"{where}: params must be a mapping")
    if not isinstance(upstream, list) or not all(isinstance(u, str) for u in upstream):
        raise BadInput(f"{where}: upstream is a list of ENTRY@VERSION")
    return TrainingConfig(params=params, upstream=tuple(upstream))
