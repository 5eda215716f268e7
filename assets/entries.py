"""One asset per catalog entry, grouped into one subsettable multi-asset per kind (so that
loading definitions stays cheap at thousands of entries), and the entry checks.

Materializing an entry registers a version through the registry service and reports the
content digest as the data version; the exact upstream versions used go into metadata
because Dagster's provenance records only the upstream's latest materialization.
"""

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg
from pydantic import Field

from registry_pipeline.assets.catalog_graph import (
    description,
    entry_key,
    groups,
    key_of,
    owner,
    static_metadata,
)
from registry_pipeline.assets.resources import RegistryResource
from registry_pipeline.core.catalog import Catalog, CatalogEntry
from registry_pipeline.core.gates import Gate, GateResult
from registry_pipeline.core.kinds import EntryKind
from registry_pipeline.errors import BadInput, NotFound, RegistryError
from registry_pipeline.service import Registered, Registry

CHECKS = ("evals", "model_card", "license", "review")
PROVIDER_CHECK = Gate.PROVIDER
#: Checks whose failure blocks the rest of the run.
BLOCKING_CHECKS = frozenset({"evals", PROVIDER_CHECK})


def checks_for(kind: EntryKind) -> tuple[str, ...]:
    """Models and stacks get every check (provider models also their snapshot check); the
    rest (datasets, prompts, indexes, suites) are promoted only as parts of a stack, so only
    their review cycle is checked on their own."""
    if kind is EntryKind.PROVIDER_MODEL:
        return (*CHECKS, PROVIDER_CHECK)
    return CHECKS if kind.is_evaluated else ("review",)


CHECK_DESCRIPTIONS = {
    "evals": "The latest version meets the production eval thresholds of the policy.",
    "model_card": "The latest version has a model card with the fields production requires.",
    "license": "The entry's license (and a stack's components') is allowed in production.",
    "review": "The production version's approval and evals are within the policy's review "
    "periods (review_every_days, max_eval_age_days).",
    PROVIDER_CHECK: "The latest and the production version pin a dated provider snapshot "
    "that is not past or within 30 days of its deprecation date.",
}


class EvalFileConfig(dg.Config):  # type: ignore[misc]
    """An eval results file to ingest for the new version."""

    file: str = Field(description="Path of a YAML/JSON eval results file.")
    suite: str = Field(description="The eval suite version that produced it: SUITE@VERSION.")


class EntryRunConfig(dg.Config):  # type: ignore[misc]
    """What to register for one entry."""

    source: str = Field(default="", description="Folder or file to register (not for stacks).")
    upstream: list[str] = Field(
        default_factory=list,
        description="Exact upstream versions (stacks: component pins) as ENTRY@VERSION; "
        "default: the latest version of each.",
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Training config.")
    exclude: list[str] = Field(default_factory=list, description="Paths that are not content.")
    expected_digest: str | None = Field(
        default=None, description="Refuse if the content no longer has this digest."
    )
    evals: list[EvalFileConfig] = Field(default_factory=list)


class RegisterConfig(dg.Config):  # type: ignore[misc]
    """Run config of an entry materialization: entry name -> what to register."""

    entries: dict[str, EntryRunConfig] = Field(default_factory=dict)


def op_name(kind: EntryKind) -> str:
    """The multi-asset (op) name of a kind, used in run config."""
    return f"register_{kind.value}"


def build_entry_assets(catalog: Catalog) -> list[dg.AssetsDefinition]:
    """One subsettable multi-asset per kind present in the catalog."""
    by_kind: dict[EntryKind, list[CatalogEntry]] = defaultdict(list)
    for entry in catalog.entries.values():
        by_kind[entry.kind].append(entry)
    group_of = groups(catalog)
    return [
        _kind_assets(catalog, kind, sorted(entries, key=lambda e: e.name), group_of)
        for kind, entries in sorted(by_kind.items())
    ]


def _kind_assets(
    catalog: Catalog, kind: EntryKind, entries: list[CatalogEntry], group_of: dict[str, str]
) -> dg.AssetsDefinition:
    specs = [
        dg.AssetSpec(
            key=entry_key(e),
            deps=[key_of(catalog, d) for d in (*e.upstream, *e.components)],
            description=description(e),
            metadata=static_metadata(e),
            group_name=group_of[e.name],
            owners=[owner(e.owner)],
            kinds={kind.value},
            tags={"registry/risk_class": e.risk_class} if e.risk_class else {},
            skippable=True,
        )
        for e in entries
    ]

    @dg.multi_asset(
        name=op_name(kind),
        specs=specs,
        can_subset=True,
        description=f"Registers versions of {kind.value} entries.",
    )
    def register_entries(
        context: dg.AssetExecutionContext, config: RegisterConfig, registry: RegistryResource
    ) -> Iterator[dg.MaterializeResult]:
        client = registry.client()
        for key in sorted(context.selected_asset_keys, key=lambda k: k.to_user_string()):
            entry = catalog.entry(key.path[-1])
            wanted = config.entries.get(entry.name, EntryRunConfig())
            yield materialize_entry(client, entry, wanted, log=context.log)

    return register_entries


def materialize_entry(
    client: Registry, entry: CatalogEntry, wanted: EntryRunConfig, *, log: Any
) -> dg.MaterializeResult:
    """Register one version of ``entry`` and describe it as a materialization."""
    try:
        result = _register(client, entry, wanted, log=log)
        if result.created:
            for item in wanted.evals:
                client.ingest_evals(f"{entry.name}@{result.version}", item.file, suite=item.suite)
    except RegistryError as e:
        raise dg.Failure(description=f"{entry.name}: {e}") from e
    if not result.created:
        log.info(f"{entry.name}@{result.version} already has this content; nothing new")
    return describe_version(client, entry, result)


def _progress(log: Any) -> Callable[[int, int], None]:
    """Hashing progress in the run log every 10 s for sources of 256 MiB and more."""
    last = 0.0

    def report(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if total >= 256 << 20 and (now - last >= 10 or done == total):
            last = now
            log.info(f"hashing: {done / 2**20:,.0f} of {total / 2**20:,.0f} MiB")

    return report


def _register(
    client: Registry, entry: CatalogEntry, wanted: EntryRunConfig, *, log: Any
) -> Registered:
    declared = entry.components if entry.kind is EntryKind.STACK else entry.upstream
    pins = list(wanted.upstream) or _latest_pins(client, entry.name, declared)
    if entry.kind is EntryKind.STACK:
        return client.register_stack(entry.name, pins)
    if not wanted.source:
        raise BadInput(
            "no source to register: set entries."
            f"{entry.name}.source in the run config, or drop a training output in the "
            "landing folder"
        )
    return client.register(
        entry.name,
        wanted.source,
        params=wanted.params,
        upstream=pins,
        exclude=wanted.exclude,
        expected_digest=wanted.expected_digest,
        progress=_progress(log),
    )


def _latest_pins(client: Registry, name: str, declared: tuple[str, ...]) -> list[str]:
    latest = client.latest_versions(list(declared))
    missing = sorted(n for n, v in latest.items() if v is None)
    if missing:
        raise NotFound(
            f"{name} needs a version of {', '.join(missing)} first; register it, or pin "
            "exact versions in entries.<name>.upstream"
        )
    return [f"{n}@{v}" for n, v in sorted(latest.items())]


def describe_version(
    client: Registry, entry: CatalogEntry, result: Registered
) -> dg.MaterializeResult:
    """Map a registered version onto a ``MaterializeResult`` with plain-word metadata."""
    ref = f"{entry.name}@{result.version}"
    shown = client.show(ref)
    card = client.card(ref)
    head = client.ledger_head()
    upstream = {
        f"{u['entry']}": f"{u['entry']}@{u['version']} ({u['digest'][:12]})"
        for u in shown["lineage"]
    }
    metadata: dict[str, Any] = {
        "Version": dg.MetadataValue.int(result.version),
        "Digest (sha256)": dg.MetadataValue.text(result.digest),
        "Size (bytes)": dg.MetadataValue.int(result.size),
        "Files": dg.MetadataValue.int(result.file_count),
        "Source": dg.MetadataValue.text(shown["source"]),
        "Stage": dg.MetadataValue.text(shown["stage"] or ""),
        "Training parameters": dg.MetadataValue.json(shown["params"]),
        "Upstream versions": dg.MetadataValue.json(upstream),
        "Model card": dg.MetadataValue.md(card["markdown"]),
        "New version": dg.MetadataValue.bool(result.created),
        "Ledger head": dg.MetadataValue.text(f"{head['seq']}:{head['hash']}"),
    }
    for u in shown["lineage"]:
        upstream_entry = client.catalog().entries.get(u["entry"])
        if upstream_entry is not None:
            metadata[f"Upstream: {u['entry']}"] = dg.MetadataValue.asset(entry_key(upstream_entry))
    return dg.MaterializeResult(
        asset_key=entry_key(entry),
        data_version=dg.DataVersion(result.digest),
        metadata=metadata,
        tags={"registry/version": str(result.version)},
    )


CHECK_CHUNK = 100


def build_entry_checks(catalog: Catalog) -> list[dg.AssetChecksDefinition]:
    """Per kind, multi-checks with evals (blocking), model_card and license per entry, in
    chunks of at most 100 entries (Dagster's job building is quadratic in a check
    definition's size, so chunks keep loading linear in the catalog)."""
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
    kind: EntryKind, entries: list[CatalogEntry], suffix: str
) -> dg.AssetChecksDefinition:
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
        for key in sorted(context.selected_asset_check_keys, key=lambda k: k.to_user_string()):
            yield check_entry(client, key)

    return check_entries


def _severity(client: Registry, ref: str, check: str, passed: bool) -> dg.AssetCheckSeverity:
    """ERROR (which blocks downstream steps of the run) for a version whose recorded evals
    miss the bar and for a provider model that pins no dated snapshot or is near its
    deprecation; a version not evaluated yet, or a card or license gap, is a WARN:
    registering it is fine, promoting it is what the gates refuse."""
    if passed:
        return dg.AssetCheckSeverity.WARN
    if check == PROVIDER_CHECK or (check == "evals" and client.show(ref)["evals"]):
        return dg.AssetCheckSeverity.ERROR
    return dg.AssetCheckSeverity.WARN


def check_entry(client: Registry, key: dg.AssetCheckKey) -> dg.AssetCheckResult:
    """Evaluate one entry check through the core gates, on the entry's latest version."""
    name = key.asset_key.path[-1]
    if key.name == "review":
        due = client.review_due(entry=name)
        detail = "; ".join(
            f"v{d['version']} {d['what']} {d['age_days'] or 'never'} days old "
            f"(limit {d['limit_days']:g})"
            for d in due
        )
        return dg.AssetCheckResult(
            asset_key=key.asset_key,
            check_name=key.name,
            passed=not due,
            severity=dg.AssetCheckSeverity.WARN,
            description=detail or "nothing due for review",
            metadata={"Due": dg.MetadataValue.json(due)},
        )
    latest = client.latest_versions([name])[name]
    if latest is None:
        return dg.AssetCheckResult(
            asset_key=key.asset_key,
            check_name=key.name,
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description="No version registered yet.",
            metadata={"Detail": "no version registered yet"},
        )
    ref = f"{name}@{latest}"
    gate = {g.name: g for g in client.readiness(ref, target="production")}[key.name]
    if key.name == PROVIDER_CHECK:
        gate = _with_production(client, name, latest, gate)
    return dg.AssetCheckResult(
        asset_key=key.asset_key,
        check_name=key.name,
        passed=gate.passed,
        severity=_severity(client, ref, key.name, gate.passed),
        description=gate.detail,
        metadata={
            "Version": dg.MetadataValue.int(latest),
            "Detail": dg.MetadataValue.text(gate.detail),
            "Gate": dg.MetadataValue.text(json.dumps({"name": gate.name, "passed": gate.passed})),
        },
    )


def _with_production(client: Registry, name: str, latest: int, gate: GateResult) -> GateResult:
    """The snapshot check covers the production version too: a provider retiring the
    snapshot that serves production matters even when a newer candidate is fine."""
    try:
        serving = client.show(f"{name}@production")["version"]
    except NotFound:
        return gate
    if serving == latest:
        return gate
    held = {g.name: g for g in client.readiness(f"{name}@{serving}", target="production")}
    other = held[PROVIDER_CHECK]
    return GateResult(
        name=gate.name,
        passed=gate.passed and other.passed,
        detail=f"latest: {gate.detail}; production: {other.detail}",
    )
