"""When the ledger moves, rebuild what is derived from the store (the ledger asset now, the
inventory and compliance exports downstream of it). The sensor reads the event feed after
its cursor, through the registry server in server mode; a ledger that shrank below the
cursor (a registry restored from a backup) counts as moved."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import dagster as dg

from registry_pipeline.assets import run_requests
from registry_pipeline.assets.resources import RegistryResource
from registry_pipeline.sensors._runs import any_in_flight

if TYPE_CHECKING:  # what ``dg.define_asset_job`` returns; Dagster does not export it
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

FEED_PAGE = 100
"""Events read a tick: one is enough to know the ledger moved; the rebuild reads it all."""


def build_ledger_sensor(
    job: UnresolvedAssetJobDefinition,
    targets: Sequence[dg.AssetKey],
    *,
    default_status: dg.DefaultSensorStatus,
    interval: int = 30,
) -> dg.SensorDefinition:
    """The ledger-changes sensor, requesting ``targets`` (through ``job``, which selects
    them) whenever the head moves."""

    @dg.sensor(
        name="ledger_changes",
        job=job,
        minimum_interval_seconds=interval,
        default_status=default_status,
        description="Rebuilds the ledger and the assets derived from it when the ledger moves.",
    )
    def ledger_changes(
        context: dg.SensorEvaluationContext, registry: RegistryResource
    ) -> dg.SensorResult:
        seen = int(context.cursor or 0)
        # The event feed: through the server as its service account, or the database.
        feed = registry.client().events(after=seen, limit=FEED_PAGE)
        head = feed.head
        if not feed.events and head >= seen:
            return dg.SensorResult(skip_reason=dg.SkipReason(f"ledger unchanged at event {seen}"))
        if any_in_flight(context.instance, tags={run_requests.DERIVED_TAG: "true"}):
            # A rebuild reads the ledger when it starts; the one in flight will be followed
            # by one more once it finishes (the cursor does not move meanwhile).
            return dg.SensorResult(
                skip_reason=dg.SkipReason("a rebuild is in flight; the next tick follows up")
            )
        return dg.SensorResult(
            run_requests=[run_requests.rebuild_derived(targets, ledger_seq=head)],
            cursor=str(head),
        )

    return ledger_changes
