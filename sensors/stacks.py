"""Assemble a new candidate stack version whenever a component has a newer version than
the stack's latest pins. Assembly only pins; promotion stays behind the gates."""

from collections.abc import Sequence
from typing import Any

import dagster as dg

from registry_pipeline.assets.entries import op_name
from registry_pipeline.assets.resources import RegistryResource
from registry_pipeline.core.catalog import Catalog
from registry_pipeline.core.kinds import EntryKind
from registry_pipeline.service import Registry


def desired_pins(client: Registry, catalog: Catalog, stack: str) -> list[str] | None:
    """The pins a new stack version would take (latest of each component), or ``None``
    when a component has no version yet or the stack's latest version already pins them."""
    components = catalog.entry(stack).components
    latest = client.latest_versions(list(components))
    if any(v is None for v in latest.values()):
        return None
    wanted = sorted(f"{name}@{number}" for name, number in latest.items())
    if client.latest_versions([stack])[stack] is not None:
        pinned = sorted(f"{u.entry}@{u.version}" for u in client.show(stack).lineage)
        if pinned == wanted:
            return None
    return wanted


def build_stack_sensor(
    catalog: Catalog,
    *,
    jobs: Sequence[Any],
    job_name: str,
    default_status: dg.DefaultSensorStatus,
    interval: int = 15,
) -> dg.SensorDefinition:
    """The stack-assembly sensor for every stack in ``catalog``."""
    stacks = sorted(n for n, e in catalog.entries.items() if e.kind is EntryKind.STACK)

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
            pins = desired_pins(client, catalog, stack)
            if pins is None:
                continue
            context.log.info(f"{stack}: assembling a new version pinning {', '.join(pins)}")
            requests.append(
                dg.RunRequest(
                    job_name=job_name,
                    run_key=f"{stack}:{','.join(pins)}",
                    asset_selection=[dg.AssetKey([EntryKind.STACK.value, stack])],
                    run_config={
                        "ops": {
                            op_name(EntryKind.STACK): {
                                "config": {"entries": {stack: {"upstream": pins}}}
                            }
                        }
                    },
                    tags={"registry/stack": stack},
                )
            )
        if not requests:
            return dg.SensorResult(
                skip_reason=dg.SkipReason("every stack pins its components' latest versions")
            )
        return dg.SensorResult(run_requests=requests)

    return stack_assembly
