"""Retrieval index manifests: ``index.json`` beside the index's vectors.

Example::

    {
      "embedding_model": "bge-small-en@1",
      "chunking": {"strategy": "section", "max_tokens": 256},
      "documents": 3,
      "chunks": 12,
      "source_snapshot": "kb-docs-2026-11@1"
    }

``embedding_model`` and ``source_snapshot`` are registry references (``ENTRY@VERSION``)
or plain names (a hub id, a snapshot label); both become upstream hints. ``chunking``
is a non-empty object describing how documents were cut. ``dimension`` (vector size) and
``similarity`` (e.g. ``cosine``) are optional. No other key is accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from registry_pipeline.core.refs import parse_exact
from registry_pipeline.errors import BadInput
from registry_pipeline.formats._common import hint, read_json, validate

MANIFEST_NAME = "index.json"


class IndexManifest(BaseModel):
    """A validated retrieval index manifest."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    embedding_model: str
    chunking: dict[str, Any]
    documents: int
    chunks: int
    source_snapshot: str
    dimension: int | None = None
    similarity: str | None = None

    @field_validator("embedding_model", "source_snapshot")
    @classmethod
    def _reference(cls, value: str) -> str:
        if not value or len(value) > 256 or any(c.isspace() for c in value):
            raise ValueError(f"{value!r} must be ENTRY@VERSION or a name without spaces")
        if "@" in value:
            try:
                parse_exact(value)
            except BadInput as e:
                raise ValueError(str(e)) from None
        return value

    @field_validator("chunking")
    @classmethod
    def _chunking(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            raise ValueError('describe the chunking, e.g. {"strategy": "section"}')
        return value

    @field_validator("documents", "chunks")
    @classmethod
    def _count(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must be a count, 0 or more")
        return value

    @field_validator("dimension")
    @classmethod
    def _dimension(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError("must be 1 or more")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> IndexManifest:
        if self.documents == 0 and self.chunks > 0:
            raise ValueError(f"{self.chunks} chunks but no documents")
        return self


def parse_index_manifest(document: Any, where: str) -> IndexManifest:
    """Validate a parsed manifest.

    Raises:
        BadInput: a key is missing, unknown or invalid; the message names the file.
    """
    return validate(IndexManifest, document, where)


def read_index_manifest(path: Path, *, where: str | None = None) -> IndexManifest:
    """Read and validate an ``index.json``; see :func:`parse_index_manifest`."""
    shown_as = where or path.name
    return parse_index_manifest(read_json(path, shown_as), shown_as)


def is_index_manifest(document: Any) -> bool:
    """True when a JSON document claims to be a retrieval index manifest."""
    return isinstance(document, dict) and "embedding_model" in document


def index_facts(manifest: IndexManifest) -> dict[str, Any]:
    """Facts: the manifest's keys (optional ones only when set)."""
    return manifest.model_dump(mode="json", exclude_none=True)


def index_hints(manifest: IndexManifest, where: str) -> list[dict[str, Any]]:
    """Upstream hints: the embedding model and the source snapshot."""
    return [
        hint(manifest.embedding_model, "embedding_model", f"{where}:embedding_model"),
        hint(manifest.source_snapshot, "source_snapshot", f"{where}:source_snapshot"),
    ]
