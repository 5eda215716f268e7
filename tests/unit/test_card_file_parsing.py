"""Model card files (inputs/card_files.py): Hugging Face README sections as card fields,
front matter through huggingface_hub, and YAML/JSON mappings as before."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import ModelCard, ModelCardData

from registry_pipeline.core.cards import MAX_FIELD_CHARS
from registry_pipeline.errors import BadInput, NotFound
from registry_pipeline.inputs.card_files import parse_markdown_card, read_card_file

pytestmark = pytest.mark.unit

FRONT = "---\nlicense: mit\nlanguage: [en, de]\ntags: [support]\n---\n"


def card(body: str, front: str = FRONT) -> dict[str, object]:
    return dict(parse_markdown_card(front + body, where="README.md").fields)


def test_template_sections_become_card_fields() -> None:
    filled = ModelCard.from_template(
        ModelCardData(license="mit"),
        model_id="m",
        direct_use="Drafting replies.",
        downstream_use="Inside the support console.",
        out_of_scope_use="Legal advice.",
        bias_risks_limitations="English only.",
        training_data="Tickets from 2026.",
        training_regime="bf16 mixed precision",
        testing_data="Held-out tickets.",
        results="accuracy 0.87",
    )
    parsed = parse_markdown_card(str(filled), where="README.md")
    assert parsed.fields == {
        "model_description": "- **License:** mit",
        "intended_use": "Drafting replies.",
        "downstream_use": "Inside the support console.",
        "out_of_scope_use": "Legal advice.",
        "limitations": "English only.",
        "training_data": "Tickets from 2026.",
        "training_procedure": (
            "#### Training Hyperparameters\n\n- **Training regime:** bf16 mixed precision"
        ),
        "evaluation": "#### Testing Data\n\nHeld-out tickets.\n\n### Results\n\naccuracy 0.87",
    }
    assert parsed.sections["limitations"] == ("Bias, Risks, and Limitations",)
    assert parsed.front_matter == {"license": "mit"}
    assert parsed.body == filled.text


def test_parent_and_child_sections_of_one_field_are_joined() -> None:
    fields = card("## Uses\n\nFor agents.\n\n### Direct Use\n\nDrafting replies.\n")
    assert fields == {"intended_use": "For agents.\n\nDrafting replies."}


def test_comments_placeholders_and_code_fences() -> None:
    fields = card(
        "## Training Data\n\n<!-- describe\n## not a heading -->\n[More Information Needed]\n"
        "Tickets.\n\n```\n## Limitations inside code\n```\n\n"
        "## Limitations\n\n[More Information Needed]\n"
    )
    assert fields == {"training_data": "Tickets.\n\n```\n## Limitations inside code\n```"}


def test_titles_match_whatever_their_case_punctuation_and_optional_marks() -> None:
    fields = card(
        "# Title\n\n## INTENDED USES & LIMITATIONS\n\nInternal only.\n\n"
        "## out-of-scope use [optional]\n\nMedical advice.\n\n## Unknown heading ##\n\nkept\n"
    )
    assert fields == {
        "intended_use": "Internal only.",
        "limitations": "Internal only.",
        "out_of_scope_use": "Medical advice.",
    }


def test_a_section_longer_than_a_field_is_cut_in_the_field_only() -> None:
    long = "word " * (MAX_FIELD_CHARS // 4)
    parsed = parse_markdown_card(FRONT + f"## Evaluation\n\n{long}\n", where="README.md")
    value = parsed.fields["evaluation"]
    assert isinstance(value, str)
    assert len(value) <= MAX_FIELD_CHARS
    assert value.endswith("the whole section is in the card's Markdown)")
    assert long.strip() in parsed.body


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("# Model\n\nJust prose.\n", "no section has content the registry reads as a card field"),
        ("---\nlicense: mit\nlicense: apache-2.0\n---\n## Uses\n\nx\n", "given twice"),
        ("---\n- a\n- b\n---\n## Uses\n\nx\n", "front matter must be a YAML mapping"),
        (
            "---\nmodel-index: [{name: m, results: [{task: 3}]}]\n---\n## Uses\n\nx\n",
            "model card metadata cannot be read",
        ),
    ],
    ids=["no-fields", "repeated-key", "not-a-mapping", "bad-model-index"],
)
def test_malformed_markdown_cards_are_one_line_bad_input(text: str, fragment: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_markdown_card(text, where="card file 'README.md'")
    assert fragment in str(caught.value)
    assert str(caught.value).startswith("card file 'README.md'")
    assert "\n" not in str(caught.value)


def test_files_are_told_apart_by_name_then_by_content(tmp_path: Path) -> None:
    markdown = FRONT + "## Limitations\n\nEnglish only.\n"
    for name in ("README.md", "README", "card.yaml"):
        path = tmp_path / name
        path.write_text(markdown, encoding="utf-8")
        assert read_card_file(path).fields == {"limitations": "English only."}, name
    mapping = tmp_path / "card.json"
    mapping.write_text('{"limitations": ["English only"]}', encoding="utf-8")
    parsed = read_card_file(mapping)
    assert parsed.fields == {"limitations": ("English only",)}
    assert (parsed.body, dict(parsed.front_matter)) == ("", {})


def test_a_broken_yaml_card_keeps_its_yaml_error(tmp_path: Path) -> None:
    path = tmp_path / "card.yaml"
    path.write_text("# my card\nintended_use: [unclosed\n", encoding="utf-8")
    with pytest.raises(BadInput, match=r"card file '.*card\.yaml': line 3"):
        read_card_file(path)


def test_missing_folder_and_oversized_files(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        read_card_file(tmp_path / "README.md")
    with pytest.raises(BadInput, match="a folder, not a file; pass a YAML, JSON or Markdown file"):
        read_card_file(tmp_path)
    big = tmp_path / "README.md"
    big.write_bytes(b"#" * (4 * 1024 * 1024 + 1))
    with pytest.raises(BadInput, match="larger than 4 MiB"):
        read_card_file(big)
