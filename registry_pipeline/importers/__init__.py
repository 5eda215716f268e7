"""Importers: bring versions and stage holders from other model registries.

Each importer records what it brings as imported (``version.import`` and ``stage.import``
ledger events carrying an ``origin``), maps onto entries the reviewed catalog already
declares, never creates entries, and is idempotent. Their third-party clients are optional
extras, imported lazily.
"""

from __future__ import annotations

from registry_pipeline.importers.mlflow import (
    ImportedVersion,
    ImportReport,
    catalog_snippet,
    entry_name,
    import_mlflow,
    write_catalog_snippet,
)

__all__ = [
    "ImportReport",
    "ImportedVersion",
    "catalog_snippet",
    "entry_name",
    "import_mlflow",
    "write_catalog_snippet",
]
