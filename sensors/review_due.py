"""Flag production versions whose approval or evals are due for review: a run of their
``review`` checks (warnings in the UI) once a day while anything is due."""

from datetime import UTC, datetime

import dagster as dg

from registry_pipeline.assets import run_requests
from registry_pipeline.assets.asset_keys import check_key
from registry_pipeline.assets.resources import RegistryResource
from registry_pipeline.core.automation import REVIEW_CHECK
from registry_pipeline.core.catalog import Catalog


def build_review_sensor(
    catalog: Catalog, *, default_status: dg.DefaultSensorStatus, interval: int = 3600
) -> dg.SensorDefinition:
    """The review-due sensor for the entries of ``catalog``."""

    @dg.sensor(
        name="review_due",
        minimum_interval_seconds=interval,
        default_status=default_status,
        asset_selection=dg.AssetSelection.all_asset_checks(),
        description="Runs the review checks of production versions whose approval or evals "
        "have outlived the policy (review_every_days, max_eval_age_days).",
    )
    def review_due(
        context: dg.SensorEvaluationContext, registry: RegistryResource
    ) -> dg.SensorResult:
        due = registry.client().review_due()
        if not due:
            return dg.SensorResult(skip_reason=dg.SkipReason("nothing is due for review"))
        for d in due:
            context.log.warning(
                f"{d.entry}@{d.version}: {d.what} due "
                f"({d.age_days or 'never'} days, limit {d.limit_days:g})"
            )
        entries = sorted({d.entry for d in due})
        checks = [
            check_key(catalog.entries[name], REVIEW_CHECK)
            for name in entries
            if name in catalog.entries
        ]
        request = run_requests.run_checks(checks, entries=entries, day=datetime.now(UTC).date())
        return dg.SensorResult(run_requests=[request])

    return review_due
