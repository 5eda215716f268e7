"""Model card files handed to ``registry card --set`` (and ``Registry.set_card``).

Two kinds of file are accepted:

- a YAML or JSON mapping of card field to text (or list of text), e.g. ``intended_use``,
  ``limitations``, ``training_data``;
- a Hugging Face model card (``README.md``): YAML front matter, read by
  ``huggingface_hub``'s card parser, and Markdown sections. The sections of the Hub's
  model card template become the card fields the policy can require:

  ============================================  ==========================
  section                                       card field
  ============================================  ==========================
  Uses, Direct Use, Intended Use(s)             ``intended_use``
  Downstream Use                                ``downstream_use``
  Out-of-Scope Use                              ``out_of_scope_use``
  Bias, Risks, and Limitations; Limitations     ``limitations``
  Intended uses & limitations                   ``intended_use``, ``limitations``
  Recommendations                               ``recommendations``
  Training Data; Training and evaluation data   ``training_data``
  Training Procedure                            ``training_procedure``
  Evaluation                                    ``evaluation``
  Model Description                             ``model_description``
  Environmental Impact                          ``environmental_impact``
  Ethical Considerations                        ``ethical_considerations``
  ============================================  ==========================

  A field holds its section's text and that of its sub-sections which are not fields
  themselves (``Evaluation`` keeps ``Testing Data``, ``Results``...). HTML comments and the
  template's own text (``[More Information Needed]``, its default recommendation, its
  guidance paragraphs) are not content: an unfilled template section sets no field. The
  whole Markdown body and the front matter are kept with the card.

A file ending in ``.md`` or ``.markdown`` is a Markdown card; any other file is read as a
mapping when it is one, else as Markdown when it looks like it (front matter or headings).
Files are at most 4 MiB.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from registry_pipeline.core.cards import MAX_FIELD_CHARS, check_card_fields
from registry_pipeline.errors import BadInput
from registry_pipeline.formats._common import json_safe
from registry_pipeline.formats.huggingface import split_card
from registry_pipeline.inputs.documents import parse_yaml, read_text

#: Card files are documents, not data: larger ones are refused before they are read.
MAX_CARD_BYTES = 4 * 1024 * 1024
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})

#: Section titles (normalized: lowercase words, ``&`` as ``and``) and the fields they set.
SECTION_FIELDS: Mapping[str, tuple[str, ...]] = {
    "uses": ("intended_use",),
    "direct use": ("intended_use",),
    "intended use": ("intended_use",),
    "intended uses": ("intended_use",),
    "intended use and limitations": ("intended_use", "limitations"),
    "intended uses and limitations": ("intended_use", "limitations"),
    "downstream use": ("downstream_use",),
    "out of scope use": ("out_of_scope_use",),
    "out of scope uses": ("out_of_scope_use",),
    "bias risks and limitations": ("limitations",),
    "risks and limitations": ("limitations",),
    "limitations": ("limitations",),
    "recommendations": ("recommendations",),
    "training data": ("training_data",),
    "training and evaluation data": ("training_data",),
    "training procedure": ("training_procedure",),
    "evaluation": ("evaluation",),
    "model description": ("model_description",),
    "environmental impact": ("environmental_impact",),
    "ethical considerations": ("ethical_considerations",),
}

_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*(?:[ \t]#+[ \t]*)?$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_PLACEHOLDER = re.compile(r"\[more information needed\]", re.IGNORECASE)
_OPTIONAL = re.compile(r"\[optional\]", re.IGNORECASE)
_WORDS = re.compile(r"[^a-z0-9]+")
_CUT_NOTE = "\n\n… (cut here; the whole section is in the card's Markdown)"
_TEMPLATE_DEFAULT = re.compile(r'default\("([^"]+)"')
#: YAML front matter followed by more text: what makes a YAML parser see two documents.
_FRONT_MATTER_START = re.compile(r"^\s*---[ \t]*\r?\n(?:.*\r?\n)*?---[ \t]*(?:\r?\n|$)")


@dataclass(frozen=True, slots=True, kw_only=True)
class CardDocument:
    """A card to set: validated fields, and for a Markdown card its body and front matter.

    ``sections`` maps each field read from Markdown to the section titles it came from.
    """

    fields: Mapping[str, str | tuple[str, ...]]
    body: str = ""
    front_matter: Mapping[str, Any] = field(default_factory=dict)
    sections: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def read_card_file(path: str | Path) -> CardDocument:
    """Read a card file: a YAML/JSON mapping of fields, or a Hugging Face ``README.md``.

    Raises:
        NotFound: the file does not exist.
        BadInput: unreadable, too large, malformed, or (Markdown) no section sets a field.
    """
    file = Path(path)
    where = f"card file {str(file)!r}"
    text = read_text(
        file, where=where, limit=MAX_CARD_BYTES, expected="a YAML, JSON or Markdown file"
    )
    return parse_card_text(text, markdown=file.suffix.lower() in MARKDOWN_SUFFIXES, where=where)


def parse_card_text(text: str, *, markdown: bool, where: str) -> CardDocument:
    """A card from a card file's text (``markdown`` when its name says Markdown).

    Raises:
        BadInput: too large, malformed, or (Markdown) no section sets a field.
    """
    if len(text.encode("utf-8")) > MAX_CARD_BYTES:
        raise BadInput(f"{where} is larger than {MAX_CARD_BYTES} bytes")
    if markdown:
        return parse_markdown_card(text, where=where)
    try:
        document = parse_yaml(text, where=where)
    except BadInput as not_yaml:
        if _FRONT_MATTER_START.match(text):
            return parse_markdown_card(text, where=where)
        if not _has_heading(text):
            raise
        try:
            return parse_markdown_card(text, where=where)
        except BadInput:
            raise not_yaml from None
    if not isinstance(document, Mapping) and _has_heading(text):
        return parse_markdown_card(text, where=where)
    return card_from_mapping(document)


def card_from_mapping(document: object) -> CardDocument:
    """A card from a mapping of field to text or list of text.

    Raises:
        BadInput: not a non-empty mapping, or a field is malformed.
    """
    return CardDocument(fields=check_card_fields(document))


def parse_markdown_card(text: str, *, where: str) -> CardDocument:
    """A card from a Hugging Face model card's text (front matter and Markdown).

    Raises:
        BadInput: the front matter is not valid card metadata, or no section has content
            that sets a card field.
    """
    data, body = split_card(text, where)
    front: dict[str, Any] = json_safe(data.to_dict()) if data is not None else {}
    found: dict[str, list[str]] = {}
    titles: dict[str, list[str]] = {}
    for title, content in _field_sections(body):
        for name in SECTION_FIELDS[_normal(title)]:
            found.setdefault(name, []).append(content)
            titles.setdefault(name, []).append(title)
    if not found:
        raise BadInput(
            f"{where}: no section has content the registry reads as a card field (such as "
            "Direct Use, Out-of-Scope Use, Bias, Risks, and Limitations, Training Data); "
            "the template's own text, such as [More Information Needed], does not count"
        )
    fields = {name: _bounded("\n\n".join(parts)) for name, parts in found.items()}
    return CardDocument(
        fields=check_card_fields(fields),
        body=body,
        front_matter=front,
        sections={name: tuple(t) for name, t in titles.items()},
    )


def _has_heading(text: str) -> bool:
    return any(_HEADING.match(line) for line in text.splitlines())


def _normal(title: str) -> str:
    words = _OPTIONAL.sub(" ", title).lower().replace("&", " and ")
    return " ".join(_WORDS.sub(" ", words).split())


def _sections(body: str) -> list[tuple[int, str, str]]:
    """``(level, title, own text)`` of every ATX heading outside code fences; own text is
    cleaned of comments and placeholder lines, and empty when nothing else is left."""
    sections: list[tuple[int, str, list[str]]] = []
    fence: str | None = None
    for line in _COMMENT.sub("", body).splitlines():
        opened = _FENCE.match(line)
        if fence is not None:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = None
        elif opened:
            fence = opened.group(1)
        else:
            heading = _HEADING.match(line)
            if heading:
                sections.append((len(heading.group(1)), heading.group(2).strip(), []))
                continue
        if sections:
            sections[-1][2].append(line)
    return [(level, title, _content(lines)) for level, title, lines in sections]


@cache
def _template_lines() -> frozenset[str]:
    """Lines of huggingface_hub's model card template that are its own text (guidance,
    defaults), which a card made from the template carries whether filled in or not."""
    try:
        template = resources.files("huggingface_hub").joinpath("templates/modelcard_template.md")
        text = template.read_text(encoding="utf-8")
    except (OSError, ModuleNotFoundError):
        return frozenset()
    lines = {m.group(1).strip() for m in _TEMPLATE_DEFAULT.finditer(text)}
    for line in _COMMENT.sub("", text).splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", "---")) and "{" not in stripped:
            lines.add(stripped)
    return frozenset(lines)


def _content(lines: list[str]) -> str:
    boilerplate = _template_lines()
    kept = [
        line for line in lines if not _PLACEHOLDER.search(line) and line.strip() not in boilerplate
    ]
    text = "\n".join(kept).strip()
    return text if re.search(r"[A-Za-z0-9]", text) else ""


def _field_sections(body: str) -> list[tuple[str, str]]:
    """``(title, text)`` of each section that sets a field, its text including the
    sub-sections that set none."""
    sections = _sections(body)
    out: list[tuple[str, str]] = []
    for i, (level, title, own) in enumerate(sections):
        if _normal(title) not in SECTION_FIELDS:
            continue
        parts = [own] if own else []
        j = i + 1
        while j < len(sections) and sections[j][0] > level:
            sub_level, sub_title, sub_own = sections[j]
            j += 1
            if _normal(sub_title) in SECTION_FIELDS:
                while j < len(sections) and sections[j][0] > sub_level:
                    j += 1
            elif sub_own:
                parts.append(f"{'#' * sub_level} {sub_title}\n\n{sub_own}")
        if parts:
            out.append((title, "\n\n".join(parts)))
    return out


def _bounded(text: str) -> str:
    # The body keeps the whole section; the field is what the policy reads.
    if len(text) <= MAX_FIELD_CHARS:
        return text
    return text[: MAX_FIELD_CHARS - len(_CUT_NOTE)].rstrip() + _CUT_NOTE
