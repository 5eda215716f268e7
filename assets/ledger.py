"""The ledger as an asset: verified on every change, its head recorded as the data version
and in metadata, so rewriting history needs both the store and Dagster's event log."""

from collections.abc import Sequence

import dagster as dg

from registry_pipeline.assets.asset_keys import LEDGER_KEY
from registry_pipeline.assets.resources import RegistryResource


def build_ledger_asset(upstream: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    """The ledger asset, downstream of every entry asset."""

    @dg.asset(
        key=LEDGER_KEY,
        deps=list(upstream),
        group_name="registry",
        kinds={"ledger"},
        description="The append-only, hash-chained ledger of every registry change. Each "
        "materialization re-verifies the whole chain and records its head hash.",
    )
    def ledger(
        context: dg.AssetExecutionContext, registry: RegistryResource
    ) -> dg.MaterializeResult:
        verdict = registry.client().verify()
        if not verdict.ok:
            raise dg.Failure(
                description=f"ledger broken at event {verdict.broken_at}: {verdict.problem}",
                metadata={"Broken at": dg.MetadataValue.int(verdict.broken_at or 0)},
            )
        context.log.info(f"ledger ok: {verdict.events} events, head {verdict.head}")
        return dg.MaterializeResult(
            data_version=dg.DataVersion(verdict.head),
            metadata={
                "Events": dg.MetadataValue.int(verdict.events),
                "Head hash": dg.MetadataValue.text(verdict.head),
                "Anchor": dg.MetadataValue.text(f"{verdict.events}:{verdict.head}"),
                "Verified": dg.MetadataValue.bool(True),
            },
        )

    return ledger
