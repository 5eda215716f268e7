"""What leaves the registry: the analysts' DuckDB/Parquet inventory and the compliance
exports (CycloneDX ML-BOM, EU AI Act, ISO/IEC 42001, NIST AI RMF, model cards).

:func:`export` is the one entry point (the CLI and the Dagster assets call it); the format
modules are imported only when asked for.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry_pipeline.errors import BadInput, Step

if TYPE_CHECKING:
    from registry_pipeline.service import Registry

#: format name -> (module, writer); writers take (snapshot, out_dir) and return paths.
WRITERS: dict[str, tuple[str, str]] = {
    "cyclonedx": ("registry_pipeline.exports.cyclonedx", "write_boms"),
    "eu-ai-act": ("registry_pipeline.exports.eu_ai_act", "write"),
    "iso-42001": ("registry_pipeline.exports.iso_42001", "write"),
    "nist-ai-rmf": ("registry_pipeline.exports.nist_ai_rmf", "write"),
    "model-cards": ("registry_pipeline.exports.model_cards", "write_cards"),
}
FORMATS = ("inventory", *WRITERS)


def export(registry: Registry, fmt: str, out: str | Path) -> dict[str, Any]:
    """Write export ``fmt`` of the registry's current state under ``out``.

    Returns:
        ``{format, out, files, as_of}``; ``as_of`` names the ledger head it was built from.

    Raises:
        BadInput: unknown format, or ``out`` is a file.
    """
    if fmt not in FORMATS:
        raise BadInput(f"unknown export format {fmt!r}; use one of: {', '.join(FORMATS)}")
    target = Path(out)
    if target.exists() and not target.is_dir():
        raise BadInput(f"{str(target)!r} is a file", step=Step.OUT_IS_A_FOLDER)
    if fmt == "inventory":
        from registry_pipeline.exports import inventory

        published = inventory.build(registry, target)
        return {
            "format": fmt,
            "out": str(target),
            "files": [str(published.database)],
            "as_of": {"ledger_seq": published.as_of_seq, "time": published.as_of_time},
            "tables": published.tables,
        }
    from registry_pipeline.store.snapshot import take_snapshot

    module, writer = WRITERS[fmt]
    snap = take_snapshot(registry)
    target.mkdir(parents=True, exist_ok=True)
    paths = getattr(importlib.import_module(module), writer)(snap, target)
    return {
        "format": fmt,
        "out": str(target),
        "files": [str(p) for p in paths],
        "as_of": snap.as_of,
    }
