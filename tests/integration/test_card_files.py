"""A Hugging Face README.md as a version's model card, through the real CLI: its template
sections satisfy the card gate, and its Markdown and front matter survive ``registry card``,
``registry export model-cards`` and ``huggingface_hub.ModelCard.load``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import raw_rows
from huggingface_hub import ModelCard, ModelCardData

from registry_pipeline.service import Registry

pytestmark = pytest.mark.integration

OWNER = "ml@example.com"
APPROVER = "bob@example.com"
REQUIRED = ["intended_use", "limitations", "training_data"]
RunCli = Callable[..., Any]

DIRECT_USE = "Drafting replies to customer tickets for a support agent to review."
OUT_OF_SCOPE = "Legal, medical or billing advice; replying to customers unreviewed."
LIMITATIONS = "English only. Trained on tickets from 2026, so it does not know older products."
TRAINING_DATA = "support-tickets-2026q3: resolved tickets from July to September 2026, PII removed."


@pytest.fixture
def estate(tmp_path: Path, db_url: str) -> Path:
    """A model whose staging promotion requires a card with the three policy fields."""
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        yaml.safe_dump(
            {
                "entries": {
                    "chat-model": {"kind": "base_model", "owner": OWNER, "license": "mit"},
                },
                "policy": {
                    "approvers": [APPROVER],
                    "stages": {"staging": {"approvals": 1, "card_fields": REQUIRED}},
                },
            }
        )
    )
    Registry.init(db_url, catalog=catalog, actor=OWNER)
    for content in ("v1", "v2"):
        folder = tmp_path / "src" / content
        folder.mkdir(parents=True)
        (folder / "weights.bin").write_text(content)
        Registry.open(db_url, actor=OWNER).register("chat-model", folder)
    return tmp_path


def readme(path: Path, *, metadata: bool = True, **sections: str) -> Path:
    """A README.md made from huggingface_hub's own model card template."""
    data = (
        ModelCardData(
            language="en",
            license="apache-2.0",
            pipeline_tag="text-generation",
            tags=["customer-support"],
            base_model="meta-llama/Llama-3.2-1B-Instruct",
        )
        if metadata
        else ModelCardData()
    )
    card = ModelCard.from_template(data, model_id="chat-model", **sections)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(card), encoding="utf-8")
    return path


def ok(result: Any) -> Any:
    assert result.code == 0, f"exit {result.code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert "Traceback" not in result.stderr
    return result


def card_gate(run_cli: RunCli, ref: str) -> tuple[int, dict[str, Any]]:
    request = ok(
        run_cli("promote", ref, "--to", "staging", "--reason", "r", actor=OWNER, json=True)
    )
    request_id: int = request.json()["request"]
    ok(run_cli("approve", str(request_id), "--reason", "reviewed", actor=APPROVER))
    report = ok(run_cli("gates", str(request_id), json=True)).json()
    return request_id, {g["name"]: g for g in report["gates"]}["model_card"]


def test_a_hugging_face_readme_satisfies_the_card_gate_and_round_trips(
    run_cli: RunCli, estate: Path
) -> None:
    path = readme(
        estate / "card" / "README.md",
        direct_use=DIRECT_USE,
        out_of_scope_use=OUT_OF_SCOPE,
        bias_risks_limitations=LIMITATIONS,
        training_data=TRAINING_DATA,
        testing_data="2,000 held-out tickets from October 2026.",
    )
    set_ = ok(run_cli("card", "chat-model@1", "--set", str(path), actor=OWNER))
    assert set_.stdout.startswith(
        "card set for chat-model@1 (model_description from Model Description; "
        "intended_use from Direct Use; out_of_scope_use from Out-of-Scope Use; "
        "limitations from Bias, Risks, and Limitations; training_data from Training Data; "
        "evaluation from Evaluation)"
    )
    shown = ok(run_cli("card", "chat-model@1", json=True)).json()
    assert {k: shown["card"][k] for k in REQUIRED} == {
        "intended_use": DIRECT_USE,
        "limitations": LIMITATIONS,
        "training_data": TRAINING_DATA,
    }
    assert shown["card"]["out_of_scope_use"] == OUT_OF_SCOPE
    assert shown["card"]["evaluation"] == (
        "#### Testing Data\n\n2,000 held-out tickets from October 2026."
    )
    assert "recommendations" not in shown["card"]  # the template's default text
    assert shown["front_matter"]["pipeline_tag"] == "text-generation"

    request, gate = card_gate(run_cli, "chat-model@1")
    assert gate["passed"] is True, gate
    assert gate["detail"] == f"card set by {OWNER} has intended_use, limitations, training_data"
    ok(run_cli("apply", str(request), actor=OWNER))

    markdown = ok(run_cli("card", "chat-model@1")).stdout
    for text in ("### Direct Use", DIRECT_USE, "## Bias, Risks, and Limitations", LIMITATIONS):
        assert text in markdown

    out = estate / "cards"
    ok(run_cli("export", "model-cards", "--out", str(out)))
    exported = ModelCard.load(out / "chat-model" / "v1.md")
    data = exported.data
    assert data.license == "mit"  # the catalog's license wins over the README's claim
    assert data.language == "en"
    assert data.pipeline_tag == "text-generation"
    assert data.base_model == "meta-llama/Llama-3.2-1B-Instruct"
    assert {"registry-pipeline", "base_model", "customer-support"} <= set(data.tags)
    for heading in ("## Uses", "### Direct Use", "### Out-of-Scope Use", "## Training Details"):
        assert f"\n{heading}\n" in exported.text
    for text in (DIRECT_USE, OUT_OF_SCOPE, LIMITATIONS, TRAINING_DATA, "## Lineage"):
        assert text in exported.text
    assert exported.text.count("## Intended use") == 0  # no copy of the fields


def test_a_readme_missing_a_required_section_fails_the_card_gate(
    run_cli: RunCli, estate: Path
) -> None:
    path = readme(estate / "partial" / "README.md", direct_use=DIRECT_USE)
    ok(run_cli("card", "chat-model@2", "--set", str(path), actor=OWNER))
    _, gate = card_gate(run_cli, "chat-model@2")
    assert gate["passed"] is False
    assert gate["detail"] == "card is missing limitations, training_data"


def test_an_unfilled_template_is_one_line_bad_input(
    run_cli: RunCli, estate: Path, db_url: str
) -> None:
    path = readme(estate / "empty" / "README.md", metadata=False)
    before = raw_rows(db_url, "SELECT count(*) FROM ledger")
    result = run_cli("card", "chat-model@1", "--set", str(path), actor=OWNER)
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: card file '{path}': no section has content")
    assert raw_rows(db_url, "SELECT count(*) FROM ledger") == before


def test_trainer_style_and_extensionless_readmes(run_cli: RunCli, estate: Path) -> None:
    text = (
        "---\nlicense: mit\ntags: [generated_from_trainer]\n---\n\n# chat-model\n\n"
        "## Model description\n\nA LoRA fine-tune.\n\n"
        "## Intended uses & limitations\n\nInternal drafting only; English.\n\n"
        "## Training and evaluation data\n\nsupport-tickets-2026q3\n\n"
        "```python\n# not a heading\n```\n"
    )
    path = estate / "trainer" / "README"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    shown = ok(run_cli("card", "chat-model@2", "--set", str(path), actor=OWNER, json=True)).json()
    assert shown["card"] == {
        "model_description": "A LoRA fine-tune.",
        "intended_use": "Internal drafting only; English.",
        "limitations": "Internal drafting only; English.",
        "training_data": "support-tickets-2026q3\n\n```python\n# not a heading\n```",
    }
    _, gate = card_gate(run_cli, "chat-model@2")
    assert gate["passed"] is True


def test_a_yaml_card_still_works_and_stores_no_markdown(
    run_cli: RunCli, estate: Path, db_url: str
) -> None:
    path = estate / "card.yaml"
    path.write_text(
        yaml.safe_dump(
            {"intended_use": DIRECT_USE, "limitations": [LIMITATIONS], "training_data": "x"}
        )
    )
    ok(run_cli("card", "chat-model@1", "--set", str(path), actor=OWNER))
    assert raw_rows(db_url, "SELECT body, front_matter FROM cards") == [(None, None)]
    markdown = ok(run_cli("card", "chat-model@1")).stdout
    assert f"## Limitations\n\n- {LIMITATIONS}" in markdown
