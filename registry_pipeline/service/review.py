"""What the web UI shows people who decide and audit: the read models of its pages.

Every verdict here (may this principal decide, may they roll back, what a gate says) is
asked of the same rules the write paths enforce, so a page never decides a rule itself; the
writes it offers go through the same service calls as the CLI.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field

from registry_pipeline.core.catalog import Operation
from registry_pipeline.core.errors import NotFound, RegistryError
from registry_pipeline.core.evals import latest_per_suite
from registry_pipeline.core.gates import required_evals
from registry_pipeline.core.promotion import (
    Approval,
    Decision,
    PromotionRequest,
    RequestStatus,
    approval_problem,
)
from registry_pipeline.core.stages import Stage
from registry_pipeline.core.versions import Version
from registry_pipeline.service import approvals as approval_cases
from registry_pipeline.service import promotion, queries
from registry_pipeline.service.context import Context
from registry_pipeline.service.results import (
    CardView,
    GateReport,
    HistoryItem,
    LineageView,
    Resolution,
)
from registry_pipeline.store import evidence, promotions, stages, versions

INBOX_PAGE = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class InboxItem:
    """A request as the inbox lists it."""

    request: PromotionRequest
    passed: bool | None = None
    """Whether every gate passes now (only for requests the principal may decide)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Inbox:
    """Requests the principal may decide now, and the requests they opened."""

    to_decide: Sequence[InboxItem]
    opened: Sequence[InboxItem]
    more: int = 0
    """Further pending requests the principal may decide, beyond those listed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EvalRow:
    """One required metric: its threshold, this version's value, the replaced version's."""

    suite: str
    metric: str
    threshold: str
    value: float | None
    passed: bool
    production: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestReview:
    """Everything an approver weighs for one request."""

    request: PromotionRequest
    report: GateReport
    registrant: str
    replaces: int | None
    """The version holding the target stage now (what this one would replace)."""
    evals: Sequence[EvalRow]
    card: CardView
    replaced_card: CardView | None
    card_diff: Sequence[str]
    lineage: LineageView
    ab_tests: Sequence[dict[str, object]]
    approvals: Sequence[Approval]
    approvals_needed: int
    signed_approvals: bool
    deciders: Sequence[str]
    """Who else may still decide (policy approvers other than the requester)."""
    may_decide: str | None
    """``None`` when the principal may reject; otherwise why not."""
    may_approve: str | None
    """``None`` when the principal may approve; otherwise why not."""
    may_apply: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkloadView:
    """A workload's production timeline and what ran at an instant."""

    workload: str
    stack: str
    timeline: Sequence[HistoryItem]
    at: str | None
    running: Resolution | None
    missing: str | None = None
    """Why nothing ran at the instant asked (or runs now)."""
    may_roll_back: bool = False
    targets: Sequence[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryView:
    """An entry and its newest versions."""

    entry: str
    kind: str
    owner: str
    description: str
    versions: Sequence[Version]
    stages: dict[int, str]
    requests: Sequence[PromotionRequest]


class Review:
    """The web UI's questions (``registry.review``)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def _why_not(self, req: PromotionRequest, decision: Decision) -> str | None:
        ctx = self._ctx
        try:
            with ctx.store.read() as conn:
                approval_cases.decidable(ctx, conn, req.id, decision)
        except RegistryError as e:
            return str(e)
        return None

    def inbox(self) -> Inbox:
        """The pending requests the principal may decide (oldest first, the first
        :data:`INBOX_PAGE` with their gate verdict) and the requests they opened (newest
        first)."""
        ctx = self._ctx
        with ctx.store.read() as conn:
            catalog = ctx.catalog(conn)
            pending = promotions.pending(conn)
            opened = promotions.opened_by(conn, ctx.actor)
        groups = ctx.principal.groups
        mine = [
            r
            for r in pending
            if catalog.permits(ctx.actor, Operation.APPROVE, r.entry, groups=groups)
        ]
        shown = mine[:INBOX_PAGE]
        passed = promotion.verdicts(ctx, [r.id for r in shown])
        to_decide = [InboxItem(request=r, passed=passed[r.id]) for r in shown]
        return Inbox(
            to_decide=to_decide,
            more=len(mine) - len(to_decide),
            opened=[InboxItem(request=r) for r in opened],
        )

    def request(self, request_id: int) -> RequestReview:
        """The evidence of request ``request_id`` beside what it would replace."""
        ctx = self._ctx
        report = promotion.gates(ctx, request_id)
        with ctx.store.read() as conn:
            catalog = ctx.catalog(conn)
            req = promotions.request(conn, request_id)
            version = versions.version(conn, req.entry, req.version)
            holder = stages.holder(conn, req.entry, req.target)
            replaces = holder.number if holder and holder.number != req.version else None
            rule = catalog.policy.rule_for(req.target, catalog.risk_class(req.entry))
            mine = latest_per_suite(evidence.eval_results(conn, req.entry, req.version))
            theirs = (
                latest_per_suite(evidence.eval_results(conn, req.entry, replaces))
                if replaces is not None
                else {}
            )
            rows = []
            for suite, thresholds in sorted(required_evals(catalog, rule, req.entry).items()):
                for threshold in thresholds:
                    value = mine[suite].metrics.get(threshold.metric) if suite in mine else None
                    old = theirs[suite].metrics.get(threshold.metric) if suite in theirs else None
                    rows.append(
                        EvalRow(
                            suite=suite,
                            metric=threshold.metric,
                            threshold=str(threshold),
                            value=value,
                            passed=value is not None and threshold.check(value),
                            production=old,
                        )
                    )
            decisions = promotions.approvals(conn, request_id)
            policy = catalog.policy
            named = policy.approvers | policy.admins | policy.registrars
            for people in (
                *policy.approvers_by_workload.values(),
                *policy.approvers_by_risk_class.values(),
            ):
                named |= people
            decided = {a.approver for a in decisions}
            approvers = sorted(
                p
                for p in named | {catalog.entry(req.entry).owner}
                if p not in decided
                and catalog.permits(p, Operation.APPROVE, req.entry)
                and approval_problem(
                    approver=p, request=req, registrant=version.created_by, policy=policy
                )
                is None
            )
            may_apply = catalog.permits(
                ctx.actor, Operation.APPLY, req.entry, groups=ctx.principal.groups
            )
            ab = evidence.ab_results(conn, req.entry, req.version)
        card = queries.card(ctx, f"{req.entry}@{req.version}")
        replaced_card = queries.card(ctx, f"{req.entry}@{replaces}") if replaces else None
        diff = (
            list(
                difflib.unified_diff(
                    replaced_card.markdown.splitlines(),
                    card.markdown.splitlines(),
                    fromfile=f"{req.entry}@{replaces}",
                    tofile=f"{req.entry}@{req.version}",
                    lineterm="",
                )
            )
            if replaced_card is not None
            else []
        )
        pending = req.status is RequestStatus.PENDING
        return RequestReview(
            request=req,
            report=report,
            registrant=version.created_by,
            replaces=replaces,
            evals=rows,
            card=card,
            replaced_card=replaced_card,
            card_diff=diff,
            lineage=queries.lineage(ctx, f"{req.entry}@{req.version}"),
            ab_tests=[queries.ab_dict(r) for r in ab],
            approvals=decisions,
            approvals_needed=rule.approvals,
            signed_approvals=rule.signed_approvals,
            deciders=approvers,
            may_decide=self._why_not(req, Decision.REJECT) if pending else f"it is {req.status}",
            may_approve=self._why_not(req, Decision.APPROVE) if pending else f"it is {req.status}",
            may_apply=pending and may_apply,
        )

    def workload(self, name: str, *, at: str | None = None) -> WorkloadView:
        """Who moved ``name``'s production stack when, approved by whom, and (at instant
        ``at``, else now) what ran."""
        ctx = self._ctx
        with ctx.store.read() as conn:
            catalog = ctx.catalog(conn)
            spec = catalog.workload(name)
            may_roll_back = catalog.permits(
                ctx.actor, Operation.ROLLBACK, spec.stack, groups=ctx.principal.groups
            )
        timeline = queries.history(ctx, spec.stack, stage=Stage.PRODUCTION.value)
        running: Resolution | None = None
        missing: str | None = None
        try:
            running = queries.resolve(ctx, name, at=at)
        except NotFound as e:
            missing = str(e)
        return WorkloadView(
            workload=name,
            stack=spec.stack,
            timeline=list(reversed(timeline)),
            at=at,
            running=running,
            missing=missing,
            may_roll_back=may_roll_back,
            targets=[t.name for t in spec.targets],
        )

    def entry(self, name: str) -> EntryView:
        """An entry's newest versions with their stages and requests."""
        ctx = self._ctx
        with ctx.store.read() as conn:
            spec = ctx.catalog(conn).entry(name)
            newest = versions.newest(conn, name)
            held = {
                a.number: a.stage.value
                for a in stages.in_stage(conn, Stage.PRODUCTION, entry=name)
                + stages.in_stage(conn, Stage.STAGING, entry=name)
            }
            asked = [r for v in newest[:20] for r in promotions.of_version(conn, name, v.number)]
        return EntryView(
            entry=name,
            kind=spec.kind.value,
            owner=spec.owner,
            description=spec.description,
            versions=newest,
            stages=held,
            requests=asked,
        )

    def notice(self, workload: str) -> tuple[Resolution, CardView] | None:
        """The approved production stack of a workload the policy lists under ``public:``,
        with its card; ``None`` for any other workload (unknown, not public, or with no
        approved stack in production), so that nothing else is ever shown in public."""
        ctx = self._ctx
        with ctx.store.read() as conn:
            if workload not in ctx.catalog(conn).policy.public:
                return None
        try:
            found = queries.resolve(ctx, workload)
        except NotFound:
            return None
        if not found.approved_by or found.request is None:
            return None
        return found, queries.card(ctx, f"{found.stack.entry}@{found.stack.version}")

    def version_requests(self, entry: str, number: int) -> list[PromotionRequest]:
        """Every request for ``entry@number``, newest first."""
        with self._ctx.store.read() as conn:
            return promotions.of_version(conn, entry, number)


__all__ = [
    "EntryView",
    "EvalRow",
    "Inbox",
    "InboxItem",
    "RequestReview",
    "Review",
    "WorkloadView",
]
