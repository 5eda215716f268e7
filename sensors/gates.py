"""The promotion gate sensor: pending requests whose gates all pass launch the apply job;
the others are skipped with every blocking gate named."""

import dagster as dg

from registry_pipeline.assets.resources import RegistryResource

#: Runs that have not finished: a request with one of these is being applied already.
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def build_gate_sensor(
    *, job: dg.JobDefinition, default_status: dg.DefaultSensorStatus, interval: int = 10
) -> dg.SensorDefinition:
    """The gate sensor launching ``job`` (the apply job) for passing requests."""

    @dg.sensor(
        name="promotion_gates",
        job=job,
        minimum_interval_seconds=interval,
        default_status=default_status,
        description="Evaluates the gates of pending promotion requests; applies those that pass.",
    )
    def promotion_gates(
        context: dg.SensorEvaluationContext, registry: RegistryResource
    ) -> dg.SensorResult:
        client = registry.client()
        head = client.ledger_head().seq
        requests: list[dg.RunRequest] = []
        blocked: list[str] = []
        in_flight = {
            record.dagster_run.tags.get("registry/request")
            for record in context.instance.get_run_records(
                filters=dg.RunsFilter(job_name=job.name, statuses=IN_FLIGHT)
            )
        }
        for pending in client.pending_requests():
            if str(pending.id) in in_flight:
                continue
            report = client.gates(pending.id)
            subject = (
                f"request {pending.id} ({pending.entry}@{pending.version} -> {pending.target})"
            )
            if report.passed:
                context.log.info(f"{subject}: all gates pass; applying")
                requests.append(
                    dg.RunRequest(
                        run_key=f"apply:{pending.id}:{head}",
                        run_config={
                            "ops": {"apply_promotion_op": {"config": {"request": pending.id}}}
                        },
                        tags={
                            "registry/request": str(pending.id),
                            "registry/version": f"{pending.entry}@{pending.version}",
                            "registry/target": pending.target.value,
                        },
                    )
                )
            else:
                reasons = "; ".join(f"{g.name}: {g.detail}" for g in report.gates if not g.passed)
                blocked.append(f"{subject} blocked by {reasons}")
        for line in blocked:
            context.log.info(line)
        if requests:
            return dg.SensorResult(run_requests=requests)
        return dg.SensorResult(
            skip_reason=dg.SkipReason("\n".join(blocked) or "no pending promotion requests")
        )

    return promotion_gates
