"""The promotion gate sensor: pending requests whose gates all pass launch the apply job;
the others are skipped with every blocking gate named."""

import dagster as dg

from registry_pipeline.assets import run_requests
from registry_pipeline.assets.resources import RegistryResource
from registry_pipeline.sensors._runs import in_flight_tags
from registry_pipeline.service.results import GateReport


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
        applying = in_flight_tags(context.instance, job_name=job.name, tag=run_requests.REQUEST_TAG)
        reports = [
            client.gates(pending.id)
            for pending in client.pending_requests()
            if str(pending.id) not in applying
        ]
        for report in reports:
            context.log.info(_describe(report))
        requests = [run_requests.apply_promotion(r, ledger_seq=head) for r in reports if r.passed]
        if requests:
            return dg.SensorResult(run_requests=requests)
        blocked = "\n".join(_describe(r) for r in reports)
        return dg.SensorResult(
            skip_reason=dg.SkipReason(blocked or "no pending promotion requests")
        )

    return promotion_gates


def _describe(report: GateReport) -> str:
    subject = f"request {report.request} ({report.entry}@{report.version} -> {report.target})"
    if report.passed:
        return f"{subject}: all gates pass; applying"
    reasons = "; ".join(f"{g.name}: {g.detail}" for g in report.gates if not g.passed)
    return f"{subject} blocked by {reasons}"
