"""The analysts' inventory and the compliance exports as assets downstream of the ledger,
with Great Expectations validations of the inventory as asset checks."""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from registry_pipeline.assets.asset_keys import INVENTORY_KEY, LEDGER_KEY, export_key
from registry_pipeline.assets.resources import RegistryResource
from registry_pipeline.core.catalog import Catalog
from registry_pipeline.exports import WRITERS, export

QUALITY_CHECKS = {
    "production_has_independent_approver": "Every production version was approved by "
    "someone other than its requester.",
    "digests_are_sha256": "Every version digest is 64 lowercase hex characters.",
    "entries_have_owner": "Every entry has an owner.",
    "single_holder_per_stage": "No entry has two holders of staging or production.",
    "eval_metrics_within_declared_ranges": "Eval metric values lie within the ranges their "
    "suites declare.",
}


def build_inventory_asset() -> dg.AssetsDefinition:
    """DuckDB + Parquet inventory, published atomically."""

    @dg.asset(
        key=INVENTORY_KEY,
        deps=[LEDGER_KEY],
        group_name="registry",
        kinds={"duckdb", "parquet"},
        description="The analysts' inventory: DuckDB tables and Parquet files rebuilt from "
        "the store, with views auditors ask for (production_now, production_at(T), "
        "downstream_of(entry, version), ...). Query it with `registry sql`.",
    )
    def inventory(registry: RegistryResource) -> dg.MaterializeResult:
        from registry_pipeline.exports.inventory import build  # DuckDB, Arrow: on use

        published = build(registry.reader(), Path(registry.inventory))
        return dg.MaterializeResult(
            data_version=dg.DataVersion(str(published.as_of_seq)),
            metadata={
                "Database": dg.MetadataValue.path(str(published.database)),
                "As of ledger event": dg.MetadataValue.int(published.as_of_seq),
                "As of": dg.MetadataValue.text(published.as_of_time),
                "Rows per table": dg.MetadataValue.json(published.tables),
            },
        )

    return inventory


def build_quality_checks(catalog: Catalog) -> dg.AssetChecksDefinition:
    """The Great Expectations suite on the published inventory, one check per invariant."""
    specs = [
        dg.AssetCheckSpec(name=name, asset=INVENTORY_KEY, description=text)
        for name, text in QUALITY_CHECKS.items()
    ]

    @dg.multi_asset_check(name="inventory_expectations", specs=specs, can_subset=True)
    def inventory_expectations(
        context: dg.AssetCheckExecutionContext, registry: RegistryResource
    ) -> Iterator[dg.AssetCheckResult]:
        from registry_pipeline.exports.quality import validate

        wanted = {k.name for k in context.selected_asset_check_keys}
        for outcome in validate(Path(registry.inventory), catalog):
            if outcome.name in wanted:
                yield dg.AssetCheckResult(
                    asset_key=INVENTORY_KEY,
                    check_name=outcome.name,
                    passed=outcome.passed,
                    description=outcome.detail,
                    metadata={
                        "Rows checked": dg.MetadataValue.int(outcome.checked),
                        "Breaking rows": dg.MetadataValue.json(
                            [str(u) for u in outcome.unexpected]
                        ),
                    },
                )

    return inventory_expectations


def build_export_assets() -> list[dg.AssetsDefinition]:
    """One asset per compliance export format."""
    return [_export_asset(fmt) for fmt in WRITERS]


def _export_asset(fmt: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=export_key(fmt),
        deps=[LEDGER_KEY],
        group_name="compliance",
        kinds={"json"},
        description=f"The `{fmt}` export, rebuilt whenever the ledger moves; it records the "
        "ledger head it was built from.",
    )
    def compliance_export(registry: RegistryResource) -> dg.MaterializeResult:
        written = export(registry.reader(), fmt, Path(registry.exports) / fmt)
        return dg.MaterializeResult(
            data_version=dg.DataVersion(written["as_of"]["ledger_head"]),
            metadata={
                "Files": dg.MetadataValue.json(written["files"]),
                "Ledger head": dg.MetadataValue.text(written["as_of"]["ledger_head"]),
                "As of ledger event": dg.MetadataValue.int(written["as_of"]["ledger_seq"]),
            },
        )

    return compliance_export
