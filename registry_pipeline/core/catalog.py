"""The catalog as values: entries, workloads and the promotion policy.

The YAML loader (``registry_pipeline.catalog``) validates the files and builds these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from registry_pipeline.core.errors import BadInput, NotFound, Step
from registry_pipeline.core.evals import Threshold
from registry_pipeline.core.kinds import EntryKind
from registry_pipeline.core.stages import Stage

#: Risk classes, riskiest first.
RISK_CLASSES = ("high", "limited", "minimal")


def check_risk_class(value: str) -> str:
    """Return ``value`` if it is one of :data:`RISK_CLASSES`, else raise :class:`BadInput`."""
    if value not in RISK_CLASSES:
        raise BadInput(f"unknown risk class {value!r}; use one of: {', '.join(RISK_CLASSES)}")
    return value


GROUP_PREFIX = "group:"
"""How a policy list names a group of the identity provider: ``group:NAME``."""


def identities(actor: str, groups: Sequence[str] = ()) -> frozenset[str]:
    """The names a policy list may grant ``actor`` a role by: its own, and ``group:NAME``
    for each group the identity provider put it in."""
    return frozenset((actor, *(GROUP_PREFIX + g for g in groups)))


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


class Role(StrEnum):
    """What someone is to an entry, from the policy and the catalog."""

    OWNER = "owner"
    APPROVER = "approver"
    ADMIN = "admin"
    REGISTRAR = "registrar"


class Operation(StrEnum):
    """The mutating operations the policy's permissions govern."""

    CATALOG = "catalog"
    REGISTER = "register"
    EVIDENCE = "evidence"
    REQUEST = "request"
    APPROVE = "approve"
    APPLY = "apply"
    ROLLBACK = "rollback"
    IMPORT = "import"


#: Who may do what unless ``policy.permissions`` says otherwise. Anyone holding no role is a
#: stranger and may do nothing; separation of duties (a requester never approves, and with
#: ``separate_registrant`` a registrant never approves) applies on top.
DEFAULT_PERMISSIONS: Mapping[Operation, frozenset[Role]] = {
    Operation.CATALOG: frozenset({Role.ADMIN}),
    Operation.REGISTER: frozenset({Role.OWNER, Role.APPROVER, Role.ADMIN, Role.REGISTRAR}),
    Operation.EVIDENCE: frozenset({Role.OWNER, Role.APPROVER, Role.ADMIN, Role.REGISTRAR}),
    Operation.REQUEST: frozenset({Role.OWNER, Role.APPROVER, Role.ADMIN, Role.REGISTRAR}),
    Operation.APPROVE: frozenset({Role.APPROVER, Role.ADMIN}),
    Operation.APPLY: frozenset({Role.OWNER, Role.APPROVER, Role.ADMIN, Role.REGISTRAR}),
    Operation.ROLLBACK: frozenset({Role.OWNER, Role.APPROVER, Role.ADMIN}),
    Operation.IMPORT: frozenset({Role.ADMIN, Role.REGISTRAR}),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """Who may do what and what each target stage needs."""

    approvers: frozenset[str] = frozenset()
    admins: frozenset[str] = frozenset()
    registrars: frozenset[str] = frozenset()
    approvers_by_workload: Mapping[str, frozenset[str]] = field(default_factory=dict)
    approvers_by_risk_class: Mapping[str, frozenset[str]] = field(default_factory=dict)
    permissions: Mapping[Operation, frozenset[Role]] = field(
        default_factory=lambda: dict(DEFAULT_PERMISSIONS)
    )
    separate_registrant: bool = False
    authenticated_only: bool = False
    """``policy.identity: authenticated``: writes need a proven identity (a token, the
    identity provider); local mode may only upgrade the schema and mint or revoke tokens."""
    stages: Mapping[Stage, StageRule] = field(default_factory=dict)
    by_risk_class: Mapping[Stage, Mapping[str, RuleOverride]] = field(default_factory=dict)
    approver_keys: Mapping[str, str] = field(default_factory=dict)
    public: frozenset[str] = frozenset()
    """Workloads whose AI-use notice anyone may see (the web UI's embed)."""

    def rule_for(self, stage: Stage, risk_class: str | None) -> StageRule:
        """The rule for promotions to ``stage`` of an entry of ``risk_class``.

        A stage the policy does not name still needs one approval.
        """
        rule = self.stages.get(stage, StageRule())
        override = self.by_risk_class.get(stage, {}).get(risk_class or "")
        return override.apply(rule) if override else rule


@dataclass(frozen=True, slots=True, kw_only=True)
class Catalog:
    """Entries, workloads and policy, validated and cross-checked."""

    entries: Mapping[str, CatalogEntry]
    workloads: Mapping[str, Workload] = field(default_factory=dict)
    policy: Policy = field(default_factory=Policy)
    _membership: dict[str, frozenset[str]] = field(default_factory=dict, compare=False, repr=False)

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
                step=Step.DECLARE_ENTRY,
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

    def workloads_of(self, name: str) -> frozenset[str]:
        """Workloads whose stack contains ``name``: its components, their upstream all the
        way down, and the suites that evaluate them."""
        if not self._membership:
            evaluated_by: dict[str, list[str]] = {}
            for suite in self.entries.values():
                for target in suite.evaluates:
                    evaluated_by.setdefault(target, []).append(suite.name)
            members: dict[str, set[str]] = {}
            for workload in self.workloads.values():
                seen: set[str] = set()
                todo = [workload.stack]
                while todo:
                    current = todo.pop()
                    if current in seen:
                        continue
                    seen.add(current)
                    entry = self.entries[current]
                    todo += [*entry.components, *entry.upstream, *evaluated_by.get(current, [])]
                for member in seen:
                    members.setdefault(member, set()).add(workload.name)
            self._membership.update({k: frozenset(v) for k, v in members.items()})
            self._membership.setdefault("", frozenset())
        return self._membership.get(name, frozenset())

    def roles(self, actor: str, name: str, *, groups: Sequence[str] = ()) -> frozenset[Role]:
        """``actor``'s roles for entry ``name``; a policy list grants a role to a person by
        name and to everyone in ``groups`` (the identity provider's) as ``group:NAME``."""
        policy = self.policy
        entry = self.entry(name)
        ids = identities(actor, groups)
        roles = set()
        if entry.owner in ids:
            roles.add(Role.OWNER)
        if ids & policy.admins:
            roles.add(Role.ADMIN)
        if ids & policy.registrars:
            roles.add(Role.REGISTRAR)
        scoped = bool(ids & policy.approvers) or any(
            ids & policy.approvers_by_workload.get(w, frozenset()) for w in self.workloads_of(name)
        )
        risk = self.risk_class(name)
        if scoped or (risk and ids & policy.approvers_by_risk_class.get(risk, frozenset())):
            roles.add(Role.APPROVER)
        return frozenset(roles)

    def permits(
        self, actor: str, operation: Operation, name: str, *, groups: Sequence[str] = ()
    ) -> bool:
        """True when one of ``actor``'s roles for ``name`` may perform ``operation``."""
        allowed = self.policy.permissions.get(operation, DEFAULT_PERMISSIONS[operation])
        return bool(self.roles(actor, name, groups=groups) & allowed)

    def may_change_catalog(self, actor: str, *, groups: Sequence[str] = ()) -> bool:
        """True when ``actor`` may load a new catalog over this one. A catalog whose policy
        names no admins can be replaced by anyone (a registry being set up)."""
        policy = self.policy
        allowed = policy.permissions.get(Operation.CATALOG, DEFAULT_PERMISSIONS[Operation.CATALOG])
        if not policy.admins and Role.ADMIN in allowed:
            return True
        ids = identities(actor, groups)
        held = {
            role
            for role, members in (
                (Role.ADMIN, policy.admins),
                (Role.REGISTRAR, policy.registrars),
                (Role.APPROVER, policy.approvers),
            )
            if ids & members
        }
        return bool(held & allowed)

    def may_approve(self, actor: str, name: str, *, groups: Sequence[str] = ()) -> bool:
        """True when ``actor`` may approve promotions of entry ``name``."""
        return self.permits(actor, Operation.APPROVE, name, groups=groups)

    def suites_covering(self, name: str) -> tuple[str, ...]:
        """Eval suites that evaluate entry ``name``: suites listing it under ``evaluates``,
        and for a stack, the suites among its components."""
        entry = self.entry(name)
        found = {s.name for s in self.entries.values() if name in s.evaluates}
        if entry.kind is EntryKind.STACK:
            found |= {c for c in entry.components if self.entries[c].kind is EntryKind.EVAL_SUITE}
        return tuple(sorted(found))
