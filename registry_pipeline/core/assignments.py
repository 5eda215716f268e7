"""Stage assignments: which version held which stage from when to when, and why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from registry_pipeline.core.stages import Stage


@dataclass(frozen=True, slots=True, kw_only=True)
class Assignment:
    """One interval of a version in a stage; ``effective_to`` is ``None`` while open.

    Instants are ISO 8601 UTC text, as stored (text order is time order)."""

    id: int
    entry: str
    number: int
    stage: Stage
    effective_from: str
    effective_to: str | None
    actor: str
    reason: str
    cause: str
    request_id: int | None
    approved_by: Sequence[str] = field(default_factory=tuple)
    ledger_seq: int
