"""When the ledger head moves, rebuild what is derived from the store (the ledger asset now,
the inventory and compliance exports downstream of it)."""

from collections.abc import Sequence

import dagster as dg

from registry_pipeline.assets import run_requests
from registry_pipeline.assets.resources import RegistryResource
from registry_pipeline.sensors._runs import any_in_flight


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
        head = registry.client().ledger_head().seq
        seen = int(context.cursor or 0)
        if head == seen:
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
