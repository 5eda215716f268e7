"""Provider-hosted models (core/provider.py): floating snapshots, deprecation, and the
production gate built on them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from registry_pipeline.core.catalog import Catalog, CatalogEntry
from registry_pipeline.core.gates import Gate, GateFacts, GateResult, evaluate_gates
from registry_pipeline.core.kinds import EntryKind
from registry_pipeline.core.promotion import PromotionRequest, RequestStatus
from registry_pipeline.core.provider import (
    DEPRECATION_NOTICE_DAYS,
    ProviderPin,
    days_to_deprecation,
    deprecation_problem,
    floating_problem,
    pin_problems,
    registration_warnings,
)
from registry_pipeline.core.stages import Stage

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
PINNED = ProviderPin(provider="openai", model_id="gpt-4o", snapshot="gpt-4o-2024-08-06")


def recorded(**facts: object) -> dict[str, object]:
    """Format facts as ``register`` records them for a provider.yaml."""
    spec = {
        "provider": "openai",
        "model_id": "gpt-4o",
        "snapshot": "gpt-4o-2024-08-06",
        "endpoint": "https://api.openai.com/v1",
        "deprecation_date": None,
        "digest": "d" * 64,
    }
    return {"format": "provider-model", "facts": {**spec, **facts}, "warnings": []}


# --- reading the recorded spec -------------------------------------------------------------


def test_pin_is_read_from_recorded_format_facts() -> None:
    pin = ProviderPin.from_format(recorded(deprecation_date="2027-03-31"))
    assert pin == replace(PINNED, deprecation_date=date(2027, 3, 31))
    assert str(pin) == "openai gpt-4o snapshot gpt-4o-2024-08-06"


@pytest.mark.parametrize(
    "facts",
    [{}, {"format": "huggingface-model", "facts": {}}, {"format": "provider-model"}],
    ids=["nothing", "other-format", "no-facts"],
)
def test_versions_without_a_provider_spec_have_no_pin(facts: dict[str, object]) -> None:
    assert ProviderPin.from_format(facts) is None


def test_a_deprecation_date_that_is_not_iso_text_reads_as_absent() -> None:
    pin = ProviderPin.from_format(recorded(deprecation_date="soon"))
    assert pin is not None
    assert pin.deprecation_date is None


# --- floating snapshots --------------------------------------------------------------------


@pytest.mark.parametrize(
    "snapshot",
    [
        "gpt-4o-2024-08-06",
        "2024-08-06",
        "20241022",
        "gpt-4o@2024-11-20",
        "claude-3-5-sonnet-20241022",
    ],
)
def test_dated_snapshots_pin_one_build(snapshot: str) -> None:
    assert floating_problem(replace(PINNED, snapshot=snapshot)) is None


@pytest.mark.parametrize(
    ("snapshot", "fragment"),
    [
        ("latest", "snapshot 'latest' of gpt-4o is an alias"),
        ("LATEST", "is an alias that moves"),
        ("chatgpt-4o-latest", "is an alias that moves"),
        ("llama3:latest", "is an alias that moves"),
        ("current", "is an alias that moves"),
        ("gpt-4o", "snapshot 'gpt-4o' is the bare model id"),
        ("GPT-4o", "is the bare model id"),
        ("", "gpt-4o has no snapshot"),
        ("   ", "gpt-4o has no snapshot"),
    ],
)
def test_floating_snapshots_are_named(snapshot: str, fragment: str) -> None:
    problem = floating_problem(replace(PINNED, snapshot=snapshot))
    assert problem is not None
    assert fragment in problem


# --- deprecation ---------------------------------------------------------------------------


def test_no_deprecation_date_is_never_a_problem() -> None:
    assert days_to_deprecation(PINNED, TODAY) is None
    assert deprecation_problem(PINNED, TODAY) is None


@pytest.mark.parametrize(
    ("offset", "fragment"),
    [
        (-154, "was deprecated on 2026-06-30, 154 days ago"),
        (0, "is deprecated today (2026-12-01)"),
        (DEPRECATION_NOTICE_DAYS, "is deprecated on 2026-12-31, in 30 days"),
    ],
)
def test_past_or_within_the_notice_period_is_a_problem(offset: int, fragment: str) -> None:
    pin = replace(PINNED, deprecation_date=TODAY + timedelta(days=offset))
    assert days_to_deprecation(pin, TODAY) == offset
    problem = deprecation_problem(pin, TODAY)
    assert problem is not None
    assert fragment in problem


def test_beyond_the_notice_period_is_fine() -> None:
    pin = replace(PINNED, deprecation_date=TODAY + timedelta(days=DEPRECATION_NOTICE_DAYS + 1))
    assert deprecation_problem(pin, TODAY) is None
    assert pin_problems(pin, TODAY) == []


def test_pin_problems_lists_floating_and_deprecation() -> None:
    pin = replace(PINNED, snapshot="latest", deprecation_date=TODAY - timedelta(days=1))
    assert len(pin_problems(pin, TODAY)) == 2


def test_registration_warns_of_each_problem_and_says_what_follows() -> None:
    assert registration_warnings(PINNED, TODAY) == []
    pin = replace(PINNED, snapshot="latest", deprecation_date=TODAY - timedelta(days=1))
    floating, ending = registration_warnings(pin, TODAY)
    assert floating.endswith("; promotion to production will be refused")
    assert ending == (
        "gpt-4o latest was deprecated on 2026-11-30, 1 day ago; plan the move to a newer snapshot"
    )


# --- the provider_snapshot gate ------------------------------------------------------------

HOSTED = CatalogEntry(name="gpt-hosted", kind=EntryKind.PROVIDER_MODEL, owner="ml@example.com")
CATALOG = Catalog(entries={HOSTED.name: HOSTED})


def facts(pins: dict[str, ProviderPin | None], *, target: Stage = Stage.PRODUCTION) -> GateFacts:
    request = PromotionRequest(
        id=1,
        entry="gpt-hosted",
        version=1,
        digest="a" * 64,
        target=target,
        requester="dave@example.com",
        reason="ready",
        status=RequestStatus.PENDING,
        created_at=NOW - timedelta(hours=1),
    )
    return GateFacts(
        request=request,
        current_stage=Stage.STAGING if target is Stage.PRODUCTION else Stage.CANDIDATE,
        version_digest="a" * 64,
        approvals=[],
        evals=[],
        card=None,
        component_licenses={},
        now=NOW,
        provider_pins=pins,
    )


def provider_gate(gate_facts: GateFacts) -> GateResult:
    (found,) = [r for r in evaluate_gates(CATALOG, gate_facts) if r.name == Gate.PROVIDER]
    return found


def test_the_gate_is_reported_only_when_provider_models_are_concerned() -> None:
    names = [r.name for r in evaluate_gates(CATALOG, facts({}))]
    assert Gate.PROVIDER not in names
    names = [r.name for r in evaluate_gates(CATALOG, facts({"gpt-hosted@1": PINNED}))]
    assert names[names.index(Gate.LICENSE) + 1] == Gate.PROVIDER


def test_a_dated_snapshot_passes_for_production() -> None:
    result = provider_gate(facts({"gpt-hosted@1": PINNED}))
    assert result.passed is True
    assert result.detail == "gpt-hosted@1 pins openai gpt-4o snapshot gpt-4o-2024-08-06"


def test_production_refuses_a_floating_snapshot() -> None:
    result = provider_gate(facts({"gpt-hosted@1": replace(PINNED, snapshot="latest")}))
    assert result.passed is False
    assert result.detail.startswith("gpt-hosted@1: snapshot 'latest' of gpt-4o is an alias")


def test_production_refuses_a_snapshot_within_its_notice_period() -> None:
    ending = replace(PINNED, deprecation_date=TODAY + timedelta(days=10))
    result = provider_gate(facts({"gpt-hosted@1": ending}))
    assert result.passed is False
    assert "is deprecated on 2026-12-11, in 10 days" in result.detail


def test_production_refuses_a_version_without_a_spec() -> None:
    result = provider_gate(facts({"gpt-hosted@1": None}))
    assert result.passed is False
    assert "records no provider spec" in result.detail


def test_staging_passes_but_says_what_production_would_refuse() -> None:
    result = provider_gate(
        facts({"gpt-hosted@1": replace(PINNED, snapshot="latest")}, target=Stage.STAGING)
    )
    assert result.passed is True
    assert "production would refuse: gpt-hosted@1: snapshot 'latest'" in result.detail


def test_a_stack_is_refused_for_any_floating_component() -> None:
    result = provider_gate(
        facts({"gpt-hosted@1": PINNED, "other-hosted@2": replace(PINNED, snapshot="gpt-4o")})
    )
    assert result.passed is False
    assert result.detail.startswith("other-hosted@2: snapshot 'gpt-4o' is the bare model id")
