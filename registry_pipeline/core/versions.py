"""A registered version and its lineage edges, as the store holds them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Version:
    """One immutable version of an entry. Instants are ISO 8601 UTC text, as stored."""

    entry: str
    number: int
    digest: str
    size: int
    file_count: int
    source: str
    params: Mapping[str, Any] = field(default_factory=dict)
    format: Mapping[str, Any] = field(default_factory=dict)
    origin: Mapping[str, Any] | None = None
    created_at: str
    created_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamLink:
    """A version's direct upstream: the exact version it came from, and how."""

    entry: str
    version: int
    relation: str
    digest: str
    kind: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "entry": self.entry,
            "version": self.version,
            "relation": self.relation,
            "digest": self.digest,
            "kind": self.kind,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class DownstreamLink:
    """A version that names another as its upstream."""

    entry: str
    version: int
    relation: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"entry": self.entry, "version": self.version, "relation": self.relation}
