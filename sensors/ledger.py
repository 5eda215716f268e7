"""When the ledger head moves, rebuild what is derived from the store (the ledger asset now,
the inventory and compliance exports downstream of it)."""

from collections.abc import Sequence

import dagster as dg

from registry_pipeline.assets.resources import RegistryResource
from registry_pipeline.sensors.gates import IN_FLIGHT

DERIVED_TAG = "registry/derived"


def build_ledger_sensor(
    targets: Sequence[dg.AssetKey],
    *,
    default_status: dg.DefaultSensorStatus,
    interval: int = 30,
) -> dg.SensorDefinition:
    """The ledger-changes sensor, requesting ``targets`` whenever the head moves."""

    @dg.sensor(
        name="ledger_changes",
        target=list(targets),
        minimum_interval_seconds=interval,
        default_status=default_status,
        description="Rebuilds the ledger and the assets derived from it when the ledger moves.",
    )
    def ledger_changes(
        context: dg.SensorEvaluationContext, registry: RegistryResource
    ) -> dg.SensorResult:
        head = registry.client().ledger_head()
        seen = int(context.cursor or 0)
        if head.seq == seen:
            return dg.SensorResult(skip_reason=dg.SkipReason(f"ledger unchanged at event {seen}"))
        busy = context.instance.get_run_records(
            filters=dg.RunsFilter(tags={DERIVED_TAG: "true"}, statuses=IN_FLIGHT), limit=1
        )
        if busy:
            # A rebuild reads the ledger when it starts; the one in flight will be followed
            # by one more once it finishes (the cursor does not move meanwhile).
            return dg.SensorResult(
                skip_reason=dg.SkipReason("a rebuild is in flight; the next tick follows up")
            )
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"ledger:{head.seq}",
                    asset_selection=list(targets),
                    tags={DERIVED_TAG: "true"},
                )
            ],
            cursor=str(head.seq),
        )

    return ledger_changes
