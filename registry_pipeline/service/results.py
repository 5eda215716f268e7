"""What the use cases return: frozen values whose ``to_dict()`` is the CLI's ``--json``
document and the HTTP API's body, key for key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry_pipeline.core.gates import GateResult
    from registry_pipeline.core.versions import DownstreamLink, UpstreamLink


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogChange:
    """A catalog recorded (``changed``) or found identical to the current one."""

    catalog: str
    changed: bool

    def to_dict(self) -> dict[str, Any]:
        """``{catalog, changed}``."""
        return {"catalog": self.catalog, "changed": self.changed}


@dataclass(frozen=True, slots=True, kw_only=True)
class Initialised:
    """A registry created or upgraded, with the catalog it now holds."""

    database: str
    entries: int
    catalog: str | None = None
    changed: bool = False

    def to_dict(self) -> dict[str, Any]:
        """``{database, catalog, changed, entries}``."""
        return {
            "database": self.database,
            "catalog": self.catalog,
            "changed": self.changed,
            "entries": self.entries,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Registered:
    """The outcome of a registration; ``created`` is false when the content existed."""

    entry: str
    version: int
    digest: str
    size: int
    file_count: int
    created: bool
    format: str = "files"
    upstream: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """``{entry, version, digest, size, files, created, format, upstream, warnings}``."""
        return {
            "entry": self.entry,
            "version": self.version,
            "digest": self.digest,
            "size": self.size,
            "files": self.file_count,
            "created": self.created,
            "format": self.format,
            "upstream": list(self.upstream),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class EvalView:
    """An eval result as shown with its version."""

    suite: str
    suite_version: int
    metrics: Mapping[str, float]
    produced_at: str
    recorded_by: str

    def to_dict(self) -> dict[str, Any]:
        """``{suite, suite_version, metrics, produced_at, recorded_by}``."""
        return {
            "suite": self.suite,
            "suite_version": self.suite_version,
            "metrics": dict(self.metrics),
            "produced_at": self.produced_at,
            "recorded_by": self.recorded_by,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionView:
    """A version with its stage, lineage, evidence and card (``registry show``)."""

    entry: str
    kind: str
    owner: str
    version: int
    digest: str
    stage: str | None
    size: int
    file_count: int
    source: str
    params: Mapping[str, Any]
    format: Mapping[str, Any]
    origin: Mapping[str, Any] | None
    created_at: str
    created_by: str
    lineage: Sequence[UpstreamLink]
    evals: Sequence[EvalView]
    ab_tests: Sequence[Mapping[str, Any]]
    card: Mapping[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        """The ``show`` document."""
        return {
            "entry": self.entry,
            "kind": self.kind,
            "owner": self.owner,
            "version": self.version,
            "digest": self.digest,
            "stage": self.stage,
            "size": self.size,
            "file_count": self.file_count,
            "source": self.source,
            "params": dict(self.params),
            "format": dict(self.format),
            "origin": dict(self.origin) if self.origin is not None else None,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "lineage": [u.to_dict() for u in self.lineage],
            "evals": [e.to_dict() for e in self.evals],
            "ab_tests": [dict(a) for a in self.ab_tests],
            "card": dict(self.card) if self.card is not None else None,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class EntrySummary:
    """A catalog entry with its version count and stage holders (``registry list``)."""

    entry: str
    kind: str
    owner: str
    versions: int
    latest: int | None
    staging: int | None
    production: int | None

    def to_dict(self) -> dict[str, Any]:
        """One row of the ``list`` document."""
        return {
            "entry": self.entry,
            "kind": self.kind,
            "owner": self.owner,
            "versions": self.versions,
            "latest": self.latest,
            "staging": self.staging,
            "production": self.production,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class LineageNode:
    """An upstream version and, recursively, its own upstream."""

    link: UpstreamLink
    upstream: Sequence[LineageNode]

    def to_dict(self) -> dict[str, Any]:
        """The link's fields plus ``upstream``."""
        return {**self.link.to_dict(), "upstream": [n.to_dict() for n in self.upstream]}


@dataclass(frozen=True, slots=True, kw_only=True)
class LineageView:
    """The full upstream tree of a version and its direct downstream versions."""

    entry: str
    version: int
    digest: str
    upstream: Sequence[LineageNode]
    downstream: Sequence[DownstreamLink]

    def to_dict(self) -> dict[str, Any]:
        """The ``lineage`` document."""
        return {
            "entry": self.entry,
            "version": self.version,
            "digest": self.digest,
            "upstream": [n.to_dict() for n in self.upstream],
            "downstream": [d.to_dict() for d in self.downstream],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class EvalRecorded:
    """An eval result recorded as evidence."""

    id: int | None
    entry: str
    version: int
    suite: str
    suite_version: int
    metrics: Mapping[str, float]
    produced_at: str

    def to_dict(self) -> dict[str, Any]:
        """The ``eval ingest`` document."""
        return {
            "id": self.id,
            "entry": self.entry,
            "version": self.version,
            "suite": self.suite,
            "suite_version": self.suite_version,
            "metrics": dict(self.metrics),
            "produced_at": self.produced_at,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ABRecorded:
    """An A/B test result recorded on both versions it compared; ``document`` is the
    normalised result as stored."""

    entry: str
    experiment: str
    metric: str
    control_version: int
    treatment_version: int
    lift: float
    decision: str
    document: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The normalised A/B document."""
        return dict(self.document)


@dataclass(frozen=True, slots=True, kw_only=True)
class CardSet:
    """A card recorded for a version."""

    entry: str
    version: int
    card: Mapping[str, Any]
    sections: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``{entry, version, card}``, and ``sections`` (which README sections filled
        which field) for a card read from a Hugging Face README.md."""
        data: dict[str, Any] = {
            "entry": self.entry,
            "version": self.version,
            "card": dict(self.card),
        }
        if self.sections:
            data["sections"] = {k: list(v) for k, v in self.sections.items()}
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class CardView:
    """A version's card fields and the card rendered as Markdown."""

    entry: str
    version: int
    card: Mapping[str, Any] | None
    set_by: str | None
    set_at: str | None
    markdown: str
    front_matter: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``card`` document."""
        return {
            "entry": self.entry,
            "version": self.version,
            "card": dict(self.card) if self.card is not None else None,
            "front_matter": dict(self.front_matter) if self.front_matter else None,
            "set_by": self.set_by,
            "set_at": self.set_at,
            "markdown": self.markdown,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Decided:
    """An approver's decision on a request; ``replaced`` when it replaced their earlier one."""

    request: int
    decision: str
    approver: str
    signed: bool
    replaced: bool = False

    def to_dict(self) -> dict[str, Any]:
        """``{request, decision, approver, signed}`` (and ``replaced`` when true)."""
        data: dict[str, Any] = {
            "request": self.request,
            "decision": self.decision,
            "approver": self.approver,
            "signed": self.signed,
        }
        if self.replaced:
            data["replaced"] = True
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class Withdrawn:
    """A pending request withdrawn by its requester or an admin."""

    request: int
    entry: str
    version: int
    target: str
    by: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """The ``withdraw`` document."""
        return {
            "request": self.request,
            "entry": self.entry,
            "version": self.version,
            "target": self.target,
            "status": "withdrawn",
            "by": self.by,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class GateReport:
    """Every gate's verdict on a request."""

    request: int
    entry: str
    version: int
    target: str
    passed: bool
    gates: list[GateResult]

    def to_dict(self) -> dict[str, Any]:
        """The ``gates`` document."""
        return {
            "request": self.request,
            "entry": self.entry,
            "version": self.version,
            "target": self.target,
            "passed": self.passed,
            "gates": [asdict(g) for g in self.gates],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class StageChange:
    """A stage moved: what holds it now and what it displaced."""

    entry: str
    stage: str
    version: int
    previous: int | None
    ledger_seq: int
    request: int | None = None
    approved_by: list[str] = field(default_factory=list)
    left: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``apply`` / ``rollback`` document."""
        return {
            "entry": self.entry,
            "stage": self.stage,
            "version": self.version,
            "previous": self.previous,
            "request": self.request,
            "approved_by": list(self.approved_by),
            "ledger_seq": self.ledger_seq,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Pinned:
    """An exact version with its digest (a stack or one of its components)."""

    entry: str
    version: int
    digest: str
    kind: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{entry, version, digest}`` (and ``kind`` for a component)."""
        data: dict[str, Any] = {"entry": self.entry, "version": self.version, "digest": self.digest}
        if self.kind is not None:
            data = {"entry": self.entry, "kind": self.kind, **data}
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class AsOf:
    """The instant an answer is for and the ledger head it was read at."""

    time: str
    ledger_seq: int
    ledger_head: str

    def to_dict(self) -> dict[str, Any]:
        """``{time, ledger_seq, ledger_head}``."""
        return {"time": self.time, "ledger_seq": self.ledger_seq, "ledger_head": self.ledger_head}


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolution:
    """The stack serving a workload in production at an instant, and who approved it."""

    workload: str
    stack: Pinned
    components: Sequence[Pinned]
    approved_by: Sequence[str]
    since: str
    request: int | None
    ledger_seq: int
    """The ledger event that put the stack in production (what ``resolve --verify`` proves)."""
    as_of: AsOf

    def to_dict(self) -> dict[str, Any]:
        """The ``resolve`` document."""
        return {
            "workload": self.workload,
            "stack": self.stack.to_dict(),
            "components": [c.to_dict() for c in self.components],
            "approved_by": list(self.approved_by),
            "since": self.since,
            "request": self.request,
            "ledger_seq": self.ledger_seq,
            "as_of": self.as_of.to_dict(),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryItem:
    """One stage assignment of an entry (``registry history``)."""

    entry: str
    version: int
    stage: str
    effective_from: str
    effective_to: str | None
    actor: str
    reason: str
    cause: str
    request: int | None
    approved_by: Sequence[str]
    ledger_seq: int

    def to_dict(self) -> dict[str, Any]:
        """One row of the ``history`` document."""
        return {
            "entry": self.entry,
            "version": self.version,
            "stage": self.stage,
            "effective_from": self.effective_from,
            "effective_to": self.effective_to,
            "actor": self.actor,
            "reason": self.reason,
            "cause": self.cause,
            "request": self.request,
            "approved_by": list(self.approved_by),
            "ledger_seq": self.ledger_seq,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewItem:
    """A production version whose approval, evals or provider snapshot need attention."""

    entry: str
    version: int
    what: str
    age_days: float | None
    limit_days: float
    since: str | None
    model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """One row of the ``review due`` document (``model`` for a provider deprecation)."""
        data: dict[str, Any] = {
            "entry": self.entry,
            "version": self.version,
            "what": self.what,
            "age_days": self.age_days,
            "limit_days": self.limit_days,
            "since": self.since,
        }
        if self.model is not None:
            data["model"] = self.model
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class Anchor:
    """The ledger head as an anchor to keep outside the registry (``SEQ:HASH``)."""

    seq: int
    hash: str
    recorded_at: str

    @property
    def anchor(self) -> str:
        """``SEQ:HASH``, as ``registry audit verify --anchor`` takes it."""
        return f"{self.seq}:{self.hash}"

    def to_dict(self) -> dict[str, Any]:
        """``{seq, hash, recorded_at, anchor}``."""
        return {
            "seq": self.seq,
            "hash": self.hash,
            "recorded_at": self.recorded_at,
            "anchor": self.anchor,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class AnchorCheck:
    """Where an anchor taken earlier was found in the chain."""

    seq: int | None
    hash: str
    found_at: int | None

    def to_dict(self) -> dict[str, Any]:
        """``{seq, hash, found_at}``."""
        return {"seq": self.seq, "hash": self.hash, "found_at": self.found_at}


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerVerdict:
    """The verdict on the ledger: ``broken_at`` is the first bad seq."""

    ok: bool
    events: int
    head: str
    broken_at: int | None = None
    problem: str | None = None
    anchor: AnchorCheck | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``audit verify`` document."""
        data: dict[str, Any] = {
            "ok": self.ok,
            "events": self.events,
            "head": self.head,
            "broken_at": self.broken_at,
            "problem": self.problem,
        }
        if self.anchor is not None:
            data["anchor"] = self.anchor.to_dict()
        return data
