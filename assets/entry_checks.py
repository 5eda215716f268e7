"""The entry checks: the evidence gates (``evals``, blocking; ``model_card``; ``license``) on
each entry's latest version and the ``review`` cycle of its production version, as one
subsettable multi-check per kind and chunk of entries.

Which checks an entry gets and how serious a failure is are the registry's rules
(:mod:`registry_pipeline.core.automation`); the checks only map its answers.
"""

import json
from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from typing import Any

import dagster as dg

from registry_pipeline.assets.asset_keys import entry_key
from registry_pipeline.assets.resources import RegistryResource
from registry_pipeline.core.automation import (
    BLOCKING_CHECKS,
    EVIDENCE_CHECKS,
    PROVIDER_CHECK,
    REVIEW_CHECK,
    CheckSeverity,
    EvidenceCheck,
    LatestReadiness,
    check_severity,
    checks_for,
)
from registry_pipeline.core.catalog import Catalog, CatalogEntry
from registry_pipeline.core.gates import Gate
from registry_pipeline.core.kinds import EntryKind
from registry_pipeline.service import Registry
from registry_pipeline.service.results import ReviewItem

CHECK_DESCRIPTIONS = {
    Gate.EVALS: "The latest version meets the production eval thresholds of the policy.",
    Gate.CARD: "The latest version has a model card with the fields production requires.",
    Gate.LICENSE: "The entry's license (and a stack's components') is allowed in production.",
    PROVIDER_CHECK: "The latest version pins a dated provider snapshot that is not past or "
    "within 30 days of its deprecation date.",
    REVIEW_CHECK: "The production version's approval and evals are within the policy's "
    "review periods (review_every_days, max_eval_age_days).",
}

SEVERITY = {
    CheckSeverity.WARN: dg.AssetCheckSeverity.WARN,
    CheckSeverity.ERROR: dg.AssetCheckSeverity.ERROR,
}

#: Dagster's job building is quadratic in a check definition's size, so chunks of at most
#: this many entries keep loading linear in the catalog.
CHECK_CHUNK = 100


def build_entry_checks(catalog: Catalog) -> list[dg.AssetChecksDefinition]:
    """Per kind, multi-checks over at most :data:`CHECK_CHUNK` entries each."""
    by_kind: dict[EntryKind, list[CatalogEntry]] = defaultdict(list)
    for entry in catalog.entries.values():
        by_kind[entry.kind].append(entry)
    out = []
    for kind, entries in sorted(by_kind.items()):
        ordered = sorted(entries, key=lambda e: e.name)
        for start in range(0, len(ordered), CHECK_CHUNK):
            suffix = "" if start == 0 else f"_{start // CHECK_CHUNK + 1}"
            out.append(_kind_checks(kind, ordered[start : start + CHECK_CHUNK], suffix))
    return out


def _kind_checks(
    kind: EntryKind, entries: Sequence[CatalogEntry], suffix: str
) -> dg.AssetChecksDefinition:
    by_name = {e.name: e for e in entries}
    specs = [
        dg.AssetCheckSpec(
            name=check,
            asset=entry_key(e),
            blocking=check in BLOCKING_CHECKS,
            description=CHECK_DESCRIPTIONS[check],
        )
        for e in entries
        for check in checks_for(kind)
    ]

    @dg.multi_asset_check(name=f"check_{kind.value}{suffix}", specs=specs, can_subset=True)
    def check_entries(
        context: dg.AssetCheckExecutionContext, registry: RegistryResource
    ) -> Iterator[dg.AssetCheckResult]:
        client = registry.client()
        wanted: dict[str, set[str]] = defaultdict(set)
        for key in context.selected_asset_check_keys:
            wanted[key.asset_key.path[-1]].add(key.name)
        for name in sorted(wanted):
            yield from check_entry(client, by_name[name], wanted[name])

    return check_entries


def check_entry(
    client: Registry, entry: CatalogEntry, checks: Collection[str]
) -> Iterator[dg.AssetCheckResult]:
    """The results of ``entry``'s checks named in ``checks``: the evidence gates on its
    latest version, and whether its production version is due for review."""
    evidence = (*EVIDENCE_CHECKS, PROVIDER_CHECK)
    if any(name in checks for name in evidence):
        readiness = client.automation.latest_readiness(entry.name)
        for check in readiness.checks:
            if check.name in checks:
                yield _evidence_result(entry, readiness, check)
        if PROVIDER_CHECK in checks and all(c.name != PROVIDER_CHECK for c in readiness.checks):
            yield dg.AssetCheckResult(
                asset_key=entry_key(entry),
                check_name=PROVIDER_CHECK,
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                description="no version registered yet",
            )
    if REVIEW_CHECK in checks:
        yield _review_result(entry, client.review_due(entry=entry.name))


def _evidence_result(
    entry: CatalogEntry, readiness: LatestReadiness, check: EvidenceCheck
) -> dg.AssetCheckResult:
    metadata: dict[str, Any] = {"Detail": dg.MetadataValue.text(check.detail)}
    if readiness.version is not None:
        metadata["Version"] = dg.MetadataValue.int(readiness.version)
        metadata["Gate"] = dg.MetadataValue.text(
            json.dumps({"name": check.name, "passed": check.passed})
        )
    return dg.AssetCheckResult(
        asset_key=entry_key(entry),
        check_name=check.name,
        passed=check.passed,
        severity=SEVERITY[check.severity],
        description=check.detail,
        metadata=metadata,
    )


def _review_result(entry: CatalogEntry, due: Sequence[ReviewItem]) -> dg.AssetCheckResult:
    detail = "; ".join(
        f"v{d.version} {d.what} {d.age_days or 'never'} days old (limit {d.limit_days:g})"
        for d in due
    )
    passed = not due
    return dg.AssetCheckResult(
        asset_key=entry_key(entry),
        check_name=REVIEW_CHECK,
        passed=passed,
        severity=SEVERITY[check_severity(REVIEW_CHECK, passed=passed)],
        description=detail or "nothing due for review",
        metadata={"Due": dg.MetadataValue.json([d.to_dict() for d in due])},
    )
