"""Model cards: the fields a version documents, and their Markdown rendering."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from registry_pipeline.core.errors import BadInput

MAX_FIELD_CHARS = 20_000
FIELD_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelCard:
    """The card set for one version. Setting a card again appends a new one.

    A card set from a Hugging Face ``README.md`` also keeps its Markdown ``body`` (from
    which its fields were read) and its YAML ``front_matter``.
    """

    entry: str
    version: int
    fields: Mapping[str, str | tuple[str, ...]]
    set_at: datetime
    set_by: str
    body: str = ""
    front_matter: Mapping[str, object] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        """True when ``name`` is present and not blank."""
        value = self.fields.get(name)
        if value is None:
            return False
        if isinstance(value, tuple):
            return any(v.strip() for v in value)
        return bool(value.strip())


def check_card_fields(fields: object) -> dict[str, str | tuple[str, ...]]:
    """Validate card fields: snake_case names, text or lists of text.

    Raises:
        BadInput: the card is not a mapping, or a field is malformed; names the field.
    """
    if not isinstance(fields, Mapping) or not fields:
        raise BadInput(
            "a model card is a non-empty mapping of field to text, e.g. "
            "intended_use: ..., limitations: ..., training_data: ..."
        )
    clean: dict[str, str | tuple[str, ...]] = {}
    for name, value in fields.items():
        if not isinstance(name, str) or not name or not set(name) <= FIELD_NAME_CHARS:
            raise BadInput(f"card field {name!r}: names are lowercase snake_case")
        if isinstance(value, str):
            items: Sequence[object] = [value]
        elif isinstance(value, list | tuple):
            items = value
        else:
            raise BadInput(
                f"card field {name!r} must be text or a list of text, not {type(value).__name__}"
            )
        for item in items:
            if not isinstance(item, str | int | float) or isinstance(item, bool):
                raise BadInput(f"card field {name!r} must be text or a list of text")
            try:
                shown = str(item)
            except ValueError:
                raise BadInput(f"card field {name!r} holds a number too large to show") from None
            if len(shown) > MAX_FIELD_CHARS:
                raise BadInput(f"card field {name!r} is over {MAX_FIELD_CHARS} characters")
        clean[name] = value if isinstance(value, str) else tuple(str(v) for v in items)
    return clean


def field_title(name: str) -> str:
    """A snake_case card field or fact name as a heading: ``intended_use`` -> ``Intended use``."""
    return name.replace("_", " ").capitalize()


def render_markdown(
    *,
    entry: str,
    version: int,
    kind: str,
    digest: str,
    facts: Mapping[str, str],
    card: ModelCard | None,
    lineage: Sequence[str] = (),
    evals: Sequence[str] = (),
) -> str:
    """Render a version's model card as Markdown: facts, card sections (a card set from a
    Markdown file shows that Markdown instead), lineage, evals."""
    lines = [f"# {entry} v{version}", "", f"*{kind}* · digest `{digest[:12]}…`", ""]
    for key, fact in facts.items():
        if fact:
            lines.append(f"- **{field_title(key)}**: {fact}")
    lines.append("")
    if card is None:
        lines += ["_No model card has been set for this version._", ""]
    elif card.body.strip():
        lines += [card.body.strip(), ""]
        lines += [f"_Card set by {card.set_by} at {card.set_at.isoformat()}._", ""]
    else:
        for name, value in card.fields.items():
            lines += [f"## {field_title(name)}", ""]
            if isinstance(value, tuple):
                lines += [f"- {v}" for v in value]
            else:
                lines.append(value)
            lines.append("")
        lines += [f"_Card set by {card.set_by} at {card.set_at.isoformat()}._", ""]
    if lineage:
        lines += ["## Lineage", ""] + [f"- {item}" for item in lineage] + [""]
    if evals:
        lines += ["## Evaluation results", ""] + [f"- {item}" for item in evals] + [""]
    return "\n".join(lines).rstrip() + "\n"
