"""Register training outputs dropped in the landing folder.

The cursor is a watermark over each output's ready time (the later of its completion
marker's mtime and its folder's ctime, so a folder moved in whole counts when it lands)
plus the outputs seen within a look-back window, so late or equal timestamps are not lost.
``run_key`` carries the content digest: a restart or a re-tick never registers twice.
"""

import json
import time
from pathlib import Path
from typing import Any

import dagster as dg

from registry_pipeline.assets import run_requests
from registry_pipeline.core.catalog import Catalog
from registry_pipeline.errors import RegistryError
from registry_pipeline.landing import LandingOutput, read_manifest, scan
from registry_pipeline.sources import read_source

LOOKBACK_NS = 300 * 10**9
TICK_BUDGET_S = 20.0


def build_training_sensor(
    catalog: Catalog,
    landing: Path,
    *,
    jobs: list[Any],
    default_status: dg.DefaultSensorStatus,
    interval: int = 10,
) -> dg.SensorDefinition:
    """The training-outputs sensor over ``landing`` for the entries of ``catalog``."""

    @dg.sensor(
        name="training_outputs",
        jobs=jobs,
        minimum_interval_seconds=interval,
        default_status=default_status,
        description=f"Registers training outputs dropped in {landing}/<entry>/<run-id>/.",
    )
    def training_outputs(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        return tick(catalog, landing, context.cursor, log=context.log)

    return training_outputs


def tick(catalog: Catalog, landing: Path, cursor: str | None, *, log: Any) -> dg.SensorResult:
    """One evaluation: run requests for new outputs, the new cursor."""
    state = json.loads(cursor) if cursor else {}
    watermark = int(state.get("watermark", 0))
    recent: dict[str, int] = dict(state.get("recent", {}))
    fresh = [
        o
        for o in scan(landing)
        if o.ready_ns > watermark - LOOKBACK_NS and recent.get(o.key) != o.ready_ns
    ]
    requests: list[dg.RunRequest] = []
    problems: list[str] = []
    started = time.monotonic()
    for output in fresh:
        if time.monotonic() - started > TICK_BUDGET_S:
            log.info("tick budget used; the remaining outputs wait for the next tick")
            break
        request, problem = _request_for(catalog, output)
        if problem:
            log.warning(f"training output {output.key} refused: {problem}")
            problems.append(f"{output.key}: {problem}")
        requests.append(request)
        recent[output.key] = output.ready_ns
        watermark = max(watermark, output.ready_ns)
    recent = {k: v for k, v in recent.items() if v > watermark - LOOKBACK_NS}
    new_cursor = json.dumps({"watermark": watermark, "recent": recent}, sort_keys=True)
    if not requests:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(f"no new training outputs in {landing}"), cursor=new_cursor
        )
    return dg.SensorResult(run_requests=requests, cursor=new_cursor)


def _request_for(catalog: Catalog, output: LandingOutput) -> tuple[dg.RunRequest, str | None]:
    try:
        manifest = read_manifest(output)
        entry = catalog.entry(manifest.entry)
        digest = read_source(output.path, exclude=manifest.excluded()).digest
    except RegistryError as e:
        return run_requests.reject_output(output, str(e)), str(e)
    return run_requests.register_output(entry, output, manifest, digest), None
