"""Deployment manifests: for each target of a workload, a JSON lock of the production
stack (every component digest), rewritten atomically after each production change.

Deployment systems read these files (or call ``registry resolve``). A manifest is written
after the transaction that moved production commits; if writing fails the store is still
right and ``registry deploy`` rewrites every manifest from it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from registry_pipeline.core.catalog import Catalog
from registry_pipeline.errors import BadInput

FORMAT = "registry-pipeline/deployment/v1"
DEFAULT_ROOT = ".registry/deployments"


def deployments_root(value: str | Path | None = None) -> Path:
    """``value``, else ``REGISTRY_DEPLOYMENTS``, else ``.registry/deployments``."""
    return Path(value or os.environ.get("REGISTRY_DEPLOYMENTS") or DEFAULT_ROOT)


def manifest_document(resolved: Mapping[str, Any], target: str) -> dict[str, Any]:
    """The manifest for one target from a ``resolve`` answer."""
    return {
        "format": FORMAT,
        "workload": resolved["workload"],
        "target": target,
        "stack": resolved["stack"],
        "components": resolved["components"],
        "approved_by": resolved["approved_by"],
        "since": resolved["since"],
        "request": resolved["request"],
        "ledger": resolved["as_of"],
    }


def target_path(root: Path, relative: str) -> Path:
    """Where a target's manifest lives; refuses a path that escapes ``root``."""
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise BadInput(f"deployment manifest {relative!r} escapes {root}")
    return path


def write_atomically(path: Path, document: Mapping[str, Any]) -> None:
    """Write JSON to a temporary file beside ``path``, fsync it, then rename it over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def workloads_of(catalog: Catalog, stack: str) -> list[str]:
    """Workloads served by ``stack``."""
    return sorted(w.name for w in catalog.workloads.values() if w.stack == stack)
