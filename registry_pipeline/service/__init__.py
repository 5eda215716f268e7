"""The :class:`Registry` facade: every use case, one transaction and ledger event each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry_pipeline.core.identity import Principal
from registry_pipeline.core.ledger import LedgerHead
from registry_pipeline.core.names import check_actor, check_reason
from registry_pipeline.core.promotion import Decision, PromotionRequest
from registry_pipeline.service import results as result
from registry_pipeline.service._cases import (
    approval_cases,
    audit_cases,
    catalog_cases,
    content_cases,
    deployment_cases,
    event_cases,
    evidence_cases,
    identity,
    pipeline_cases,
    promotion_cases,
    query_cases,
    registration_cases,
    review_cases,
    search_cases,
    transparency_cases,
    webhook_cases,
)
from registry_pipeline.service.context import Context, default_actor, local_principal, open_store
from registry_pipeline.service.results import Registered
from registry_pipeline.settings import DEFAULT_DATABASE_URL as DEFAULT_URL
from registry_pipeline.settings import deployments_root

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from registry_pipeline.core.catalog import Catalog
    from registry_pipeline.core.gates import GateResult
    from registry_pipeline.inputs.card_files import CardDocument
    from registry_pipeline.inspection import Inspection
    from registry_pipeline.service.approvals import Signed
    from registry_pipeline.service.search import SearchResult
    from registry_pipeline.store import Store

__all__ = ["Registered", "Registry", "check_actor", "check_reason", "default_actor"]
Input = str | Path | Mapping[str, Any]


class Registry:
    """The registry's use cases over one store and the catalog loaded into it."""

    def __init__(
        self,
        store: Store,
        *,
        actor: str | None = None,
        deployments: str | Path | None = None,
        principal: Principal | None = None,
    ) -> None:
        """Act as ``principal`` (authenticated), else locally as ``actor`` or the OS user."""
        self.store = store
        self.principal = principal or local_principal(check_actor(actor or default_actor()))
        self.actor = self.principal.name
        self.deployments = deployments_root(deployments)
        self._ctx = Context(store=store, principal=self.principal, deployments=self.deployments)

    @classmethod
    def open(
        cls,
        url: str = DEFAULT_URL,
        *,
        actor: str | None = None,
        deployments: str | Path | None = None,
    ) -> Registry:
        """Open the registry at ``url`` (:class:`NotFound` if there is none)."""
        return cls(open_store(url), actor=actor, deployments=deployments)

    @classmethod
    def init(
        cls, url: str = DEFAULT_URL, *, catalog: str | Path | None = None, actor: str | None = None
    ) -> tuple[Registry, result.Initialised]:
        """Create (or upgrade) the registry at ``url`` and record ``catalog`` in it."""
        loaded = catalog_cases.read_catalog(catalog)  # a malformed catalog creates nothing
        registry = cls(open_store(url, create=True), actor=actor)
        return registry, catalog_cases.initialise(registry._ctx, url, loaded)

    def record_catalog(
        self, catalog: Catalog, document: Mapping[str, Any], *, source: str
    ) -> result.CatalogChange:
        """Record a new catalog (entries, workloads, policy) in the store, if it changed."""
        return catalog_cases.record_catalog(self._ctx, catalog, document, source=source)

    def catalog(self) -> Catalog:
        """The catalog currently recorded in the store."""
        with self.store.read() as conn:
            return self._ctx.catalog(conn)

    def catalog_in(self, conn: Connection) -> Catalog:
        """The catalog as recorded, read on ``conn`` (a reader's own transaction)."""
        return self._ctx.catalog(conn)

    def register(self, entry: str, source: str | Path, **options: Any) -> Registered:
        """Register ``source`` (a folder or file) as a version of ``entry``; ``options``:
        params, upstream, exclude, expected_digest, rehash, progress (see registration)."""
        return registration_cases.register(self._ctx, entry, source, **options)

    def register_inspected(self, entry: str, inspection: Inspection, **pins: Any) -> Registered:
        """Record a source a client inspected (``params``, ``upstream`` as for register)."""
        return registration_cases.register_inspected(self._ctx, entry, inspection, **pins)

    def register_stack(self, stack: str, pins: Sequence[str]) -> Registered:
        """Register a stack version pinning an exact version of each of its components."""
        return registration_cases.register_stack(self._ctx, stack, pins)

    def import_version(self, entry: str, **version: Any) -> Registered:
        """Record a version from another registry (see :func:`.registration.import_version`)."""
        return registration_cases.import_version(self._ctx, entry, **version)

    def import_stage(
        self, entry: str, version: int, *, stage: str, origin: Mapping[str, Any]
    ) -> result.StageChange | None:
        """Put an imported version in ``stage`` as its origin registry had it."""
        return promotion_cases.import_stage(self._ctx, entry, version, stage=stage, origin=origin)

    def latest_versions(self, entries: Sequence[str]) -> dict[str, int | None]:
        """The newest version number of each of ``entries`` (``None`` when it has none)."""
        return registration_cases.latest_versions(self._ctx, entries)

    def ingest_evals(self, ref: str, results: Input, *, suite: str) -> result.EvalRecorded:
        """Record eval results of ``suite`` (``SUITE@VERSION``) for version ``ref``."""
        return evidence_cases.ingest_evals(self._ctx, ref, results, suite=suite)

    def ingest_ab(self, results: Input) -> result.ABRecorded:
        """Record an online A/B test result as evidence on both versions it compared."""
        return evidence_cases.ingest_ab(self._ctx, results)

    def set_card(self, ref: str, fields: Input | CardDocument) -> result.CardSet:
        """Set the model card of version ``ref`` from a mapping or a file."""
        return evidence_cases.set_card(self._ctx, ref, fields)

    def request_promotion(self, ref: str, *, to: str, reason: str) -> PromotionRequest:
        """Open a request to move version ``ref`` to stage ``to``."""
        return promotion_cases.request_promotion(self._ctx, ref, to=to, reason=reason)

    def approve(
        self,
        request_id: int,
        *,
        reason: str,
        key: str | Path | None = None,
        signed: Signed | None = None,
    ) -> result.Decided:
        """Approve a pending request (not one's own), signed with ``key`` or ``signed``."""
        return approval_cases.decide(
            self._ctx, request_id, Decision.APPROVE, reason=reason, key=key, signed=signed
        )

    def to_sign(self, request_id: int, *, reason: str) -> approval_cases.ToSign:
        """The approval document to sign away from the registry, good for 10 minutes."""
        return approval_cases.to_sign(self._ctx, request_id, reason=reason)

    def reject(self, request_id: int, *, reason: str) -> result.Decided:
        """Reject a pending request; a rejected request can never be applied."""
        return approval_cases.decide(self._ctx, request_id, Decision.REJECT, reason=reason)

    def withdraw(self, request_id: int, *, reason: str) -> result.Withdrawn:
        """Withdraw a pending request (its requester or an admin)."""
        return approval_cases.withdraw(self._ctx, request_id, reason=reason)

    def gates(self, request_id: int) -> result.GateReport:
        """Evaluate every gate of a request now, without changing anything."""
        return promotion_cases.gates(self._ctx, request_id)

    def readiness(self, ref: str, *, target: str = "production") -> list[GateResult]:
        """The evidence gates of version ``ref`` as a promotion to ``target`` sees them."""
        return promotion_cases.readiness(self._ctx, ref, target=target)

    def request_status(self, request_id: int) -> str:
        """``pending``, ``applied``, ``rejected`` or ``withdrawn``."""
        return promotion_cases.request_status(self._ctx, request_id)

    def pending_requests(self) -> list[PromotionRequest]:
        """Every request still pending, oldest first."""
        return promotion_cases.pending_requests(self._ctx)

    def apply(self, request_id: int) -> result.StageChange:
        """Apply a request if every gate passes, re-checked in the same transaction."""
        return promotion_cases.apply(self._ctx, request_id)

    def rollback(self, entry: str, *, stage: str, reason: str) -> result.StageChange:
        """Return ``stage`` of ``entry`` to the version that held it before."""
        return promotion_cases.rollback(self._ctx, entry, stage=stage, reason=reason)

    def write_deployments(self, stack: str | None = None) -> list[str]:
        """Rewrite the deployment manifests of the workloads ``stack`` serves (or all)."""
        return deployment_cases.write_deployments(self._ctx, stack)

    def show(self, ref: str) -> result.VersionView:
        """A version with its stage, lineage, evals and card (``ENTRY[@VERSION|@STAGE]``)."""
        return query_cases.show(self._ctx, ref)

    def search(self, **query: Any) -> SearchResult:
        """Versions by params tag and eval metric, from the store's indexes (see search)."""
        return search_cases.search(self._ctx, **query)

    def list_entries(self, *, kind: str | None = None) -> list[result.EntrySummary]:
        """Every catalog entry with its version count, latest version and stage holders."""
        return query_cases.list_entries(self._ctx, kind=kind)

    def lineage(self, ref: str) -> result.LineageView:
        """The full upstream tree of a version and its direct downstream versions."""
        return query_cases.lineage(self._ctx, ref)

    def card(self, ref: str) -> result.CardView:
        """A version's card fields and the card rendered as Markdown."""
        return query_cases.card(self._ctx, ref)

    def resolve(self, workload: str, *, at: str | datetime | None = None) -> result.Resolution:
        """The stack serving ``workload`` in production, now or at instant ``at``."""
        return query_cases.resolve(self._ctx, workload, at=at)

    def history(self, entry: str, *, stage: str | None = None) -> list[result.HistoryItem]:
        """Every stage assignment of ``entry`` (optionally of one stage), oldest first."""
        return query_cases.history(self._ctx, entry, stage=stage)

    def review_due(self, *, entry: str | None = None) -> list[result.ReviewItem]:
        """Production versions whose approval or evals have outlived the policy."""
        return query_cases.review_due(self._ctx, entry=entry)

    def ledger_head(self) -> LedgerHead:
        """The recorded head of the ledger."""
        return query_cases.ledger_head(self._ctx)

    def anchor(self) -> result.Anchor:
        """The ledger head as an anchor (``SEQ:HASH``) to keep outside the registry."""
        return audit_cases.anchor(self._ctx)

    def verify(self, *, anchor: str | None = None) -> result.LedgerVerdict:
        """Recompute the ledger chain against the recorded head and an optional anchor."""
        return audit_cases.verify(self._ctx, anchor=anchor)

    @property
    def automation(self) -> pipeline_cases.Automation:
        """The questions the Dagster layer asks: latest pins, stack versions due, readiness."""
        return pipeline_cases.Automation(self._ctx)

    @property
    def tokens(self) -> identity.Tokens:
        """Registry tokens: ``create``, ``list``, ``revoke``."""
        return identity.Tokens(self._ctx)

    @property
    def webhooks(self) -> webhook_cases.Webhooks:
        """Webhooks: ``add``, ``list``, ``remove``, ``enable``, ``deliveries``, ``redeliver``."""
        return webhook_cases.Webhooks(self._ctx)

    @property
    def review(self) -> review_cases.Review:
        """What the web UI shows: ``inbox``, ``request``, ``workload``, ``entry``."""
        return review_cases.Review(self._ctx)

    @property
    def ledger(self) -> transparency_cases.Ledger:
        """The ledger's Merkle tree: ``head``, ``inclusion``, ``consistency``."""
        return transparency_cases.Ledger(self._ctx)

    def events(self, *, after: int = 0, limit: int = 100) -> event_cases.Feed:
        """Up to ``limit`` ledger events after seq ``after``, oldest first, and the cursor."""
        return event_cases.feed(self._ctx, after=after, limit=limit)

    def whoami(self) -> identity.WhoAmI:
        """The acting principal, how it was authenticated, and its roles."""
        return identity.whoami(self._ctx)

    def verify_content(self, ref: str, path: str | Path) -> content_cases.ContentCheck:
        """Whether the bytes at ``path`` are exactly version ``ref``'s."""
        return content_cases.verify_content(self._ctx, ref, path)
