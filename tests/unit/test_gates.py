"""The promotion gates (core/gates.py): one pass and one fail case for every gate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from registry_pipeline.catalog import load_catalog
from registry_pipeline.core.ab_tests import ABDecision, ABResult, ConfidenceInterval, LiftKind
from registry_pipeline.core.cards import ModelCard
from registry_pipeline.core.catalog import Catalog, CatalogEntry, Policy, StageRule
from registry_pipeline.core.evals import EvalResult, parse_threshold
from registry_pipeline.core.gates import (
    AB_MAX_P_VALUE,
    Gate,
    GateFacts,
    GateResult,
    blocking,
    evaluate_gates,
)
from registry_pipeline.core.kinds import EntryKind
from registry_pipeline.core.promotion import (
    Approval,
    Decision,
    DutyConflict,
    PromotionRequest,
    RequestStatus,
    approval_problem,
)
from registry_pipeline.core.stages import Stage

pytestmark = pytest.mark.unit

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "catalog.yaml"
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
DIGEST = "a" * 64
OTHER_DIGEST = "b" * 64
REQUESTER = "dave@example.com"
FULL_CARD = {
    "intended_use": "Drafting replies to customer tickets",
    "limitations": "English only",
    "training_data": "support-tickets-2026q3",
}
GATE_ORDER = [
    Gate.REQUEST,
    Gate.TRANSITION,
    Gate.APPROVALS,
    Gate.EVALS,
    Gate.CARD,
    Gate.LICENSE,
    Gate.AB_TEST,
]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(FIXTURE)[0]


def with_entry(catalog: Catalog, entry: CatalogEntry) -> Catalog:
    """The catalog with ``entry`` added (or replaced)."""
    return replace(catalog, entries={**catalog.entries, entry.name: entry})


def make_request(
    *,
    entry: str = "support-lora",
    version: int = 3,
    target: Stage = Stage.PRODUCTION,
    status: RequestStatus = RequestStatus.PENDING,
    digest: str = DIGEST,
    requester: str = REQUESTER,
) -> PromotionRequest:
    return PromotionRequest(
        id=7,
        entry=entry,
        version=version,
        digest=digest,
        target=target,
        requester=requester,
        reason="ready",
        status=status,
        created_at=NOW - timedelta(hours=1),
    )


def approve(
    approver: str,
    *,
    decision: Decision = Decision.APPROVE,
    digest: str = DIGEST,
    signature: str | None = None,
    signature_valid: bool | None = None,
) -> Approval:
    return Approval(
        request_id=7,
        approver=approver,
        decision=decision,
        reason="looks fine",
        created_at=NOW - timedelta(minutes=30),
        digest=digest,
        signature=signature,
        signature_valid=signature_valid,
    )


def signed(approver: str) -> Approval:
    return approve(approver, signature="c2lnbmF0dXJl", signature_valid=True)


def eval_result(
    metrics: Mapping[str, float],
    *,
    suite: str = "support-evals",
    suite_version: int = 1,
    age: timedelta = timedelta(days=1),
    recorded_after: timedelta = timedelta(minutes=5),
    entry: str = "support-lora",
    version: int = 3,
) -> EvalResult:
    produced = NOW - age
    return EvalResult(
        entry=entry,
        version=version,
        suite=suite,
        suite_version=suite_version,
        metrics=dict(metrics),
        produced_at=produced,
        recorded_at=produced + recorded_after,
        recorded_by="ci@example.com",
    )


def make_card(
    fields: Mapping[str, str | tuple[str, ...]] = FULL_CARD,
    *,
    entry: str = "support-lora",
    version: int = 3,
) -> ModelCard:
    return ModelCard(
        entry=entry,
        version=version,
        fields=dict(fields),
        set_at=NOW - timedelta(days=2),
        set_by="erin@example.com",
    )


def make_facts(
    *,
    request: PromotionRequest | None = None,
    current_stage: Stage = Stage.STAGING,
    version_digest: str = DIGEST,
    approvals: Sequence[Approval] = (),
    evals: Sequence[EvalResult] = (),
    card: ModelCard | None = None,
    component_licenses: Mapping[str, str | None] | None = None,
    now: datetime = NOW,
    ab_results: Sequence[ABResult] = (),
) -> GateFacts:
    return GateFacts(
        request=request or make_request(),
        current_stage=current_stage,
        version_digest=version_digest,
        approvals=list(approvals),
        evals=list(evals),
        card=card,
        component_licenses=dict(component_licenses or {}),
        now=now,
        ab_results=list(ab_results),
    )


def gate(catalog: Catalog, facts: GateFacts, name: str) -> GateResult:
    results = evaluate_gates(catalog, facts)
    (found,) = [r for r in results if r.name == name]
    return found


# --- all gates together -------------------------------------------------------------------


def test_every_gate_is_reported_once_in_fixed_order(catalog: Catalog) -> None:
    results = evaluate_gates(catalog, make_facts())
    assert [r.name for r in results] == GATE_ORDER


def test_fully_evidenced_high_risk_promotion_passes_every_gate(catalog: Catalog) -> None:
    facts = make_facts(
        approvals=[signed("alice@example.com"), signed("bob@example.com")],
        evals=[eval_result({"accuracy": 0.91})],
        card=make_card(),
    )
    results = evaluate_gates(catalog, facts)
    assert blocking(results) == []
    assert all(r.passed for r in results)


def test_blocking_lists_only_failed_gates(catalog: Catalog) -> None:
    results = evaluate_gates(catalog, make_facts(current_stage=Stage.CANDIDATE))
    failed = {r.name for r in blocking(results)}
    assert failed == {Gate.TRANSITION, Gate.APPROVALS, Gate.EVALS, Gate.CARD}


# --- request_open -------------------------------------------------------------------------


def test_pending_request_with_matching_digest_is_open(catalog: Catalog) -> None:
    result = gate(catalog, make_facts(), Gate.REQUEST)
    assert result.passed
    assert result.detail == "request 7 is pending"


@pytest.mark.parametrize("status", [RequestStatus.APPLIED, RequestStatus.REJECTED])
def test_decided_request_is_not_open(catalog: Catalog, status: RequestStatus) -> None:
    facts = make_facts(request=make_request(status=status))
    result = gate(catalog, facts, Gate.REQUEST)
    assert not result.passed
    assert result.detail == f"request 7 is {status.value}"


def test_request_fails_when_version_digest_differs_from_requested(catalog: Catalog) -> None:
    facts = make_facts(version_digest=OTHER_DIGEST)
    result = gate(catalog, facts, Gate.REQUEST)
    assert not result.passed
    assert "digest differs" in result.detail


# --- stage_transition ---------------------------------------------------------------------


def test_allowed_transition_passes(catalog: Catalog) -> None:
    result = gate(catalog, make_facts(current_stage=Stage.STAGING), Gate.TRANSITION)
    assert result.passed
    assert result.detail == "staging -> production is allowed"


def test_disallowed_transition_fails_listing_allowed_targets(catalog: Catalog) -> None:
    result = gate(catalog, make_facts(current_stage=Stage.CANDIDATE), Gate.TRANSITION)
    assert not result.passed
    assert result.detail == (
        "candidate -> production is not allowed (from candidate: archived, staging)"
    )


def test_transition_to_current_stage_fails(catalog: Catalog) -> None:
    result = gate(catalog, make_facts(current_stage=Stage.PRODUCTION), Gate.TRANSITION)
    assert not result.passed
    assert result.detail == "the version is already in production"


# --- approvals ----------------------------------------------------------------------------


def staging_facts(approvals: Sequence[Approval]) -> GateFacts:
    """support-lora to staging: one unsigned approval is enough."""
    return make_facts(
        request=make_request(target=Stage.STAGING),
        current_stage=Stage.CANDIDATE,
        approvals=approvals,
    )


def test_one_approval_from_an_approver_is_enough_for_staging(catalog: Catalog) -> None:
    result = gate(catalog, staging_facts([approve("alice@example.com")]), Gate.APPROVALS)
    assert result.passed
    assert result.detail == "1 of 1 approval (alice@example.com)"


def test_no_approvals_fails(catalog: Catalog) -> None:
    result = gate(catalog, staging_facts([]), Gate.APPROVALS)
    assert not result.passed
    assert result.detail == "0 of 1 approval"


def test_admin_may_approve(catalog: Catalog) -> None:
    result = gate(catalog, staging_facts([approve("carol@example.com")]), Gate.APPROVALS)
    assert result.passed


def test_requester_cannot_approve_own_request(catalog: Catalog) -> None:
    facts = make_facts(
        request=make_request(target=Stage.STAGING, requester="alice@example.com"),
        current_stage=Stage.CANDIDATE,
        approvals=[approve("alice@example.com")],
    )
    result = gate(catalog, facts, Gate.APPROVALS)
    assert not result.passed
    assert "alice@example.com requested it and cannot approve it" in result.detail


@pytest.mark.parametrize(
    ("approver", "separate", "problem"),
    [
        (REQUESTER, False, DutyConflict.REQUESTER),
        (REQUESTER, True, DutyConflict.REQUESTER),
        ("erin@example.com", True, DutyConflict.REGISTRANT),
        ("erin@example.com", False, None),
        ("alice@example.com", True, None),
    ],
)
def test_separation_of_duties_is_one_predicate(
    approver: str, separate: bool, problem: DutyConflict | None
) -> None:
    policy = Policy(separate_registrant=separate)
    found = approval_problem(
        approver=approver, request=make_request(), registrant="erin@example.com", policy=policy
    )
    assert found is problem


def test_registrant_cannot_approve_under_separate_registrant(catalog: Catalog) -> None:
    policy = replace(catalog.policy, separate_registrant=True)
    facts = replace(staging_facts([approve("alice@example.com")]), registrant="alice@example.com")
    result = gate(replace(catalog, policy=policy), facts, Gate.APPROVALS)
    assert not result.passed
    assert "alice@example.com registered this version and cannot approve it" in result.detail


def test_approval_from_someone_outside_the_policy_is_not_counted(catalog: Catalog) -> None:
    result = gate(catalog, staging_facts([approve("mallory@example.com")]), Gate.APPROVALS)
    assert not result.passed
    assert "mallory@example.com is not an approver of support-lora" in result.detail


def test_rejection_blocks_even_with_enough_approvals(catalog: Catalog) -> None:
    approvals = [
        approve("alice@example.com"),
        approve("carol@example.com"),
        approve("bob@example.com", decision=Decision.REJECT),
    ]
    result = gate(catalog, staging_facts(approvals), Gate.APPROVALS)
    assert not result.passed
    assert result.detail == "rejected by bob@example.com"


def test_approval_of_another_digest_is_not_counted(catalog: Catalog) -> None:
    approvals = [approve("alice@example.com", digest=OTHER_DIGEST)]
    result = gate(catalog, staging_facts(approvals), Gate.APPROVALS)
    assert not result.passed
    assert "alice@example.com approved other content" in result.detail


def test_same_approver_twice_counts_once(catalog: Catalog) -> None:
    facts = make_facts(approvals=[signed("alice@example.com"), signed("alice@example.com")])
    result = gate(catalog, facts, Gate.APPROVALS)
    assert not result.passed
    assert result.detail.startswith("1 of 2 signed approvals")


def signed_catalog() -> Catalog:
    """One entry, one approver; production needs one signed approval."""
    entry = CatalogEntry(name="clf", kind=EntryKind.CLASSIFIER, owner="ml@example.com")
    policy = Policy(
        approvers=frozenset({"alice@example.com"}),
        stages={Stage.PRODUCTION: StageRule(approvals=1, signed_approvals=True)},
    )
    return Catalog(entries={"clf": entry}, policy=policy)


def signed_facts(approval: Approval) -> GateFacts:
    return make_facts(request=make_request(entry="clf"), approvals=[approval])


def test_unsigned_approval_is_not_counted_when_signatures_are_required() -> None:
    result = gate(signed_catalog(), signed_facts(approve("alice@example.com")), Gate.APPROVALS)
    assert not result.passed
    assert "alice@example.com's approval is unsigned" in result.detail
    assert result.detail.startswith("0 of 1 signed approval")


def test_approval_with_invalid_signature_is_not_counted() -> None:
    approval = approve("alice@example.com", signature="Zm9yZ2Vk", signature_valid=False)
    result = gate(signed_catalog(), signed_facts(approval), Gate.APPROVALS)
    assert not result.passed
    assert "alice@example.com's approval is wrongly signed" in result.detail


def test_signed_approval_not_yet_verified_is_not_counted() -> None:
    approval = approve("alice@example.com", signature="c2lnbmF0dXJl", signature_valid=None)
    result = gate(signed_catalog(), signed_facts(approval), Gate.APPROVALS)
    assert not result.passed


def test_approval_with_valid_signature_is_counted() -> None:
    result = gate(signed_catalog(), signed_facts(signed("alice@example.com")), Gate.APPROVALS)
    assert result.passed
    assert result.detail == "1 of 1 signed approval (alice@example.com)"


def test_high_risk_entry_needs_two_signed_approvals_for_production(catalog: Catalog) -> None:
    one = gate(catalog, make_facts(approvals=[signed("alice@example.com")]), Gate.APPROVALS)
    assert not one.passed
    assert one.detail == "1 of 2 signed approvals (alice@example.com)"
    two = make_facts(approvals=[signed("alice@example.com"), signed("bob@example.com")])
    assert gate(catalog, two, Gate.APPROVALS).passed


def test_entry_without_risk_class_needs_one_unsigned_approval_for_production(
    catalog: Catalog,
) -> None:
    facts = make_facts(
        request=make_request(entry="bge-small"), approvals=[approve("bob@example.com")]
    )
    result = gate(catalog, facts, Gate.APPROVALS)
    assert result.passed
    assert result.detail == "1 of 1 approval (bob@example.com)"


def test_stack_risk_class_is_the_highest_of_its_components(catalog: Catalog) -> None:
    assert catalog.entry("support-bot").risk_class == "limited"
    assert catalog.risk_class("support-bot") == "high"
    assert catalog.risk_class("support-lora") == "high"
    assert catalog.risk_class("bge-small") is None


def test_stack_risk_class_ranks_limited_above_minimal() -> None:
    entries = {
        "m": CatalogEntry(name="m", kind=EntryKind.CLASSIFIER, owner="o", risk_class="limited"),
        "p": CatalogEntry(name="p", kind=EntryKind.PROMPT_TEMPLATE, owner="o"),
        "s": CatalogEntry(
            name="s", kind=EntryKind.STACK, owner="o", risk_class="minimal", components=("m", "p")
        ),
    }
    catalog = Catalog(entries=entries)
    assert catalog.risk_class("s") == "limited"
    assert catalog.risk_class("p") is None


def test_stack_with_high_risk_component_needs_two_signed_approvals(catalog: Catalog) -> None:
    facts = make_facts(
        request=make_request(entry="support-bot"), approvals=[signed("alice@example.com")]
    )
    result = gate(catalog, facts, Gate.APPROVALS)
    assert not result.passed
    assert result.detail.startswith("1 of 2 signed approvals")


# --- evals --------------------------------------------------------------------------------


def test_evals_meeting_the_threshold_pass(catalog: Catalog) -> None:
    result = gate(catalog, make_facts(evals=[eval_result({"accuracy": 0.85})]), Gate.EVALS)
    assert result.passed
    assert result.detail == "support-evals@1 accuracy = 0.85 (accuracy >= 0.8)"


def test_evals_exactly_at_the_threshold_pass(catalog: Catalog) -> None:
    result = gate(catalog, make_facts(evals=[eval_result({"accuracy": 0.80})]), Gate.EVALS)
    assert result.passed


def test_evals_below_the_threshold_fail(catalog: Catalog) -> None:
    result = gate(catalog, make_facts(evals=[eval_result({"accuracy": 0.79})]), Gate.EVALS)
    assert not result.passed
    assert result.detail == "support-evals@1 accuracy = 0.79, needs accuracy >= 0.8"


def test_evals_missing_the_required_metric_fail(catalog: Catalog) -> None:
    result = gate(catalog, make_facts(evals=[eval_result({"f1": 0.99})]), Gate.EVALS)
    assert not result.passed
    assert result.detail == "support-evals@1 has no metric 'accuracy'"


def test_evals_without_results_of_the_required_suite_fail(catalog: Catalog) -> None:
    other = eval_result({"accuracy": 0.99}, suite="other-suite")
    result = gate(catalog, make_facts(evals=[other]), Gate.EVALS)
    assert not result.passed
    assert result.detail == "no support-evals results for v3"


def test_evals_older_than_max_age_fail(catalog: Catalog) -> None:
    stale = eval_result({"accuracy": 0.95}, age=timedelta(days=31))
    result = gate(catalog, make_facts(evals=[stale]), Gate.EVALS)
    assert not result.passed
    assert "31 days old (max 30)" in result.detail
    assert "run the suite again" in result.detail


def test_evals_exactly_max_age_old_pass(catalog: Catalog) -> None:
    edge = eval_result({"accuracy": 0.95}, age=timedelta(days=30))
    assert gate(catalog, make_facts(evals=[edge]), Gate.EVALS).passed


def test_latest_eval_result_wins_over_older_passing_one(catalog: Catalog) -> None:
    older = eval_result({"accuracy": 0.95}, age=timedelta(days=10))
    newer = eval_result({"accuracy": 0.70}, age=timedelta(days=1), suite_version=2)
    result = gate(catalog, make_facts(evals=[newer, older]), Gate.EVALS)
    assert not result.passed
    assert result.detail == "support-evals@2 accuracy = 0.7, needs accuracy >= 0.8"


def test_latest_eval_result_wins_over_older_failing_one(catalog: Catalog) -> None:
    older = eval_result({"accuracy": 0.50}, age=timedelta(days=10))
    newer = eval_result({"accuracy": 0.90}, age=timedelta(days=1), suite_version=2)
    assert gate(catalog, make_facts(evals=[older, newer]), Gate.EVALS).passed


def test_later_recording_breaks_a_tie_on_production_time(catalog: Catalog) -> None:
    first = eval_result({"accuracy": 0.95}, recorded_after=timedelta(minutes=1))
    second = eval_result({"accuracy": 0.60}, recorded_after=timedelta(minutes=9))
    result = gate(catalog, make_facts(evals=[second, first]), Gate.EVALS)
    assert not result.passed
    assert "accuracy = 0.6" in result.detail


def test_stale_latest_result_fails_even_if_it_passes_thresholds(catalog: Catalog) -> None:
    result = gate(
        catalog,
        make_facts(evals=[eval_result({"accuracy": 0.99}, age=timedelta(days=45))]),
        Gate.EVALS,
    )
    assert not result.passed


def test_entry_not_covered_by_any_required_suite_fails_with_a_hint(catalog: Catalog) -> None:
    facts = make_facts(request=make_request(entry="bge-small"))
    result = gate(catalog, facts, Gate.EVALS)
    assert not result.passed
    assert "production requires evals from support-evals" in result.detail
    assert "none of them evaluates bge-small" in result.detail
    assert "`evaluates`" in result.detail


def test_stage_without_required_evals_passes(catalog: Catalog) -> None:
    facts = make_facts(request=make_request(target=Stage.STAGING), current_stage=Stage.CANDIDATE)
    result = gate(catalog, facts, Gate.EVALS)
    assert result.passed
    assert result.detail == "no evals required for staging"


@pytest.mark.parametrize("entry", ["support-prompt", "kb-index", "support-tickets-2026q3"])
def test_kinds_that_are_not_evaluated_pass_evals(catalog: Catalog, entry: str) -> None:
    result = gate(catalog, make_facts(request=make_request(entry=entry)), Gate.EVALS)
    assert result.passed
    assert result.detail == "no evals required for production"


def test_stack_is_evaluated_by_suites_among_its_components(catalog: Catalog) -> None:
    request = make_request(entry="support-bot")
    missing = gate(catalog, make_facts(request=request), Gate.EVALS)
    assert not missing.passed
    assert missing.detail == "no support-evals results for v3"
    evals = [eval_result({"accuracy": 0.9}, entry="support-bot")]
    assert gate(catalog, make_facts(request=request, evals=evals), Gate.EVALS).passed


def test_every_threshold_of_a_suite_must_hold(catalog: Catalog) -> None:
    production = catalog.policy.stages[Stage.PRODUCTION]
    thresholds = (parse_threshold("accuracy", ">= 0.8"), parse_threshold("latency_ms", "< 200"))
    rule = replace(production, evals={"support-evals": thresholds})
    policy = replace(
        catalog.policy,
        stages={**catalog.policy.stages, Stage.PRODUCTION: rule},
        by_risk_class={},
    )
    strict = replace(catalog, policy=policy)
    slow = eval_result({"accuracy": 0.9, "latency_ms": 250.0})
    result = gate(strict, make_facts(evals=[slow]), Gate.EVALS)
    assert not result.passed
    assert result.detail == "support-evals@1 latency_ms = 250, needs latency_ms < 200"
    fast = eval_result({"accuracy": 0.9, "latency_ms": 120.0})
    assert gate(strict, make_facts(evals=[fast]), Gate.EVALS).passed


# --- model_card ---------------------------------------------------------------------------


def test_missing_card_fails_naming_required_fields(catalog: Catalog) -> None:
    result = gate(catalog, make_facts(card=None), Gate.CARD)
    assert not result.passed
    assert result.detail == (
        "no model card set for v3; set one with intended_use, limitations, training_data"
    )


def test_card_of_another_version_does_not_count(catalog: Catalog) -> None:
    result = gate(catalog, make_facts(card=make_card(version=2)), Gate.CARD)
    assert not result.passed
    assert result.detail.startswith("no model card set for v3")


def test_card_missing_a_required_field_fails(catalog: Catalog) -> None:
    fields = {k: v for k, v in FULL_CARD.items() if k != "limitations"}
    result = gate(catalog, make_facts(card=make_card(fields)), Gate.CARD)
    assert not result.passed
    assert result.detail == "card is missing limitations"


@pytest.mark.parametrize("blank", ["", "   ", "\n\t", (), ("", "  ")])
def test_card_with_a_blank_required_field_fails(
    catalog: Catalog, blank: str | tuple[str, ...]
) -> None:
    fields = {**FULL_CARD, "training_data": blank}
    result = gate(catalog, make_facts(card=make_card(fields)), Gate.CARD)
    assert not result.passed
    assert result.detail == "card is missing training_data"


def test_complete_card_passes(catalog: Catalog) -> None:
    fields = {**FULL_CARD, "limitations": ("", "English only")}
    result = gate(catalog, make_facts(card=make_card(fields)), Gate.CARD)
    assert result.passed
    assert result.detail == (
        "card set by erin@example.com has intended_use, limitations, training_data"
    )


def test_stage_without_required_card_fields_passes_without_card(catalog: Catalog) -> None:
    facts = make_facts(request=make_request(target=Stage.STAGING), current_stage=Stage.CANDIDATE)
    result = gate(catalog, facts, Gate.CARD)
    assert result.passed
    assert result.detail == "no card fields required for staging"


# --- license ------------------------------------------------------------------------------


def test_allowed_license_passes(catalog: Catalog) -> None:
    result = gate(catalog, make_facts(), Gate.LICENSE)
    assert result.passed
    assert result.detail == "support-lora: llama3"


def test_disallowed_model_license_fails(catalog: Catalog) -> None:
    gpl = CatalogEntry(name="gpl-model", kind=EntryKind.BASE_MODEL, owner="o", license="gpl-3.0")
    facts = make_facts(request=make_request(entry="gpl-model"))
    result = gate(with_entry(catalog, gpl), facts, Gate.LICENSE)
    assert not result.passed
    assert result.detail == ("gpl-model has license 'gpl-3.0' (allowed: apache-2.0, mit, llama3)")


def test_disallowed_license_on_a_non_model_fails(catalog: Catalog) -> None:
    facts = make_facts(request=make_request(entry="support-tickets-2026q3"))
    result = gate(catalog, facts, Gate.LICENSE)
    assert not result.passed
    assert "support-tickets-2026q3 has license 'proprietary-internal'" in result.detail


def test_model_without_license_fails(catalog: Catalog) -> None:
    bare = CatalogEntry(name="bare-model", kind=EntryKind.FINE_TUNE, owner="o")
    facts = make_facts(request=make_request(entry="bare-model"))
    result = gate(with_entry(catalog, bare), facts, Gate.LICENSE)
    assert not result.passed
    assert result.detail.startswith("bare-model has no license")


def test_non_model_without_license_needs_none(catalog: Catalog) -> None:
    result = gate(catalog, make_facts(request=make_request(entry="support-prompt")), Gate.LICENSE)
    assert result.passed
    assert result.detail == "nothing here needs a license"


STACK_LICENSES: dict[str, str | None] = {
    "support-lora": "llama3",
    "support-prompt": None,
    "bge-small": "mit",
    "kb-index": None,
    "support-evals": None,
}


def test_stack_with_allowed_component_licenses_passes(catalog: Catalog) -> None:
    facts = make_facts(request=make_request(entry="support-bot"), component_licenses=STACK_LICENSES)
    result = gate(catalog, facts, Gate.LICENSE)
    assert result.passed
    assert result.detail == "bge-small: mit, support-lora: llama3"


def test_stack_component_with_disallowed_license_fails(catalog: Catalog) -> None:
    licenses = {**STACK_LICENSES, "bge-small": "cc-by-nc-4.0"}
    facts = make_facts(request=make_request(entry="support-bot"), component_licenses=licenses)
    result = gate(catalog, facts, Gate.LICENSE)
    assert not result.passed
    assert "bge-small has license 'cc-by-nc-4.0'" in result.detail
    assert "support-lora" not in result.detail


def test_stack_model_component_without_license_fails(catalog: Catalog) -> None:
    licenses = {**STACK_LICENSES, "support-lora": None}
    facts = make_facts(request=make_request(entry="support-bot"), component_licenses=licenses)
    result = gate(catalog, facts, Gate.LICENSE)
    assert not result.passed
    assert "support-lora has no license" in result.detail


def test_stage_without_license_list_allows_any_license(catalog: Catalog) -> None:
    facts = make_facts(
        request=make_request(entry="support-tickets-2026q3", target=Stage.STAGING),
        current_stage=Stage.CANDIDATE,
    )
    result = gate(catalog, facts, Gate.LICENSE)
    assert result.passed
    assert result.detail == "any license allowed"


# --- ab_test ------------------------------------------------------------------------------


def ab(**changes: object) -> ABResult:
    fields: dict[str, object] = {
        "experiment": "exp-1",
        "entry": "support-lora",
        "treatment_version": 3,
        "control_version": 2,
        "treatment_share": 0.5,
        "metric": "resolution_rate",
        "lift": 0.03,
        "lift_kind": LiftKind.ABSOLUTE,
        "confidence_interval": {"low": 0.01, "high": 0.05},
        "p_value": 0.01,
        "decision": "ship",
        "started_at": NOW - timedelta(days=14),
        "ended_at": NOW - timedelta(days=1),
        **changes,
    }
    interval = fields.pop("confidence_interval")
    assert isinstance(interval, dict)
    return ABResult(
        confidence_interval=ConfidenceInterval(**interval),
        decision=ABDecision(str(fields.pop("decision"))),
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("changes", "win"),
    [
        ({}, True),
        ({"p_value": 0.05}, True),
        ({"p_value": 0.051}, False),
        ({"decision": "hold"}, False),
        ({"confidence_interval": {"low": 0.0, "high": 0.05}}, False),
        ({"lift": -0.02, "confidence_interval": {"low": -0.03, "high": -0.01}}, True),
    ],
)
def test_an_ab_result_is_a_win_when_shipped_clear_of_zero_and_significant(
    changes: dict[str, object], win: bool
) -> None:
    assert ab(**changes).is_win(AB_MAX_P_VALUE) is win


def require_ab(catalog: Catalog) -> Catalog:
    rule = replace(catalog.policy.stages[Stage.PRODUCTION], require_ab_win=True)
    stages = {**catalog.policy.stages, Stage.PRODUCTION: rule}
    return replace(catalog, policy=replace(catalog.policy, stages=stages, by_risk_class={}))


def test_ab_gate_passes_when_no_win_is_required(catalog: Catalog) -> None:
    assert gate(catalog, make_facts(), Gate.AB_TEST).passed


@pytest.mark.parametrize(
    ("results", "passed"),
    [
        ([], False),
        ([ab()], True),
        ([ab(decision="hold")], False),
        ([ab(confidence_interval={"low": -0.01, "high": 0.05})], False),
        ([ab(p_value=0.2)], False),
        ([ab(treatment_version=2, control_version=3)], False),
        ([ab(decision="rollback"), ab(experiment="exp-2")], True),
        ([ab(lift=-0.02, confidence_interval={"low": -0.03, "high": -0.01})], True),
    ],
)
def test_ab_gate_needs_a_shipped_significant_win_for_this_version(
    catalog: Catalog, results: list[ABResult], passed: bool
) -> None:
    facts = make_facts(request=make_request(version=3), ab_results=results)
    assert gate(require_ab(catalog), facts, Gate.AB_TEST).passed is passed
