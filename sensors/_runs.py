"""What the sensors ask the Dagster instance about runs they launched earlier."""

import dagster as dg

#: Runs that have not finished: work they were launched for is under way already.
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def in_flight_tags(instance: dg.DagsterInstance, *, job_name: str, tag: str) -> set[str]:
    """The values of ``tag`` on the runs of ``job_name`` that have not finished."""
    records = instance.get_run_records(filters=dg.RunsFilter(job_name=job_name, statuses=IN_FLIGHT))
    return {r.dagster_run.tags[tag] for r in records if tag in r.dagster_run.tags}


def any_in_flight(instance: dg.DagsterInstance, *, tags: dict[str, str]) -> bool:
    """Whether a run carrying ``tags`` has not finished."""
    filters = dg.RunsFilter(tags=tags, statuses=IN_FLIGHT)
    return bool(instance.get_run_records(filters=filters, limit=1))
