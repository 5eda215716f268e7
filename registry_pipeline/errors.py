"""Every error the registry raises on purpose (defined in :mod:`registry_pipeline.core.errors`,
so that the pure core can raise them too); import them from here."""

from registry_pipeline.core.errors import (
    BadInput,
    CatalogError,
    Conflict,
    GateRefused,
    NotFound,
    Refused,
    RegistryError,
    SourceError,
    Step,
    StoreUnavailable,
    Unauthenticated,
)

__all__ = [
    "BadInput",
    "CatalogError",
    "Conflict",
    "GateRefused",
    "NotFound",
    "Refused",
    "RegistryError",
    "SourceError",
    "Step",
    "StoreUnavailable",
    "Unauthenticated",
]
