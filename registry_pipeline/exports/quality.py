"""Great Expectations validations of the published inventory: the invariants an auditor
relies on, checked on the data analysts actually query.

Great Expectations takes seconds to import, so it is imported inside :func:`validate`,
never at module import.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from registry_pipeline.core.catalog import Catalog
from registry_pipeline.core.digests import HEX64
from registry_pipeline.core.stages import SINGLE_HOLDER_STAGES
from registry_pipeline.exports.inventory import current_database

_SINGLE_HOLDER = ", ".join(f"'{s.value}'" for s in sorted(SINGLE_HOLDER_STAGES))

QUERIES = {
    "production_holders": """
        SELECT entry, version, requester,
               len(list_filter(approved_by, lambda a: a IS DISTINCT FROM requester)) > 0
                   AS independent_approver
        FROM production_holders
    """,
    "versions": "SELECT entry, version, digest FROM versions",
    "entries": "SELECT entry, owner FROM entries",
    "open_single_holder_stages": f"""
        SELECT entry, stage, version FROM stage_history
        WHERE effective_to IS NULL AND stage IN ({_SINGLE_HOLDER})
    """,
    "eval_results": "SELECT suite, metric, value, entry, version FROM eval_results",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """One validation: passed, how many rows it looked at and which broke it."""

    name: str
    passed: bool
    checked: int
    detail: str
    unexpected: list[Any]


CHECKS = (
    "production_has_independent_approver",
    "digests_are_sha256",
    "entries_have_owner",
    "single_holder_per_stage",
    "eval_metrics_within_declared_ranges",
)


def validate(root: Path, catalog: Catalog) -> list[Outcome]:
    """Run every inventory expectation on the build published under ``root``."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    frames = _frames(current_database(root))
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("inventory")

    def run(table: str, expectation: Any, name: str) -> Outcome:
        asset = source.add_dataframe_asset(f"{name}-{table}")
        batch = asset.add_batch_definition_whole_dataframe("all").get_batch(
            batch_parameters={"dataframe": frames[table]}
        )
        result = batch.validate(expectation, result_format="COMPLETE")
        details = result.result or {}
        unexpected = list(
            details.get("unexpected_list") or details.get("unexpected_index_list") or []
        )
        return Outcome(
            name=name,
            passed=bool(result.success),
            checked=len(frames[table]),
            detail=f"{details.get('unexpected_count', 0)} of {len(frames[table])} rows break it",
            unexpected=unexpected[:20],
        )

    outcomes = [
        run(
            "production_holders",
            gxe.ExpectColumnValuesToBeInSet(column="independent_approver", value_set=[True]),
            "production_has_independent_approver",
        ),
        run(
            "versions",
            gxe.ExpectColumnValuesToMatchRegex(column="digest", regex=HEX64.pattern),
            "digests_are_sha256",
        ),
        run(
            "entries",
            gxe.ExpectColumnValuesToMatchRegex(column="owner", regex=r"\S"),
            "entries_have_owner",
        ),
        run(
            "open_single_holder_stages",
            gxe.ExpectCompoundColumnsToBeUnique(column_list=["entry", "stage"]),
            "single_holder_per_stage",
        ),
    ]
    outcomes.append(_ranges(run, frames, catalog))
    return outcomes


def _ranges(
    run: Callable[[str, Any, str], Outcome], frames: dict[str, Any], catalog: Catalog
) -> Outcome:
    import great_expectations.expectations as gxe

    results = frames["eval_results"]
    checked = 0
    broken: list[Any] = []
    for suite in catalog.entries.values():
        for metric, (low, high) in suite.metrics.items():
            rows = results[(results["suite"] == suite.name) & (results["metric"] == metric)]
            if rows.empty:
                continue
            frames[f"{suite.name}:{metric}"] = rows.reset_index(drop=True)
            outcome = run(
                f"{suite.name}:{metric}",
                gxe.ExpectColumnValuesToBeBetween(column="value", min_value=low, max_value=high),
                "eval_metrics_within_declared_ranges",
            )
            checked += outcome.checked
            if not outcome.passed:
                broken += [f"{suite.name}.{metric}={v}" for v in outcome.unexpected]
    return Outcome(
        name="eval_metrics_within_declared_ranges",
        passed=not broken,
        checked=checked,
        detail=f"{len(broken)} of {checked} metric values outside their declared range",
        unexpected=broken[:20],
    )


def _frames(database: Path) -> dict[str, Any]:
    db = duckdb.connect(str(database), read_only=True)
    try:
        return {name: db.execute(sql).df() for name, sql in QUERIES.items()}
    finally:
        db.close()
