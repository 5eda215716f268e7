"""registry-pipeline: a governed model registry built as a Dagster asset graph.

The public Python API::

    from registry_pipeline import Registry, NotFound

    registry = Registry.open("sqlite:///.registry/registry.db", actor="alice@example.com")
    registry.resolve("customer-support").stack

Names are imported on first use, so ``import registry_pipeline`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry_pipeline.api import Registry
    from registry_pipeline.errors import (
        BadInput,
        CatalogError,
        Conflict,
        GateRefused,
        NotFound,
        Refused,
        RegistryError,
        SourceError,
        StoreUnavailable,
    )

_PUBLIC = {
    "Registry": "registry_pipeline.api",
    **{
        name: "registry_pipeline.errors"
        for name in (
            "BadInput",
            "CatalogError",
            "Conflict",
            "GateRefused",
            "NotFound",
            "Refused",
            "RegistryError",
            "SourceError",
            "StoreUnavailable",
        )
    },
}

__all__ = [
    "BadInput",
    "CatalogError",
    "Conflict",
    "GateRefused",
    "NotFound",
    "Refused",
    "Registry",
    "RegistryError",
    "SourceError",
    "StoreUnavailable",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":  # read on use: importlib.metadata costs a CLI ~50 ms
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("registry-pipeline")
        except PackageNotFoundError:
            return "0+unknown"
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'registry_pipeline' has no attribute {name!r}")
