"""Model cards with Hugging Face front matter, read back with huggingface_hub (offline)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import promote_through
from huggingface_hub import ModelCard

from registry_pipeline.errors import NotFound
from registry_pipeline.exports.model_cards import render_card, write_cards
from registry_pipeline.service import Registry
from registry_pipeline.store.snapshot import Snapshot, take_snapshot

pytestmark = pytest.mark.integration

LORA_METRICS = {"accuracy": 0.87, "hallucination_rate": 0.02}


@pytest.fixture
def snap(
    example_estate: Registry, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Snapshot:
    """support-bot@1 in production; support-lora@1 with an eval result and a card."""
    monkeypatch.setenv("REGISTRY_DEPLOYMENTS", str(tmp_path / "deployments"))
    promote_through(db_url, "support-bot@1", "staging", "production")
    example_estate.ingest_evals("support-lora@1", LORA_METRICS, suite="support-evals@1")
    example_estate.set_card(
        "support-lora@1",
        {
            "intended_use": "Drafting replies for agents to review",
            "limitations": ["English only"],
            "training_data": "Q3 2026 resolved tickets, PII removed",
            "out_of_scope": "Legal or medical advice",
        },
    )
    return take_snapshot(Registry.open(db_url))


def test_adapter_card_round_trips_through_huggingface_hub(snap: Snapshot) -> None:
    card = ModelCard(render_card(snap, "support-lora", 1))

    data = card.data
    assert data.license == "llama3.2"
    assert data.base_model == ["llama-3.2-1b-instruct"]
    assert data.to_dict()["base_model_relation"] == "adapter"
    assert data.datasets == ["support-tickets-2026q3"]
    assert {"registry-pipeline", "lora_adapter", "risk-class:limited"} <= set(data.tags)
    assert data.model_name == "support-lora"
    results = data.eval_results
    assert {r.metric_type: r.metric_value for r in results} == LORA_METRICS
    for result in results:
        assert (result.dataset_type, result.dataset_name) == ("support-evals", "support-evals@1")
        assert result.dataset_revision == snap.version("support-evals", 1)["digest"]
        assert result.task_type == "text-generation"
        assert result.metric_name


def test_card_body_documents_the_version(snap: Snapshot) -> None:
    text = ModelCard(render_card(snap, "support-lora", 1)).text

    for heading in (
        "# support-lora v1",
        "## Description",
        "## Intended use",
        "## Limitations",
        "## Training data",
        "## Out of scope",
        "## Lineage",
        "## Evaluation results",
        "## Promotion requests and approvals",
        "## Stage history",
    ):
        assert f"\n{heading}\n" in f"\n{text}"
    assert "Drafting replies for agents to review" in text
    assert "- English only" in text
    assert "Q3 2026 resolved tickets, PII removed" in text
    for upstream in ("llama-3.2-1b-instruct", "support-tickets-2026q3"):
        digest = snap.version(upstream, 1)["digest"]
        assert f"`{upstream}@1` " in text
        assert digest in text
    assert "| support-evals@1 | accuracy | 0.87 |" in text
    assert snap.head_hash in text.splitlines()[-1]


def test_stack_card_has_its_evals_approvals_and_history(snap: Snapshot, db_url: str) -> None:
    rendered = render_card(snap, "support-bot", 1)
    card = ModelCard(rendered)

    assert card.data.base_model is None
    assert card.data.datasets is None
    assert card.data.license is None
    assert {r.metric_type: r.metric_value for r in card.data.eval_results} == {
        "accuracy": 0.9,
        "hallucination_rate": 0.01,
    }
    assert "| #2 | production | alice@example.com |" in rendered
    assert "approve by bob@example.com" in rendered
    assert "| production |" in rendered
    assert f"`{Registry.open(db_url).ledger_head().to_dict()['hash']}`" in rendered
    for pin in ("kb-index@1", "support-lora@1", "support-prompt@1"):
        assert f"`{pin}` " in rendered
    assert "  - `kb-docs-2026-11@1` " in rendered


def test_model_index_reports_the_latest_result_and_the_table_keeps_history(
    snap: Snapshot, db_url: str
) -> None:
    registry = Registry.open(db_url, actor="support-ml@example.com")
    registry.ingest_evals("support-lora@1", {"accuracy": 0.91}, suite="support-evals@1")
    rendered = render_card(take_snapshot(registry), "support-lora", 1)

    results = ModelCard(rendered).data.eval_results
    assert [(r.metric_type, r.metric_value) for r in results] == [("accuracy", 0.91)]
    assert "| support-evals@1 | accuracy | 0.91 |" in rendered
    assert "| support-evals@1 | accuracy | 0.87 |" in rendered
    assert "superseded" in rendered


def test_card_without_evals_or_card_fields_still_parses(snap: Snapshot) -> None:
    rendered = render_card(snap, "llama-3.2-1b-instruct", 1)
    card = ModelCard(rendered)

    assert card.data.license == "llama3.2"
    assert card.data.eval_results is None
    assert card.data.base_model is None
    assert "_No eval results recorded._" in rendered
    assert "_Not documented._" in rendered


def test_unknown_version_or_entry_is_not_found(snap: Snapshot) -> None:
    with pytest.raises(NotFound, match="support-lora has no version 9"):
        render_card(snap, "support-lora", 9)
    with pytest.raises(NotFound):
        render_card(snap, "no-such-entry", 1)


def test_write_cards_layout(snap: Snapshot, tmp_path: Path) -> None:
    out = tmp_path / "cards"

    paths = write_cards(snap, out)

    expected = {
        "bge-small-en/v1.md",
        "llama-3.2-1b-instruct/v1.md",
        "support-bot/v1.md",
        "support-lora/v1.md",
    }
    assert {p.relative_to(out).as_posix() for p in paths} == expected
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} == expected
    for path in paths:
        entry = path.parent.name
        assert ModelCard(path.read_text()).data.to_dict()["tags"][0] == "registry-pipeline"
        assert path.read_text() == render_card(snap, entry, 1)
