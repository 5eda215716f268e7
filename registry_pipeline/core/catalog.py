"""The catalog as values: entries, workloads and the promotion policy.

The YAML loader (``registry_pipeline.catalog``) validates the files and builds these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from registry_pipeline.core.evals import Threshold
from registry_pipeline.core.kinds import EntryKind
from registry_pipeline.core.stages import Stage
from registry_pipeline.errors import NotFound

RISK_CLASSES = ("high", "limited", "minimal")


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogEntry:
    """One entry as declared in the catalog."""

    name: str
    kind: EntryKind
    owner: str
    description: str = ""
    license: str | None = None
    risk_class: str | None = None
    intended_use: str | None = None
    upstream: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    evaluates: tuple[str, ...] = ()
    metrics: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentTarget:
    """Where a workload runs; promotion writes its manifest (a JSON lock of the stack)."""

    name: str
    manifest: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """A named workload served by one stack entry."""

    name: str
    stack: str
    targets: tuple[DeploymentTarget, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StageRule:
    """What a promotion to one stage needs. ``licenses=None`` allows any license."""

    approvals: int = 1
    signed_approvals: bool = False
    evals: Mapping[str, tuple[Threshold, ...]] = field(default_factory=dict)
    card_fields: tuple[str, ...] = ()
    licenses: tuple[str, ...] | None = None
    max_eval_age_days: float | None = None
    review_every_days: float | None = None
    require_ab_win: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleOverride:
    """Fields of a :class:`StageRule` that a risk class overrides (``None``: inherit)."""

    approvals: int | None = None
    signed_approvals: bool | None = None
    evals: Mapping[str, tuple[Threshold, ...]] | None = None
    card_fields: tuple[str, ...] | None = None
    licenses: tuple[str, ...] | None = None
    max_eval_age_days: float | None = None
    review_every_days: float | None = None
    require_ab_win: bool | None = None

    def apply(self, rule: StageRule) -> StageRule:
        """``rule`` with every field this override sets replaced."""
        changes = {
            name: getattr(self, name)
            for name in (
                "approvals",
                "signed_approvals",
                "evals",
                "card_fields",
                "licenses",
                "max_eval_age_days",
                "review_every_days",
                "require_ab_win",
            )
            if getattr(self, name) is not None
        }
        return replace(rule, **changes)


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """Who may approve and what each target stage needs."""

    approvers: frozenset[str] = frozenset()
    admins: frozenset[str] = frozenset()
    stages: Mapping[Stage, StageRule] = field(default_factory=dict)
    by_risk_class: Mapping[Stage, Mapping[str, RuleOverride]] = field(default_factory=dict)
    approver_keys: Mapping[str, str] = field(default_factory=dict)

    def rule_for(self, stage: Stage, risk_class: str | None) -> StageRule:
        """The rule for promotions to ``stage`` of an entry of ``risk_class``.

        A stage the policy does not name still needs one approval.
        """
        rule = self.stages.get(stage, StageRule())
        override = self.by_risk_class.get(stage, {}).get(risk_class or "")
        return override.apply(rule) if override else rule

    def may_approve(self, actor: str) -> bool:
        """Approvers and admins may approve."""
        return actor in self.approvers or actor in self.admins


@dataclass(frozen=True, slots=True, kw_only=True)
class Catalog:
    """Entries, workloads and policy, validated and cross-checked."""

    entries: Mapping[str, CatalogEntry]
    workloads: Mapping[str, Workload] = field(default_factory=dict)
    policy: Policy = field(default_factory=Policy)

    def entry(self, name: str) -> CatalogEntry:
        """The entry called ``name``.

        Raises:
            NotFound: no such entry; the hint says where entries are declared.
        """
        try:
            return self.entries[name]
        except KeyError:
            raise NotFound(
                f"unknown entry {name!r}",
                entry=name,
                hint="declare it in the catalog and run `registry init --catalog PATH`",
            ) from None

    def workload(self, name: str) -> Workload:
        """The workload called ``name``; raises :class:`NotFound`."""
        try:
            return self.workloads[name]
        except KeyError:
            known = ", ".join(sorted(self.workloads)) or "none declared"
            raise NotFound(f"unknown workload {name!r} (workloads: {known})") from None

    def risk_class(self, name: str) -> str | None:
        """The risk class that governs promotions of ``name``: its own, or for a stack the
        highest among itself and its components (a stack is as risky as its riskiest part)."""
        entry = self.entry(name)
        classes = [entry.risk_class]
        if entry.kind is EntryKind.STACK:
            classes += [self.entries[c].risk_class for c in entry.components]
        ranked = [c for c in RISK_CLASSES if c in classes]
        return ranked[0] if ranked else None

    def suites_covering(self, name: str) -> tuple[str, ...]:
        """Eval suites that evaluate entry ``name``: suites listing it under ``evaluates``,
        and for a stack, the suites among its components."""
        entry = self.entry(name)
        found = {s.name for s in self.entries.values() if name in s.evaluates}
        if entry.kind is EntryKind.STACK:
            found |= {c for c in entry.components if self.entries[c].kind is EntryKind.EVAL_SUITE}
        return tuple(sorted(found))
