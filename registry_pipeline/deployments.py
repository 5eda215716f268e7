"""Deployment manifests: for each target of a workload, a JSON lock of the production
stack (every component digest), rewritten atomically after each production change.

Deployment systems read these files (or call ``registry resolve``). A manifest is written
after the transaction that moved production commits; if writing fails the store is still
right and ``registry deploy`` rewrites every manifest from it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from registry_pipeline.atomic_files import write_atomically
from registry_pipeline.core.catalog import Catalog
from registry_pipeline.errors import BadInput
from registry_pipeline.settings import deployments_root as deployments_root

FORMAT = "registry-pipeline/deployment/v1"


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


def write_manifest(path: Path, document: Mapping[str, Any]) -> None:
    """Write a manifest as JSON, atomically, readable by the deployment system (0644)."""
    write_atomically(path, json.dumps(document, indent=2, sort_keys=True) + "\n")


def workloads_of(catalog: Catalog, stack: str) -> list[str]:
    """Workloads served by ``stack``."""
    return sorted(w.name for w in catalog.workloads.values() if w.stack == stack)
