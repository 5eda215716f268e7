"""The facts behind the registry's automation rules (:mod:`registry_pipeline.core.automation`),
read from the store: the latest upstream pins of an entry, whether a stack's new version is
due, and the evidence checks on an entry's latest version."""

from __future__ import annotations

from registry_pipeline.core.automation import (
    BLOCKING_CHECKS,
    EVIDENCE_CHECKS,
    PROVIDER_CHECK,
    REVIEW_CHECK,
    CheckSeverity,
    EvidenceCheck,
    LatestReadiness,
    StackPins,
    UpstreamPins,
    check_severity,
    checks_for,
    declared_upstream,
    latest_pins,
    latest_readiness,
    stack_pins_due,
)
from registry_pipeline.core.gates import GateResult
from registry_pipeline.core.kinds import EntryKind
from registry_pipeline.core.refs import ExactRef
from registry_pipeline.core.stages import Stage
from registry_pipeline.errors import BadInput
from registry_pipeline.service.context import Context
from registry_pipeline.store import evidence, stages, versions

__all__ = [
    "BLOCKING_CHECKS",
    "EVIDENCE_CHECKS",
    "PROVIDER_CHECK",
    "REVIEW_CHECK",
    "CheckSeverity",
    "EvidenceCheck",
    "LatestReadiness",
    "StackPins",
    "UpstreamPins",
    "check_severity",
    "checks_for",
    "latest_pins",
]


def entry_latest_pins(ctx: Context, entry: str) -> UpstreamPins:
    """The latest version of each upstream entry (a stack's components) ``entry`` declares.

    Raises:
        NotFound: unknown entry.
    """
    with ctx.store.read() as conn:
        spec = ctx.catalog(conn).entry(entry)
        declared = declared_upstream(spec)
        latest = versions.latest_numbers(conn, declared)
    return latest_pins(lambda _: latest, spec.name, declared)


def stack_pins_due_for(ctx: Context, stack: str) -> StackPins | None:
    """The pins of a new version of ``stack`` when a component has a newer version than
    the stack's latest version pins; ``None`` when none is due.

    Raises:
        NotFound: unknown entry.
        BadInput: ``stack`` is not a stack.
    """
    with ctx.store.read() as conn:
        spec = ctx.catalog(conn).entry(stack)
        if spec.kind is not EntryKind.STACK:
            raise BadInput(f"{stack} is a {spec.kind}, not a stack", entry=stack)
        latest = versions.latest_number(conn, stack)
        current = (
            None
            if latest is None
            else [
                ExactRef(entry=u.entry, version=u.version)
                for u in versions.upstream_of(conn, stack, latest)
            ]
        )
    return stack_pins_due(entry_latest_pins(ctx, stack), current)


def entry_readiness(ctx: Context, entry: str, *, target: str = "production") -> LatestReadiness:
    """The evidence gates on ``entry``'s latest version as a promotion to ``target`` would
    see them now, each with its check severity (the Dagster entry checks).

    Raises:
        NotFound: unknown entry.
    """
    from registry_pipeline.service.promotion import readiness

    with ctx.store.read() as conn:
        name = ctx.catalog(conn).entry(entry).name
        version = versions.latest_number(conn, name)
        evaluated = version is not None and bool(evidence.eval_results(conn, name, version))
        held = stages.holder(conn, name, Stage.PRODUCTION)
    if version is None:
        return latest_readiness(name, None, (), evaluated=False)
    gates = readiness(ctx, f"{name}@{version}", target=target)
    if held is not None and held.number != version:
        # The snapshot check covers the production version too: a provider retiring the
        # snapshot that serves production matters even when a newer candidate is fine.
        serving = {g.name: g for g in readiness(ctx, f"{name}@{held.number}", target=target)}
        gates = [
            GateResult(
                name=g.name,
                passed=g.passed and serving[g.name].passed,
                detail=f"latest: {g.detail}; production: {serving[g.name].detail}",
            )
            if g.name == PROVIDER_CHECK and g.name in serving
            else g
            for g in gates
        ]
    return latest_readiness(name, version, gates, evaluated=evaluated)


class Automation:
    """The automation questions as a facade (``registry.automation``), for the Dagster
    assets and sensors."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def latest_pins(self, entry: str) -> UpstreamPins:
        """The latest version of each upstream entry (stack component) ``entry`` declares."""
        return entry_latest_pins(self._ctx, entry)

    def stack_pins_due(self, stack: str) -> StackPins | None:
        """The pins of a new version of ``stack`` when one is due, else ``None``."""
        return stack_pins_due_for(self._ctx, stack)

    def latest_readiness(self, entry: str, *, target: str = "production") -> LatestReadiness:
        """The evidence checks, with severities, on ``entry``'s latest version."""
        return entry_readiness(self._ctx, entry, target=target)
