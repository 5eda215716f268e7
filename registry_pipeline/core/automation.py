"""The rules behind the registry's automation: which upstream versions a new version pins
when none are given, when a stack needs a new version, which checks an entry gets and how
serious a failed check is.

The Dagster assets and sensors ask the registry these questions (in process or over a
server) and map the answers; the rules are pure functions over facts the registry reads,
so they hold for the CLI and Python users alike. :mod:`registry_pipeline.service.pipeline`
reads the facts.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from registry_pipeline.core.catalog import CatalogEntry
from registry_pipeline.core.errors import NotFound
from registry_pipeline.core.gates import Gate, GateResult
from registry_pipeline.core.kinds import EntryKind
from registry_pipeline.core.refs import ExactRef

#: Looks up the newest version number of each entry (``None`` when it has none), as
#: :meth:`Registry.latest_versions` does.
LatestVersions = Callable[[Sequence[str]], Mapping[str, int | None]]

#: The evidence gates an evaluated entry's latest version is checked against, in order.
EVIDENCE_CHECKS: tuple[str, ...] = (Gate.EVALS, Gate.CARD, Gate.LICENSE)
#: The check that a production version's approval and evals are within their review periods.
REVIEW_CHECK = "review"
#: Provider models also get their snapshot check (a pinned, not retiring snapshot).
PROVIDER_CHECK: str = Gate.PROVIDER
#: Checks whose failure blocks the rest of the run.
BLOCKING_CHECKS = frozenset({Gate.EVALS, PROVIDER_CHECK})


class CheckSeverity(StrEnum):
    """How serious a failed check is: an ERROR blocks what runs downstream of it."""

    WARN = "warn"
    ERROR = "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamPins:
    """The latest version of each upstream entry that ``entry`` declares (a stack's
    components), and the declared entries that have no version yet."""

    entry: str
    pins: tuple[ExactRef, ...]
    missing: tuple[str, ...] = ()

    def refs(self) -> list[str]:
        """The pins as ``ENTRY@VERSION``, sorted by entry."""
        return [str(p) for p in self.pins]

    def require(self) -> list[str]:
        """The pins as ``ENTRY@VERSION``, when every declared upstream has a version.

        Raises:
            NotFound: naming the declared upstream entries with no version yet.
        """
        if self.missing:
            raise NotFound(
                f"{self.entry} needs a version of {', '.join(self.missing)} first",
                entry=self.entry,
                hint="register it, or pin exact upstream versions",
            )
        return self.refs()


@dataclass(frozen=True, slots=True, kw_only=True)
class StackPins:
    """A new version of ``stack`` is due: the component versions it would pin."""

    stack: str
    pins: tuple[ExactRef, ...]

    def refs(self) -> list[str]:
        """The pins as ``ENTRY@VERSION``, sorted by entry."""
        return [str(p) for p in self.pins]


@dataclass(frozen=True, slots=True, kw_only=True)
class EvidenceCheck:
    """One evidence gate on an entry's latest version, with the severity of its outcome."""

    name: str
    passed: bool
    severity: CheckSeverity
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LatestReadiness:
    """The evidence gates (:data:`EVIDENCE_CHECKS`) on an entry's latest version.

    ``version`` is ``None`` when the entry has no version yet; every check then fails as
    a warning.
    """

    entry: str
    version: int | None
    checks: tuple[EvidenceCheck, ...]

    def check(self, name: str) -> EvidenceCheck:
        """The check called ``name`` (one of :data:`EVIDENCE_CHECKS`).

        Raises:
            KeyError: ``name`` is not an evidence check.
        """
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)


def declared_upstream(entry: CatalogEntry) -> tuple[str, ...]:
    """What a version of ``entry`` pins: a stack's components, any other entry's upstream."""
    return entry.components if entry.kind is EntryKind.STACK else entry.upstream


def latest_pins(
    latest_versions: LatestVersions, entry: str, declared: Sequence[str]
) -> UpstreamPins:
    """Pin the latest version of each of ``declared``, the upstream entries of ``entry``.

    The default lineage of a new version when the caller pins nothing: registrations from
    training outputs, stack assembly and upstream hints found in an artifact all use it.

    Args:
        latest_versions: the newest version number of each entry (a registry's
            :meth:`~registry_pipeline.service.Registry.latest_versions`).
        entry: the entry whose new version would take the pins.
        declared: the upstream entries (a stack's components) to pin.

    Returns:
        The pins, sorted by entry, and the declared entries with no version yet.
    """
    latest = latest_versions(list(declared))
    return UpstreamPins(
        entry=entry,
        pins=tuple(
            ExactRef(entry=name, version=number)
            for name, number in sorted(latest.items())
            if number is not None
        ),
        missing=tuple(sorted(name for name, number in latest.items() if number is None)),
    )


def stack_pins_due(latest: UpstreamPins, current: Collection[ExactRef] | None) -> StackPins | None:
    """Whether a stack needs a new version, and which pins it would take.

    Args:
        latest: the latest version of each of the stack's components.
        current: what the stack's latest version pins; ``None`` when it has no version.

    Returns:
        The pins of the new version; ``None`` while a component has no version yet or
        when the stack's latest version already pins the latest of every component.
        Assembling only pins: promoting the new version stays behind the gates.
    """
    if latest.missing:
        return None
    if current is not None and set(current) == set(latest.pins):
        return None
    return StackPins(stack=latest.entry, pins=latest.pins)


def checks_for(kind: EntryKind) -> tuple[str, ...]:
    """The checks an entry of ``kind`` gets. Models and stacks get every evidence check and
    the review check; the rest (datasets, prompts, indexes, suites) are promoted only as
    parts of a stack, so only their review cycle is checked on their own."""
    if kind is EntryKind.PROVIDER_MODEL:
        return (*EVIDENCE_CHECKS, PROVIDER_CHECK, REVIEW_CHECK)
    return (*EVIDENCE_CHECKS, REVIEW_CHECK) if kind.is_evaluated else (REVIEW_CHECK,)


def check_severity(check: str, *, passed: bool, evaluated: bool = False) -> CheckSeverity:
    """ERROR only for a version whose recorded evals miss the bar.

    A version not evaluated yet, a card or license gap, or a review that is due is a
    WARN: registering the version is fine, promoting it is what the gates refuse.

    Args:
        check: the check's name (:data:`EVIDENCE_CHECKS` or :data:`REVIEW_CHECK`).
        passed: whether the check passed.
        evaluated: whether the version has any recorded eval results (only the evals
            check asks).
    """
    if passed:
        return CheckSeverity.WARN
    if check == PROVIDER_CHECK or (check == Gate.EVALS and evaluated):
        return CheckSeverity.ERROR
    return CheckSeverity.WARN


def latest_readiness(
    entry: str, version: int | None, gates: Sequence[GateResult], *, evaluated: bool
) -> LatestReadiness:
    """The evidence checks of ``entry``'s latest version from its evidence gates.

    Args:
        entry: the entry.
        version: its latest version, ``None`` when it has none (``gates`` is then empty).
        gates: the evidence gates on that version (:meth:`Registry.readiness`).
        evaluated: whether that version has any recorded eval results.
    """
    if version is None:
        checks = tuple(
            EvidenceCheck(
                name=name,
                passed=False,
                severity=check_severity(name, passed=False, evaluated=False),
                detail="no version registered yet",
            )
            for name in EVIDENCE_CHECKS
        )
        return LatestReadiness(entry=entry, version=None, checks=checks)
    by_name = {g.name: g for g in gates}
    names = (*EVIDENCE_CHECKS, PROVIDER_CHECK) if PROVIDER_CHECK in by_name else EVIDENCE_CHECKS
    checks = tuple(
        EvidenceCheck(
            name=name,
            passed=by_name[name].passed,
            severity=check_severity(name, passed=by_name[name].passed, evaluated=evaluated),
            detail=by_name[name].detail,
        )
        for name in names
    )
    return LatestReadiness(entry=entry, version=version, checks=checks)
