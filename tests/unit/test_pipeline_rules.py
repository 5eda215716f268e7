"""The automation rules (core/automation.py) as pure functions: default pins, when a stack
needs a new version, which checks an entry gets and how serious a failed one is."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence

import pytest

from registry_pipeline.core.automation import (
    EVIDENCE_CHECKS,
    REVIEW_CHECK,
    CheckSeverity,
    LatestVersions,
    StackPins,
    UpstreamPins,
    check_severity,
    checks_for,
    declared_upstream,
    latest_pins,
    latest_readiness,
    stack_pins_due,
)
from registry_pipeline.core.catalog import CatalogEntry
from registry_pipeline.core.gates import Gate, GateResult
from registry_pipeline.core.kinds import EntryKind
from registry_pipeline.core.refs import ExactRef
from registry_pipeline.errors import NotFound

pytestmark = pytest.mark.unit


def _versions(table: Mapping[str, int | None]) -> LatestVersions:
    def latest(entries: Sequence[str]) -> dict[str, int | None]:
        return {name: table.get(name) for name in entries}

    return latest


def _ref(text: str) -> ExactRef:
    entry, _, number = text.partition("@")
    return ExactRef(entry=entry, version=int(number))


def test_latest_pins_pin_the_newest_version_of_each_declared_upstream_sorted() -> None:
    found = latest_pins(_versions({"base": 3, "data": 1}), "lora", ["data", "base"])
    assert found == UpstreamPins(entry="lora", pins=(_ref("base@3"), _ref("data@1")))
    assert found.refs() == ["base@3", "data@1"]
    assert found.require() == ["base@3", "data@1"]


def test_latest_pins_name_the_upstream_with_no_version_and_require_refuses() -> None:
    found = latest_pins(_versions({"base": 2}), "lora", ["base", "data"])
    assert found.pins == (_ref("base@2"),)
    assert found.missing == ("data",)
    with pytest.raises(NotFound) as raised:
        found.require()
    assert str(raised.value) == (
        "lora needs a version of data first; register it, or pin exact upstream versions"
    )
    assert raised.value.entry == "lora"


def test_an_entry_without_upstream_pins_nothing() -> None:
    assert latest_pins(_versions({}), "base", []).require() == []


def test_a_stack_pins_its_components_and_any_other_entry_its_upstream() -> None:
    stack = CatalogEntry(name="bot", kind=EntryKind.STACK, owner="o", components=("lora", "prompt"))
    lora = CatalogEntry(name="lora", kind=EntryKind.LORA_ADAPTER, owner="o", upstream=("base",))
    assert declared_upstream(stack) == ("lora", "prompt")
    assert declared_upstream(lora) == ("base",)


def test_a_stack_with_no_version_is_due_once_every_component_has_one() -> None:
    waiting = UpstreamPins(entry="bot", pins=(_ref("lora@1"),), missing=("prompt",))
    assert stack_pins_due(waiting, None) is None
    ready = UpstreamPins(entry="bot", pins=(_ref("lora@1"), _ref("prompt@1")))
    assert stack_pins_due(ready, None) == StackPins(stack="bot", pins=ready.pins)


def test_a_stack_is_due_only_when_a_component_moved_past_its_latest_pins() -> None:
    latest = UpstreamPins(entry="bot", pins=(_ref("lora@2"), _ref("prompt@1")))
    assert stack_pins_due(latest, [_ref("prompt@1"), _ref("lora@2")]) is None
    due = stack_pins_due(latest, [_ref("lora@1"), _ref("prompt@1")])
    assert due is not None
    assert due.refs() == ["lora@2", "prompt@1"]


def test_evaluated_kinds_get_every_check_and_the_rest_only_review() -> None:
    assert checks_for(EntryKind.STACK) == (Gate.EVALS, Gate.CARD, Gate.LICENSE, REVIEW_CHECK)
    assert checks_for(EntryKind.LORA_ADAPTER) == (*EVIDENCE_CHECKS, REVIEW_CHECK)
    assert checks_for(EntryKind.DATASET) == (REVIEW_CHECK,)


@pytest.mark.parametrize(
    ("check", "passed", "evaluated", "severity"),
    [
        (Gate.EVALS, False, True, CheckSeverity.ERROR),
        (Gate.EVALS, False, False, CheckSeverity.WARN),
        (Gate.EVALS, True, True, CheckSeverity.WARN),
        (Gate.CARD, False, True, CheckSeverity.WARN),
        (Gate.LICENSE, False, True, CheckSeverity.WARN),
        (REVIEW_CHECK, False, True, CheckSeverity.WARN),
    ],
)
def test_only_recorded_evals_missing_the_bar_are_an_error(
    check: str, passed: bool, evaluated: bool, severity: CheckSeverity
) -> None:
    assert check_severity(check, passed=passed, evaluated=evaluated) is severity


def test_readiness_of_an_entry_without_versions_warns_on_every_evidence_check() -> None:
    readiness = latest_readiness("lora", None, (), evaluated=False)
    assert readiness.version is None
    assert [c.name for c in readiness.checks] == list(EVIDENCE_CHECKS)
    assert {(c.passed, c.severity, c.detail) for c in readiness.checks} == {
        (False, CheckSeverity.WARN, "no version registered yet")
    }


def test_readiness_carries_each_gate_with_its_severity() -> None:
    gates = [
        GateResult(name=Gate.LICENSE, passed=True, detail="mit is allowed"),
        GateResult(name=Gate.EVALS, passed=False, detail="accuracy = 0.5, needs >= 0.8"),
        GateResult(name=Gate.CARD, passed=False, detail="no model card set"),
    ]
    readiness = latest_readiness("lora", 2, gates, evaluated=True)
    assert readiness.version == 2
    assert [c.name for c in readiness.checks] == list(EVIDENCE_CHECKS)
    assert readiness.check(Gate.EVALS).severity is CheckSeverity.ERROR
    assert readiness.check(Gate.EVALS).detail == "accuracy = 0.5, needs >= 0.8"
    assert readiness.check(Gate.CARD).severity is CheckSeverity.WARN
    assert readiness.check(Gate.LICENSE).passed is True
    with pytest.raises(KeyError):
        readiness.check(REVIEW_CHECK)


def test_the_rules_import_without_dagster() -> None:
    code = (
        "import sys; sys.modules['dagster'] = None; "
        "import registry_pipeline.core.automation, registry_pipeline.service"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
