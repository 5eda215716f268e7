"""Assemble a new candidate stack version whenever a component has a newer version than
the stack's latest pins. Assembly only pins; promotion stays behind the gates."""

from collections.abc import Sequence
from typing import Any

import dagster as dg

from registry_pipeline.assets import run_requests
from registry_pipeline.assets.resources import RegistryResource
from registry_pipeline.core.catalog import Catalog
from registry_pipeline.core.kinds import EntryKind


def build_stack_sensor(
    catalog: Catalog,
    *,
    jobs: Sequence[Any],
    default_status: dg.DefaultSensorStatus,
    interval: int = 15,
) -> dg.SensorDefinition:
    """The stack-assembly sensor for every stack in ``catalog``."""
    stacks = sorted(
        (e for e in catalog.entries.values() if e.kind is EntryKind.STACK), key=lambda e: e.name
    )

    @dg.sensor(
        name="stack_assembly",
        jobs=list(jobs),
        minimum_interval_seconds=interval,
        default_status=default_status,
        description="Pins the latest component versions into a new candidate stack version.",
    )
    def stack_assembly(
        context: dg.SensorEvaluationContext, registry: RegistryResource
    ) -> dg.SensorResult:
        client = registry.client()
        requests = []
        for stack in stacks:
            due = client.automation.stack_pins_due(stack.name)
            if due is not None:
                context.log.info(
                    f"{stack.name}: assembling a new version pinning {', '.join(due.refs())}"
                )
                requests.append(run_requests.assemble_stack(stack, due))
        if not requests:
            return dg.SensorResult(
                skip_reason=dg.SkipReason("every stack pins its components' latest versions")
            )
        return dg.SensorResult(run_requests=requests)

    return stack_assembly
