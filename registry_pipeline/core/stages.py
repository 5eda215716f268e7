"""Lifecycle stages of a version and the transitions between them."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from registry_pipeline.core.errors import BadInput


class Stage(StrEnum):
    """Where a version stands. Every version is in exactly one stage at any instant."""

    CANDIDATE = "candidate"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"


#: Stages that at most one version of an entry holds at any instant.
SINGLE_HOLDER_STAGES = frozenset({Stage.STAGING, Stage.PRODUCTION})

#: Transitions a promotion request may ask for: from-stage -> allowed target stages.
TRANSITIONS: dict[Stage, frozenset[Stage]] = {
    Stage.CANDIDATE: frozenset({Stage.STAGING, Stage.ARCHIVED}),
    Stage.STAGING: frozenset({Stage.PRODUCTION, Stage.CANDIDATE, Stage.ARCHIVED}),
    Stage.PRODUCTION: frozenset({Stage.ARCHIVED}),
    Stage.ARCHIVED: frozenset({Stage.CANDIDATE}),
}

#: Where the holder of a single-holder stage goes when another version takes its place.
DISPLACED_TO: dict[Stage, Stage] = {
    Stage.STAGING: Stage.CANDIDATE,
    Stage.PRODUCTION: Stage.ARCHIVED,
}


def parse_stage(value: str) -> Stage:
    """Return the :class:`Stage` named ``value``; raise :class:`BadInput` naming the stages."""
    try:
        return Stage(value)
    except ValueError:
        stages = ", ".join(s.value for s in Stage)
        raise BadInput(f"unknown stage {value!r}; use one of: {stages}") from None


def can_transition(current: Stage, target: Stage) -> bool:
    """True when a promotion may move a version from ``current`` to ``target``."""
    return target in TRANSITIONS[current]


def transition_problem(current: Stage, target: Stage) -> str | None:
    """Why ``current -> target`` is not allowed, or ``None`` when it is."""
    if can_transition(current, target):
        return None
    if current == target:
        return f"the version is already in {current}"
    allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current]))
    return f"{current} -> {target} is not allowed (from {current}: {allowed})"


#: The ledger actions that put a version into a stage, and the payload field naming the
#: stage and the version each uses.
PLACING_ACTIONS: dict[str, tuple[str, str]] = {
    "promotion.apply": ("target", "version"),
    "stage.import": ("stage", "version"),
    "stage.rollback": ("stage", "to_version"),
}


def placement_problem(
    action: str,
    payload: Mapping[str, object],
    *,
    entry: str,
    version: int,
    stage: Stage,
    approved_by: list[str],
    request: int | None,
) -> str | None:
    """Why a ledger event does not say that ``entry@version`` took ``stage`` with these
    approvers and request (the claim a stage row makes), or ``None`` when it does."""
    fields = PLACING_ACTIONS.get(action)
    if fields is None:
        return f"it is a {action} event, which puts no version in a stage"
    said_stage, said_version = payload.get(fields[0]), payload.get(fields[1])
    if payload.get("entry") != entry or said_version != version or said_stage != stage:
        return (
            f"it put {payload.get('entry')}@{said_version} in {said_stage}, "
            f"not {entry}@{version} in {stage}"
        )
    said_approvers = payload.get("approved_by", [])
    if not isinstance(said_approvers, list) or sorted(map(str, said_approvers)) != sorted(
        approved_by
    ):
        return f"its approvers are {said_approvers}, not {approved_by}"
    if action == "promotion.apply" and payload.get("request") != request:
        return f"it applied request {payload.get('request')}, not {request}"
    return None
