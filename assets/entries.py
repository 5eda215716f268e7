"""One asset per catalog entry, grouped into one subsettable multi-asset per kind (so that
loading definitions stays cheap at thousands of entries).

Materializing an entry registers a version through the registry service and reports the
content digest as the data version; the exact upstream versions used go into metadata
because Dagster's provenance records only the upstream's latest materialization.
"""

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg
from pydantic import Field

from registry_pipeline.assets.asset_keys import (
    description,
    entry_key,
    groups,
    key_of,
    owner,
    static_metadata,
)
from registry_pipeline.assets.resources import RegistryResource
from registry_pipeline.core.catalog import Catalog, CatalogEntry
from registry_pipeline.core.kinds import EntryKind
from registry_pipeline.errors import BadInput, RegistryError
from registry_pipeline.service import Registered, Registry


class EvalFileConfig(dg.Config):  # type: ignore[misc]
    """An eval results file to ingest for the new version."""

    file: str = Field(description="Path of a YAML/JSON eval results file.")
    suite: str = Field(description="The eval suite version that produced it: SUITE@VERSION.")


class EntryRunConfig(dg.Config):  # type: ignore[misc]
    """What to register for one entry."""

    source: str = Field(default="", description="Folder or file to register (not for stacks).")
    upstream: list[str] = Field(
        default_factory=list,
        description="Exact upstream versions (stacks: component pins) as ENTRY@VERSION; "
        "default: the latest version of each.",
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Training config.")
    exclude: list[str] = Field(default_factory=list, description="Paths that are not content.")
    expected_digest: str | None = Field(
        default=None, description="Refuse if the content no longer has this digest."
    )
    evals: list[EvalFileConfig] = Field(default_factory=list)


class RegisterConfig(dg.Config):  # type: ignore[misc]
    """Run config of an entry materialization: entry name -> what to register."""

    entries: dict[str, EntryRunConfig] = Field(default_factory=dict)


def op_name(kind: EntryKind) -> str:
    """The multi-asset (op) name of a kind, used in run config."""
    return f"register_{kind.value}"


def build_entry_assets(catalog: Catalog) -> list[dg.AssetsDefinition]:
    """One subsettable multi-asset per kind present in the catalog."""
    by_kind: dict[EntryKind, list[CatalogEntry]] = defaultdict(list)
    for entry in catalog.entries.values():
        by_kind[entry.kind].append(entry)
    group_of = groups(catalog)
    return [
        _kind_assets(catalog, kind, sorted(entries, key=lambda e: e.name), group_of)
        for kind, entries in sorted(by_kind.items())
    ]


def _kind_assets(
    catalog: Catalog, kind: EntryKind, entries: list[CatalogEntry], group_of: dict[str, str]
) -> dg.AssetsDefinition:
    specs = [
        dg.AssetSpec(
            key=entry_key(e),
            deps=[key_of(catalog, d) for d in (*e.upstream, *e.components)],
            description=description(e),
            metadata=static_metadata(e),
            group_name=group_of[e.name],
            owners=[owner(e.owner)],
            kinds={kind.value},
            tags={"registry/risk_class": e.risk_class} if e.risk_class else {},
            skippable=True,
        )
        for e in entries
    ]

    @dg.multi_asset(
        name=op_name(kind),
        specs=specs,
        can_subset=True,
        description=f"Registers versions of {kind.value} entries.",
    )
    def register_entries(
        context: dg.AssetExecutionContext, config: RegisterConfig, registry: RegistryResource
    ) -> Iterator[dg.MaterializeResult]:
        client = registry.client()
        for key in sorted(context.selected_asset_keys, key=lambda k: k.to_user_string()):
            entry = catalog.entry(key.path[-1])
            wanted = config.entries.get(entry.name, EntryRunConfig())
            yield materialize_entry(client, catalog, entry, wanted, log=context.log)

    return register_entries


def materialize_entry(
    client: Registry, catalog: Catalog, entry: CatalogEntry, wanted: EntryRunConfig, *, log: Any
) -> dg.MaterializeResult:
    """Register one version of ``entry`` and describe it as a materialization."""
    try:
        result = _register(client, entry, wanted, log=log)
        if result.created:
            for item in wanted.evals:
                client.ingest_evals(f"{entry.name}@{result.version}", item.file, suite=item.suite)
    except RegistryError as e:
        raise dg.Failure(description=f"{entry.name}: {e}") from e
    if not result.created:
        log.info(f"{entry.name}@{result.version} already has this content; nothing new")
    return describe_version(client, catalog, entry, result)


def _progress(log: Any) -> Callable[[int, int], None]:
    """Hashing progress in the run log every 10 s for sources of 256 MiB and more."""
    last = 0.0

    def report(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if total >= 256 << 20 and (now - last >= 10 or done == total):
            last = now
            log.info(f"hashing: {done / 2**20:,.0f} of {total / 2**20:,.0f} MiB")

    return report


def _register(
    client: Registry, entry: CatalogEntry, wanted: EntryRunConfig, *, log: Any
) -> Registered:
    pins = list(wanted.upstream) or client.automation.latest_pins(entry.name).require()
    if entry.kind is EntryKind.STACK:
        return client.register_stack(entry.name, pins)
    if not wanted.source:
        raise BadInput(
            "no source to register: set entries."
            f"{entry.name}.source in the run config, or drop a training output in the "
            "landing folder"
        )
    return client.register(
        entry.name,
        wanted.source,
        params=wanted.params,
        upstream=pins,
        exclude=wanted.exclude,
        expected_digest=wanted.expected_digest,
        progress=_progress(log),
    )


def describe_version(
    client: Registry, catalog: Catalog, entry: CatalogEntry, result: Registered
) -> dg.MaterializeResult:
    """Map a registered version onto a ``MaterializeResult`` with plain-word metadata."""
    ref = f"{entry.name}@{result.version}"
    shown = client.show(ref)
    card = client.card(ref)
    head = client.ledger_head()
    upstream = {u.entry: f"{u.entry}@{u.version} ({u.digest[:12]})" for u in shown.lineage}
    metadata: dict[str, Any] = {
        "Version": dg.MetadataValue.int(result.version),
        "Digest (sha256)": dg.MetadataValue.text(result.digest),
        "Size (bytes)": dg.MetadataValue.int(result.size),
        "Files": dg.MetadataValue.int(result.to_dict()["files"]),
        "Source": dg.MetadataValue.text(shown.source),
        "Stage": dg.MetadataValue.text(shown.stage or ""),
        "Training parameters": dg.MetadataValue.json(dict(shown.params)),
        "Upstream versions": dg.MetadataValue.json(upstream),
        "Model card": dg.MetadataValue.md(card.markdown),
        "New version": dg.MetadataValue.bool(result.created),
        "Ledger head": dg.MetadataValue.text(f"{head.seq}:{head.hash}"),
    }
    for u in shown.lineage:
        if u.entry in catalog.entries:
            metadata[f"Upstream: {u.entry}"] = dg.MetadataValue.asset(key_of(catalog, u.entry))
    return dg.MaterializeResult(
        asset_key=entry_key(entry),
        data_version=dg.DataVersion(result.digest),
        metadata=metadata,
        tags={"registry/version": str(result.version)},
    )
