"""Lifecycle stages and the transition table (core/stages.py)."""

from __future__ import annotations

import itertools

import pytest

from registry_pipeline.core.stages import (
    DISPLACED_TO,
    SINGLE_HOLDER_STAGES,
    TRANSITIONS,
    Stage,
    can_transition,
    parse_stage,
    placement_problem,
    transition_problem,
)
from registry_pipeline.errors import BadInput

pytestmark = pytest.mark.unit

C, S, P, A = Stage.CANDIDATE, Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED

#: The transitions a promotion request may ask for, written out independently of the code.
ALLOWED = {
    (C, S),
    (C, A),
    (S, P),
    (S, C),
    (S, A),
    (P, A),
    (A, C),
}
ALL_PAIRS = list(itertools.product(Stage, Stage))


def test_stages_are_the_four_lifecycle_stages() -> None:
    assert [s.value for s in Stage] == ["candidate", "staging", "production", "archived"]


def test_transition_table_matches_the_expected_table() -> None:
    table = {(current, target) for current, targets in TRANSITIONS.items() for target in targets}
    assert table == ALLOWED
    assert set(TRANSITIONS) == set(Stage)


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=lambda s: str(s))
def test_can_transition_follows_the_table(current: Stage, target: Stage) -> None:
    assert can_transition(current, target) is ((current, target) in ALLOWED)


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=lambda s: str(s))
def test_transition_problem_is_none_exactly_when_allowed(current: Stage, target: Stage) -> None:
    problem = transition_problem(current, target)
    if (current, target) in ALLOWED:
        assert problem is None
    else:
        assert isinstance(problem, str)
        assert problem


@pytest.mark.parametrize("stage", list(Stage))
def test_no_stage_transitions_to_itself(stage: Stage) -> None:
    assert not can_transition(stage, stage)
    assert transition_problem(stage, stage) == f"the version is already in {stage.value}"


def test_production_can_only_be_archived() -> None:
    assert (
        transition_problem(P, S)
        == "production -> staging is not allowed (from production: archived)"
    )
    assert transition_problem(P, C) == (
        "production -> candidate is not allowed (from production: archived)"
    )


def test_candidate_cannot_skip_staging() -> None:
    assert transition_problem(C, P) == (
        "candidate -> production is not allowed (from candidate: archived, staging)"
    )


def test_archived_can_only_return_to_candidate() -> None:
    assert (
        transition_problem(A, S) == "archived -> staging is not allowed (from archived: candidate)"
    )
    assert transition_problem(A, P) == (
        "archived -> production is not allowed (from archived: candidate)"
    )


def test_single_holder_stages_are_staging_and_production() -> None:
    assert frozenset({S, P}) == SINGLE_HOLDER_STAGES


def test_displaced_holders_step_down() -> None:
    assert DISPLACED_TO == {S: C, P: A}
    assert set(DISPLACED_TO) == SINGLE_HOLDER_STAGES


@pytest.mark.parametrize("stage", list(Stage))
def test_parse_stage_accepts_each_stage_name(stage: Stage) -> None:
    assert parse_stage(stage.value) is stage


@pytest.mark.parametrize(
    "text", ["", "prod", "Production", "STAGING", " staging", "staging ", "live"]
)
def test_parse_stage_rejects_unknown_names_listing_the_stages(text: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_stage(text)
    message = str(info.value)
    assert repr(text) in message
    assert "candidate, staging, production, archived" in message
    assert isinstance(info.value, BadInput)


APPLY = {
    "entry": "support-bot",
    "version": 3,
    "target": "production",
    "request": 12,
    "approved_by": ["bob@example.com", "carol@example.com"],
}


def claim(action: str, payload: dict[str, object], **changes: object) -> str | None:
    said: dict[str, object] = {
        "entry": "support-bot",
        "version": 3,
        "stage": Stage.PRODUCTION,
        "approved_by": ["carol@example.com", "bob@example.com"],
        "request": 12,
        **changes,
    }
    return placement_problem(action, payload, **said)  # type: ignore[arg-type]


def test_a_promotion_event_backs_the_stage_row_that_names_it() -> None:
    assert claim("promotion.apply", APPLY) is None  # approvers in any order


@pytest.mark.parametrize(
    ("changes", "found"),
    [
        ({"version": 2}, "not support-bot@2 in production"),
        ({"entry": "fraud-model"}, "not fraud-model@3"),
        ({"stage": Stage.STAGING}, "in staging"),
        ({"approved_by": ["mallory@example.com"]}, "its approvers are"),
        ({"request": 13}, "it applied request 12, not 13"),
    ],
)
def test_a_stage_row_the_event_does_not_back_is_named(
    changes: dict[str, object], found: str
) -> None:
    problem = claim("promotion.apply", APPLY, **changes)
    assert problem is not None
    assert found in problem


def test_rollbacks_and_imports_place_versions_too() -> None:
    rollback = {
        "entry": "support-bot",
        "stage": "production",
        "from_version": 4,
        "to_version": 3,
        "approved_by": ["bob@example.com", "carol@example.com"],
    }
    assert claim("stage.rollback", rollback) is None
    assert claim("stage.rollback", {**rollback, "to_version": 4}) is not None
    imported = {"entry": "support-bot", "version": 3, "stage": "production", "imported": True}
    assert claim("stage.import", imported, approved_by=[], request=None) is None
    assert claim("stage.import", imported) is not None  # an import has no approvers
    assert "puts no version in a stage" in str(claim("card.set", {"entry": "support-bot"}))
