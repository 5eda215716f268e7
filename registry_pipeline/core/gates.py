"""The promotion gates: one implementation for the CLI, the API, the sensors and the store.

:func:`evaluate_gates` is pure. The store calls it again inside the transaction that
applies a promotion, with facts read in that transaction, so nothing promotes around it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from registry_pipeline.core.ab_tests import ABResult
from registry_pipeline.core.cards import ModelCard
from registry_pipeline.core.catalog import Catalog, StageRule
from registry_pipeline.core.evals import EvalResult, Threshold, latest_per_suite
from registry_pipeline.core.promotion import (
    Approval,
    Decision,
    DutyConflict,
    PromotionRequest,
    RequestStatus,
    approval_problem,
)
from registry_pipeline.core.provider import ProviderPin, pin_problems
from registry_pipeline.core.review import approval_age, eval_expired, expired
from registry_pipeline.core.stages import Stage, transition_problem


class Gate:
    """Names of the gates, in the order they are reported."""

    REQUEST = "request_open"
    TRANSITION = "stage_transition"
    APPROVALS = "approvals"
    EVALS = "evals"
    CARD = "model_card"
    LICENSE = "license"
    PROVIDER = "provider_snapshot"
    AB_TEST = "ab_test"


#: A/B result winning for its treatment: shipped, interval clear of zero, significant.
AB_MAX_P_VALUE = 0.05


@dataclass(frozen=True, slots=True, kw_only=True)
class GateResult:
    """One gate's verdict and why."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GateFacts:
    """Everything the gates look at, read in one transaction.

    ``evals`` are every eval result recorded for the version; ``card`` is the latest card
    set for the version; ``component_licenses`` maps a stack's pinned components to their
    declared license; ``provider_pins`` maps each provider model concerned (the version
    itself, or a stack's pinned provider models) as ``ENTRY@VERSION`` to what its spec pins,
    ``None`` when the version recorded no spec; ``ab_results`` are the A/B results the
    version took part in.
    """

    request: PromotionRequest
    current_stage: Stage
    version_digest: str
    approvals: Sequence[Approval]
    evals: Sequence[EvalResult]
    card: ModelCard | None
    component_licenses: Mapping[str, str | None]
    now: datetime
    ab_results: Sequence[ABResult] = ()
    registrant: str = ""
    provider_pins: Mapping[str, ProviderPin | None] = field(default_factory=dict)


def evaluate_gates(catalog: Catalog, facts: GateFacts) -> list[GateResult]:
    """Evaluate every gate for ``facts.request`` under ``catalog.policy``.

    Returns:
        One :class:`GateResult` per gate, in a fixed order. The promotion may be applied
        only when every result passed. The ``provider_snapshot`` gate is reported only
        when provider models are concerned (``facts.provider_pins`` is not empty).
    """
    request = facts.request
    entry = catalog.entry(request.entry)
    rule = catalog.policy.rule_for(request.target, catalog.risk_class(entry.name))
    provider = [_provider_gate(facts)] if facts.provider_pins else []
    return [
        _request_gate(facts),
        _transition_gate(facts),
        _approvals_gate(catalog, rule, facts),
        _evals_gate(catalog, rule, facts),
        _card_gate(catalog, rule, facts),
        _license_gate(catalog, rule, facts),
        *provider,
        _ab_gate(rule, facts),
    ]


def blocking(results: Sequence[GateResult]) -> list[GateResult]:
    """The results that failed."""
    return [r for r in results if not r.passed]


def _request_gate(facts: GateFacts) -> GateResult:
    request = facts.request
    if request.status is not RequestStatus.PENDING:
        return GateResult(
            name=Gate.REQUEST, passed=False, detail=f"request {request.id} is {request.status}"
        )
    if facts.version_digest != request.digest:
        return GateResult(
            name=Gate.REQUEST,
            passed=False,
            detail="the version's digest differs from the one requested",
        )
    return GateResult(name=Gate.REQUEST, passed=True, detail=f"request {request.id} is pending")


def _transition_gate(facts: GateFacts) -> GateResult:
    problem = transition_problem(facts.current_stage, facts.request.target)
    if problem:
        return GateResult(name=Gate.TRANSITION, passed=False, detail=problem)
    return GateResult(
        name=Gate.TRANSITION,
        passed=True,
        detail=f"{facts.current_stage} -> {facts.request.target} is allowed",
    )


def _approvals_gate(catalog: Catalog, rule: StageRule, facts: GateFacts) -> GateResult:
    policy = catalog.policy
    request = facts.request
    rejections = [a for a in facts.approvals if a.decision is Decision.REJECT]
    if rejections:
        who = ", ".join(sorted({a.approver for a in rejections}))
        return GateResult(name=Gate.APPROVALS, passed=False, detail=f"rejected by {who}")
    counted: set[str] = set()
    notes: list[str] = []
    for approval in facts.approvals:
        age = approval_age(approval.created_at, facts.now)
        conflict = approval_problem(
            approver=approval.approver,
            request=request,
            registrant=facts.registrant,
            policy=policy,
        )
        if conflict is DutyConflict.REQUESTER:
            notes.append(f"{approval.approver} {conflict} and cannot approve it")
        elif not catalog.may_approve(approval.approver, request.entry, groups=approval.groups):
            notes.append(f"{approval.approver} is not an approver of {request.entry}")
        elif conflict is not None:
            notes.append(f"{approval.approver} {conflict} and cannot approve it")
        elif expired(rule, age):
            notes.append(
                f"{approval.approver}'s approval is {age.days} days old "
                f"(valid {rule.review_every_days:g}); approve again"
            )
        elif approval.digest != facts.version_digest:
            notes.append(f"{approval.approver} approved other content (digest changed)")
        elif rule.signed_approvals and approval.signature_valid is not True:
            state = "unsigned" if approval.signature is None else "wrongly signed"
            notes.append(f"{approval.approver}'s approval is {state}")
        else:
            counted.add(approval.approver)
    kind = "signed approval" if rule.signed_approvals else "approval"
    detail = f"{len(counted)} of {rule.approvals} {kind}{'s' if rule.approvals != 1 else ''}"
    if counted:
        detail += f" ({', '.join(sorted(counted))})"
    if notes:
        detail += "; not counted: " + "; ".join(notes)
    return GateResult(name=Gate.APPROVALS, passed=len(counted) >= rule.approvals, detail=detail)


def _evals_gate(catalog: Catalog, rule: StageRule, facts: GateFacts) -> GateResult:
    request = facts.request
    entry = catalog.entry(request.entry)
    if not rule.evals or not entry.kind.is_evaluated:
        return GateResult(
            name=Gate.EVALS, passed=True, detail=f"no evals required for {request.target}"
        )
    required = required_evals(catalog, rule, entry.name)
    if not required:
        suites = ", ".join(sorted(rule.evals))
        return GateResult(
            name=Gate.EVALS,
            passed=False,
            detail=(
                f"{request.target} requires evals from {suites}, but none of them evaluates "
                f"{entry.name}; list it under a suite's `evaluates` in the catalog"
            ),
        )
    problems: list[str] = []
    passes: list[str] = []
    judged = latest_per_suite(facts.evals)
    for suite, thresholds in sorted(required.items()):
        latest = judged.get(suite)
        if latest is None:
            problems.append(f"no {suite} results for v{request.version}")
            continue
        where = f"{suite}@{latest.suite_version}"
        age = facts.now - latest.produced_at
        if eval_expired(rule, age):
            problems.append(
                f"{where} results are {age.days} days old "
                f"(max {rule.max_eval_age_days:g}); run the suite again"
            )
            continue
        for threshold in thresholds:
            observed = latest.metrics.get(threshold.metric)
            if observed is None:
                problems.append(f"{where} has no metric {threshold.metric!r}")
            elif not threshold.check(observed):
                problems.append(f"{where} {threshold.metric} = {observed:g}, needs {threshold}")
            else:
                passes.append(f"{where} {threshold.metric} = {observed:g} ({threshold})")
    if problems:
        return GateResult(name=Gate.EVALS, passed=False, detail="; ".join(problems))
    return GateResult(name=Gate.EVALS, passed=True, detail="; ".join(passes))


def required_evals(
    catalog: Catalog, rule: StageRule, entry: str
) -> Mapping[str, tuple[Threshold, ...]]:
    """The eval suites, with their thresholds, that ``rule`` needs of ``entry``: the rule's
    suites that evaluate it (none for a kind that is not evaluated)."""
    if not rule.evals or not catalog.entry(entry).kind.is_evaluated:
        return {}
    covering = set(catalog.suites_covering(entry))
    return {s: t for s, t in rule.evals.items() if s in covering}


def _card_gate(catalog: Catalog, rule: StageRule, facts: GateFacts) -> GateResult:
    if not rule.card_fields:
        return GateResult(
            name=Gate.CARD,
            passed=True,
            detail=f"no card fields required for {facts.request.target}",
        )
    card = facts.card
    if card is None or card.version != facts.request.version:
        return GateResult(
            name=Gate.CARD,
            passed=False,
            detail=f"no model card set for v{facts.request.version}; "
            f"set one with {', '.join(rule.card_fields)}",
        )
    missing = [f for f in rule.card_fields if not card.has(f)]
    if missing:
        return GateResult(
            name=Gate.CARD, passed=False, detail=f"card is missing {', '.join(missing)}"
        )
    return GateResult(
        name=Gate.CARD,
        passed=True,
        detail=f"card set by {card.set_by} has {', '.join(rule.card_fields)}",
    )


def _license_gate(catalog: Catalog, rule: StageRule, facts: GateFacts) -> GateResult:
    if rule.licenses is None:
        return GateResult(name=Gate.LICENSE, passed=True, detail="any license allowed")
    entry = catalog.entry(facts.request.entry)
    checked: dict[str, str | None] = {}
    if entry.license is not None or entry.kind.is_model:
        checked[entry.name] = entry.license
    for name, license_ in facts.component_licenses.items():
        if license_ is not None or catalog.entry(name).kind.is_model:
            checked[name] = license_
    bad = [
        f"{name} has {'no license' if lic is None else f'license {lic!r}'}"
        for name, lic in sorted(checked.items())
        if lic is None or lic not in rule.licenses
    ]
    if bad:
        return GateResult(
            name=Gate.LICENSE,
            passed=False,
            detail="; ".join(bad) + f" (allowed: {', '.join(rule.licenses)})",
        )
    if not checked:
        return GateResult(name=Gate.LICENSE, passed=True, detail="nothing here needs a license")
    shown = ", ".join(f"{n}: {lic}" for n, lic in sorted(checked.items()))
    return GateResult(name=Gate.LICENSE, passed=True, detail=shown)


def _provider_gate(facts: GateFacts) -> GateResult:
    """Production runs a pinned snapshot that the provider is not about to retire."""
    today = facts.now.date()
    pinned: list[str] = []
    problems: list[str] = []
    for ref, pin in sorted(facts.provider_pins.items()):
        if pin is None:
            problems.append(f"{ref} records no provider spec, so it pins no snapshot")
            continue
        found = pin_problems(pin, today)
        problems += [f"{ref}: {p}" for p in found]
        if not found:
            pinned.append(f"{ref} pins {pin}")
    if facts.request.target is not Stage.PRODUCTION:
        detail = "; ".join(pinned) or "no provider snapshot checked"
        if problems:
            detail += "; production would refuse: " + "; ".join(problems)
        return GateResult(name=Gate.PROVIDER, passed=True, detail=detail)
    if problems:
        return GateResult(name=Gate.PROVIDER, passed=False, detail="; ".join(problems))
    return GateResult(name=Gate.PROVIDER, passed=True, detail="; ".join(pinned))


def _ab_gate(rule: StageRule, facts: GateFacts) -> GateResult:
    if not rule.require_ab_win:
        return GateResult(name=Gate.AB_TEST, passed=True, detail="no A/B win required")
    version = facts.request.version
    mine = [r for r in facts.ab_results if r.treatment_version == version]
    if not mine:
        return GateResult(
            name=Gate.AB_TEST,
            passed=False,
            detail=f"no A/B result with v{version} as treatment; run an experiment first",
        )
    for result in mine:
        if result.is_win(AB_MAX_P_VALUE):
            interval = result.confidence_interval
            return GateResult(
                name=Gate.AB_TEST,
                passed=True,
                detail=f"{result.experiment}: {result.metric} lift {result.lift:g} "
                f"[{interval.low:g}, {interval.high:g}], p={result.p_value:g}, ship",
            )
    latest = mine[-1]
    return GateResult(
        name=Gate.AB_TEST,
        passed=False,
        detail=f"{latest.experiment}: decision {latest.decision}, p={latest.p_value:g}; "
        f"a win needs decision ship, an interval clear of zero and p <= {AB_MAX_P_VALUE:g}",
    )
