"""Entry kinds and entry names."""

from __future__ import annotations

import re
from enum import StrEnum

from registry_pipeline.core.errors import BadInput

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")


class EntryKind(StrEnum):
    """What a registry entry is."""

    BASE_MODEL = "base_model"
    FINE_TUNE = "fine_tune"
    LORA_ADAPTER = "lora_adapter"
    EMBEDDING_MODEL = "embedding_model"
    CLASSIFIER = "classifier"
    RERANKER = "reranker"
    PROVIDER_MODEL = "provider_model"
    PROMPT_TEMPLATE = "prompt_template"
    RETRIEVAL_INDEX = "retrieval_index"
    EVAL_SUITE = "eval_suite"
    DATASET = "dataset"
    SKILL = "skill"
    STACK = "stack"

    @property
    def is_model(self) -> bool:
        """Models carry weights or stand for a hosted model; they need a license and evals."""
        return self in MODEL_KINDS

    @property
    def is_evaluated(self) -> bool:
        """Versions of this kind must pass the stage's required evals to be promoted."""
        return self in MODEL_KINDS or self is EntryKind.STACK


MODEL_KINDS = frozenset(
    {
        EntryKind.BASE_MODEL,
        EntryKind.FINE_TUNE,
        EntryKind.LORA_ADAPTER,
        EntryKind.EMBEDDING_MODEL,
        EntryKind.CLASSIFIER,
        EntryKind.RERANKER,
        EntryKind.PROVIDER_MODEL,
    }
)


def parse_kind(value: str) -> EntryKind:
    """Return the :class:`EntryKind` named ``value``.

    Raises:
        BadInput: ``value`` names no kind; the message lists the kinds.
    """
    try:
        return EntryKind(value)
    except ValueError:
        kinds = ", ".join(k.value for k in EntryKind)
        raise BadInput(f"unknown kind {value!r}; use one of: {kinds}") from None


def check_name(name: str, *, what: str = "entry name") -> str:
    """Return ``name`` if it is a valid entry name, else raise :class:`BadInput`.

    Names are lowercase letters, digits, ``-``, ``_`` and ``.``, start with a letter or
    digit, hold no ``..`` and are at most 128 characters long.
    """
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or ".." in name:
        shown = name if isinstance(name, str) and len(name) <= 140 else f"{str(name)[:40]}..."
        raise BadInput(
            f"invalid {what} {shown!r}: use lowercase letters, digits, '-', '_' and '.', "
            "starting with a letter or digit, without '..', at most 128 characters"
        )
    return name
