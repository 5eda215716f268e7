"""The automation rules through the Registry on a real store: default pins, when a stack
needs a new version, and the evidence checks of an entry's latest version."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXAMPLES, SUPPORT_BOT_PINS, make_ready, register_support_components

from registry_pipeline.core.automation import CheckSeverity
from registry_pipeline.core.gates import Gate
from registry_pipeline.errors import BadInput, NotFound
from registry_pipeline.service import Registry

pytestmark = pytest.mark.integration

ADMIN = "carol@example.com"


@pytest.fixture
def registry(db_url: str) -> Registry:
    """The example catalog in a fresh registry, acting as the support-bot owner."""
    Registry.init(db_url, catalog=EXAMPLES, actor=ADMIN)
    return Registry.open(db_url, actor="support-ml@example.com")


def _register(url: str, root: Path, entry: str, text: str) -> None:
    """Register a one-file version of ``entry`` (no upstream pins) as its owner."""
    source = root / f"{entry}-{text}"
    source.mkdir(parents=True)
    (source / "f.bin").write_text(text)
    owner = Registry.open(url).catalog().entry(entry).owner
    Registry.open(url, actor=owner).register(entry, source)


def test_latest_pins_name_the_upstream_still_missing(
    registry: Registry, db_url: str, tmp_path: Path
) -> None:
    _register(db_url, tmp_path, "llama-3.2-1b-instruct", "a")
    found = registry.automation.latest_pins("support-lora")
    assert found.refs() == ["llama-3.2-1b-instruct@1"]
    assert found.missing == ("support-tickets-2026q3",)
    with pytest.raises(NotFound, match="support-lora needs a version of support-tickets-2026q3"):
        found.require()


def test_latest_pins_follow_the_newest_versions(
    registry: Registry, db_url: str, tmp_path: Path
) -> None:
    _register(db_url, tmp_path, "llama-3.2-1b-instruct", "a")
    _register(db_url, tmp_path, "llama-3.2-1b-instruct", "b")
    _register(db_url, tmp_path, "support-tickets-2026q3", "a")
    assert registry.automation.latest_pins("support-lora").require() == [
        "llama-3.2-1b-instruct@2",
        "support-tickets-2026q3@1",
    ]
    assert registry.automation.latest_pins("support-bot").missing == (
        "bge-small-en",
        "kb-index",
        "support-evals",
        "support-lora",
        "support-prompt",
    )


def test_latest_pins_of_an_unknown_entry_is_not_found(registry: Registry) -> None:
    with pytest.raises(NotFound, match="unknown entry 'no-such'"):
        registry.automation.latest_pins("no-such")


def test_a_stack_is_due_when_its_components_exist_and_again_when_one_moves(
    registry: Registry, db_url: str, tmp_path: Path
) -> None:
    assert registry.automation.stack_pins_due("support-bot") is None
    register_support_components(db_url, tmp_path)
    due = registry.automation.stack_pins_due("support-bot")
    assert due is not None
    assert due.stack == "support-bot"
    assert due.refs() == sorted(SUPPORT_BOT_PINS)

    registry.register_stack("support-bot", due.refs())
    assert registry.automation.stack_pins_due("support-bot") is None

    _register(db_url, tmp_path, "support-prompt", "round 2")
    moved = registry.automation.stack_pins_due("support-bot")
    assert moved is not None
    assert "support-prompt@2" in moved.refs()
    assert "support-prompt@1" not in moved.refs()


def test_only_a_stack_can_be_due_for_assembly(registry: Registry) -> None:
    with pytest.raises(BadInput, match="support-lora is a lora_adapter, not a stack"):
        registry.automation.stack_pins_due("support-lora")


def test_readiness_of_an_entry_without_versions_only_warns(registry: Registry) -> None:
    readiness = registry.automation.latest_readiness("support-lora")
    assert readiness.version is None
    assert {c.severity for c in readiness.checks} == {CheckSeverity.WARN}
    assert not any(c.passed for c in readiness.checks)


def test_readiness_errors_only_when_recorded_evals_miss_the_bar(
    registry: Registry, db_url: str, tmp_path: Path
) -> None:
    register_support_components(db_url, tmp_path)
    registry.register_stack("support-bot", SUPPORT_BOT_PINS)
    unevaluated = registry.automation.latest_readiness("support-bot")
    assert unevaluated.version == 1
    assert unevaluated.check(Gate.EVALS).passed is False
    assert unevaluated.check(Gate.EVALS).severity is CheckSeverity.WARN

    registry.ingest_evals(
        "support-bot@1", {"accuracy": 0.5, "hallucination_rate": 0.01}, suite="support-evals@1"
    )
    failing = registry.automation.latest_readiness("support-bot")
    assert failing.check(Gate.EVALS).severity is CheckSeverity.ERROR
    assert "accuracy = 0.5" in failing.check(Gate.EVALS).detail
    assert failing.check(Gate.CARD).severity is CheckSeverity.WARN

    make_ready(registry, "support-bot@1")
    ready = registry.automation.latest_readiness("support-bot")
    assert all(c.passed for c in ready.checks)
    assert {c.severity for c in ready.checks} == {CheckSeverity.WARN}
