"""How the registry maps onto the asset graph: asset and check keys, groups, owners,
descriptions. The only place an ``AssetKey`` is built."""

from __future__ import annotations

import re
from collections.abc import Mapping

import dagster as dg

from registry_pipeline.core.catalog import Catalog, CatalogEntry

SHARED_GROUP = "shared"
UNASSIGNED_GROUP = "catalog"

#: The ledger, downstream of every entry.
LEDGER_KEY = dg.AssetKey(["registry", "ledger"])
#: The analysts' inventory, downstream of the ledger.
INVENTORY_KEY = dg.AssetKey(["registry", "inventory"])


def entry_key(entry: CatalogEntry) -> dg.AssetKey:
    """``[kind, name]``."""
    return dg.AssetKey([entry.kind.value, entry.name])


def key_of(catalog: Catalog, name: str) -> dg.AssetKey:
    """The asset key of catalog entry ``name``; raises :class:`NotFound` for an unknown one."""
    return entry_key(catalog.entry(name))


def check_key(entry: CatalogEntry, check: str) -> dg.AssetCheckKey:
    """The key of ``entry``'s check called ``check``."""
    return dg.AssetCheckKey(entry_key(entry), check)


def export_key(fmt: str) -> dg.AssetKey:
    """``["exports", fmt]``, with dashes as underscores."""
    return dg.AssetKey(["exports", fmt.replace("-", "_")])


def group_name(text: str) -> str:
    """A Dagster group name (letters, digits, underscores) for a workload name."""
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def groups(catalog: Catalog) -> dict[str, str]:
    """Entry -> group: the workload whose stack (components and their upstream, all the
    way down) contains the entry; ``shared`` if several do; ``catalog`` if none."""
    out: dict[str, str] = {}
    for name in catalog.entries:
        owners = catalog.workloads_of(name)
        if len(owners) == 1:
            out[name] = group_name(next(iter(owners)))
        else:
            out[name] = SHARED_GROUP if owners else UNASSIGNED_GROUP
    return out


def owner(text: str) -> str:
    """A Dagster owner: an email as is, anything else as ``team:<name>``."""
    if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text):
        return text
    return "team:" + re.sub(r"[^A-Za-z0-9_]", "_", text)


def description(entry: CatalogEntry) -> str:
    """The asset description shown in the UI."""
    parts = [entry.description or f"{entry.kind.value.replace('_', ' ')} {entry.name}"]
    if entry.intended_use:
        parts.append(f"Intended use: {entry.intended_use}")
    return "\n\n".join(parts)


def static_metadata(entry: CatalogEntry) -> Mapping[str, str]:
    """Catalog facts shown on the asset's definition."""
    facts = {
        "Kind": entry.kind.value,
        "Owner": entry.owner,
        "License": entry.license or "",
        "Risk class": entry.risk_class or "",
    }
    return {k: v for k, v in facts.items() if v}
