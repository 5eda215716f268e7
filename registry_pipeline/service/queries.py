"""The read side: versions, entries, lineage, cards, what runs where, history, reviews."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from registry_pipeline.core.kinds import check_name, parse_kind
from registry_pipeline.core.ledger import LedgerHead
from registry_pipeline.core.refs import VersionRef, parse_exact, parse_ref
from registry_pipeline.core.stages import SINGLE_HOLDER_STAGES, Stage, parse_stage
from registry_pipeline.core.times import format_time, parse_instant, parse_stored
from registry_pipeline.core.versions import Version
from registry_pipeline.errors import BadInput, NotFound, Step
from registry_pipeline.service.cache import Head, cached
from registry_pipeline.service.context import Context
from registry_pipeline.service.results import (
    AsOf,
    CardView,
    EntrySummary,
    EvalView,
    HistoryItem,
    LineageNode,
    LineageView,
    Pinned,
    Resolution,
    ReviewItem,
    VersionView,
)
from registry_pipeline.store import dumps, ledger, loads, stages, versions

# What only some questions need (evidence, cards, reviews and the gates they import) is
# imported by them, so that ``resolve``, the question a deploy script asks, loads none of it.
if TYPE_CHECKING:
    from sqlalchemy import Connection

    from registry_pipeline.core.ab_tests import ABResult
    from registry_pipeline.core.catalog import Catalog

MAX_LINEAGE_DEPTH = 64


def resolve_ref(conn: Connection, catalog: Catalog, ref: VersionRef) -> Version:
    """The version ``ENTRY[@VERSION|@STAGE]`` names (the latest when it names none).

    Raises:
        NotFound: unknown entry, no such version, nothing in the stage, or no versions.
        BadInput: a stage that can hold several versions.
    """
    catalog.entry(ref.entry)
    if ref.version is not None:
        return versions.version(conn, ref.entry, ref.version)
    if ref.stage is not None:
        if ref.stage not in SINGLE_HOLDER_STAGES:
            raise BadInput(f"{ref}: only staging and production have one holder; name a version")
        held = stages.holder(conn, ref.entry, ref.stage)
        if held is None:
            raise NotFound(f"no version of {ref.entry} is in {ref.stage}", entry=ref.entry)
        return versions.version(conn, ref.entry, held.number)
    latest = versions.latest_number(conn, ref.entry)
    if latest is None:
        raise NotFound(
            f"{ref.entry} has no versions yet",
            entry=ref.entry,
            step=Step.REGISTER_VERSION,
        )
    return versions.version(conn, ref.entry, latest)


def show(ctx: Context, ref: str) -> VersionView:
    """A version with its stage, lineage, evals and card (``ENTRY[@VERSION|@STAGE]``);
    kept in memory until the ledger moves."""
    parsed = parse_ref(ref)
    return cached(ctx.store, ("show", parsed), lambda: _show(ctx, parsed))


def _show(ctx: Context, parsed: VersionRef) -> tuple[Head, VersionView]:
    from registry_pipeline.store.shown import shown

    with ctx.store.read() as conn:
        found = None
        if parsed.stage is None or parsed.stage in SINGLE_HOLDER_STAGES:
            latest, found = shown(
                conn,
                parsed.entry,
                number=parsed.version,
                stage=str(parsed.stage) if parsed.stage is not None else None,
            )
        if found is None:  # no such version, or a stage of many: say which, as refs do
            resolve_ref(conn, ctx.catalog(conn), parsed)
            raise AssertionError("resolve_ref raises for what shown() does not find")
        catalog = ctx.catalog_of(conn, latest)
    v, stage_name = found.version, found.stage
    spec = catalog.entry(v.entry)
    evals, card, upstream, ab_tests = found.evals, found.card, found.upstream, found.ab_tests
    head = found.head
    return head, VersionView(
        entry=v.entry,
        kind=spec.kind.value,
        owner=spec.owner,
        version=v.number,
        digest=v.digest,
        stage=stage_name,
        size=v.size,
        file_count=v.file_count,
        source=v.source,
        params=v.params,
        format=v.format,
        origin=v.origin,
        created_at=v.created_at,
        created_by=v.created_by,
        lineage=upstream,
        evals=[
            EvalView(
                suite=e.suite,
                suite_version=e.suite_version,
                metrics=dict(e.metrics),
                produced_at=format_time(e.produced_at),
                recorded_by=e.recorded_by,
            )
            for e in evals
        ],
        ab_tests=[ab_dict(r) for r in ab_tests],
        card=dict(card.fields) if card else None,
    )


def ab_dict(result: ABResult) -> dict[str, Any]:
    """An A/B result as ``show`` lists it: the document as stored (canonical key order),
    then who recorded it and when."""
    return {
        **loads(dumps(result.to_document())),
        "recorded_at": format_time(result.recorded_at) if result.recorded_at else None,
        "recorded_by": result.recorded_by,
    }


def list_entries(ctx: Context, *, kind: str | None = None) -> list[EntrySummary]:
    """Every catalog entry with its version count, latest version and stage holders."""
    wanted = parse_kind(kind) if kind else None
    with ctx.store.read() as conn:
        catalog = ctx.catalog(conn)
        counts = versions.counts(conn)
        holders = stages.holders(conn)
    out = []
    for name, spec in sorted(catalog.entries.items()):
        if wanted is not None and spec.kind is not wanted:
            continue
        n, latest = counts.get(name, (0, None))
        out.append(
            EntrySummary(
                entry=name,
                kind=spec.kind.value,
                owner=spec.owner,
                versions=n,
                latest=latest,
                staging=holders.get((name, Stage.STAGING)),
                production=holders.get((name, Stage.PRODUCTION)),
            )
        )
    return out


def lineage(ctx: Context, ref: str) -> LineageView:
    """The full upstream tree of a version and its direct downstream versions."""
    exact = parse_exact(ref)
    with ctx.store.read() as conn:
        v = resolve_ref(
            conn, ctx.catalog(conn), VersionRef(entry=exact.entry, version=exact.version)
        )

        def tree(entry: str, number: int, depth: int) -> list[LineageNode]:
            if depth > MAX_LINEAGE_DEPTH:
                return []
            return [
                LineageNode(link=u, upstream=tree(u.entry, u.version, depth + 1))
                for u in versions.upstream_of(conn, entry, number)
            ]

        upstream = tree(v.entry, v.number, 0)
        downstream = versions.downstream_of(conn, v.entry, v.number)
    return LineageView(
        entry=v.entry, version=v.number, digest=v.digest, upstream=upstream, downstream=downstream
    )


def card(ctx: Context, ref: str) -> CardView:
    """A version's card fields and the card rendered as Markdown."""
    from registry_pipeline.core.cards import render_markdown
    from registry_pipeline.store import evidence

    parsed = parse_ref(ref)
    with ctx.store.read() as conn:
        catalog = ctx.catalog(conn)
        v = resolve_ref(conn, catalog, parsed)
        spec = catalog.entry(v.entry)
        found = evidence.latest_card(conn, v.entry, v.number)
        upstream = versions.upstream_of(conn, v.entry, v.number)
        evals = evidence.eval_results(conn, v.entry, v.number)
    markdown = render_markdown(
        entry=v.entry,
        version=v.number,
        kind=spec.kind.value,
        digest=v.digest,
        facts={
            "owner": spec.owner,
            "license": spec.license or "",
            "risk_class": spec.risk_class or "",
            "description": spec.description,
            "intended_use": spec.intended_use or "",
        },
        card=found,
        lineage=[f"{u.entry}@{u.version} ({u.relation})" for u in upstream],
        evals=[
            f"{e.suite}@{e.suite_version}: "
            + ", ".join(f"{k}={v:g}" for k, v in sorted(e.metrics.items()))
            for e in evals
        ],
    )
    return CardView(
        entry=v.entry,
        version=v.number,
        card=dict(found.fields) if found else None,
        front_matter=dict(found.front_matter) if found and found.front_matter else None,
        set_by=found.set_by if found else None,
        set_at=format_time(found.set_at) if found else None,
        markdown=markdown,
    )


def ledger_head(ctx: Context) -> LedgerHead:
    """The recorded head of the ledger."""
    with ctx.store.read() as conn:
        return ledger.head(conn)


def resolve(ctx: Context, workload: str, *, at: str | datetime | None = None) -> Resolution:
    """The stack serving ``workload`` in production, now or at instant ``at``.

    Raises:
        NotFound: unknown workload, or no production stack at that instant.
    """
    check_name(workload, what="workload name")
    instant = at if isinstance(at, datetime) else parse_instant(at, what="instant") if at else None
    answer = cached(
        ctx.store, ("resolve", workload, instant), lambda: _resolve(ctx, workload, instant)
    )
    if instant is None:  # the same stack, answered now
        return replace(answer, as_of=replace(answer.as_of, time=format_time(datetime.now(UTC))))
    return answer


def _resolve(ctx: Context, workload: str, instant: datetime | None) -> tuple[Head, Resolution]:
    with ctx.store.read() as conn:
        stack_entry = ctx.workload_stack(conn, workload)
        head = ledger.head(conn)
        when = format_time(instant) if instant else format_time(datetime.now(UTC))
        held = stages.holder_at(conn, stack_entry, Stage.PRODUCTION, when)
        if held is None:
            raise NotFound(
                f"workload {workload} had no production stack at {when}"
                if instant
                else f"workload {workload} has no production stack yet",
                entry=stack_entry,
                hint=None if instant else f"promote a version of {stack_entry} to production",
            )
        stack = versions.version(conn, stack_entry, held.number)
        components = [
            Pinned(entry=u.entry, kind=u.kind, version=u.version, digest=u.digest)
            for u in versions.upstream_of(conn, stack_entry, held.number)
        ]
    return (head.seq, head.hash), Resolution(
        workload=workload,
        stack=Pinned(entry=stack_entry, version=held.number, digest=stack.digest),
        components=components,
        approved_by=list(held.approved_by),
        since=held.effective_from,
        request=held.request_id,
        ledger_seq=held.ledger_seq,
        as_of=AsOf(time=when, ledger_seq=head.seq, ledger_head=head.hash),
    )


def history(ctx: Context, entry: str, *, stage: str | None = None) -> list[HistoryItem]:
    """Every stage assignment of ``entry`` (optionally of one stage), oldest first."""
    check_name(entry)
    wanted = parse_stage(stage) if stage else None
    return list(cached(ctx.store, ("history", entry, wanted), lambda: _history(ctx, entry, wanted)))


def _history(
    ctx: Context, entry: str, wanted: Stage | None
) -> tuple[Head, tuple[HistoryItem, ...]]:
    with ctx.store.read() as conn:
        head = ledger.head(conn)
        ctx.catalog(conn).entry(entry)
        rows = stages.history(conn, entry, wanted)
    return (head.seq, head.hash), tuple(
        HistoryItem(
            entry=a.entry,
            version=a.number,
            stage=a.stage.value,
            effective_from=a.effective_from,
            effective_to=a.effective_to,
            actor=a.actor,
            reason=a.reason,
            cause=a.cause,
            request=a.request_id,
            approved_by=list(a.approved_by),
            ledger_seq=a.ledger_seq,
        )
        for a in rows
    )


def review_due(ctx: Context, *, entry: str | None = None) -> list[ReviewItem]:
    """Production versions whose approval is older than the policy's
    ``review_every_days`` or whose newest required evals are older than
    ``max_eval_age_days``: what needs a fresh review or a fresh eval run; and production
    provider models (or stacks pinning them) past or within ``DEPRECATION_NOTICE_DAYS`` of
    their deprecation date (``what: "deprecation"``, ``age_days`` counted from that date,
    negative before it; ``model`` names the provider model version)."""
    from registry_pipeline.core import review
    from registry_pipeline.core.promotion import Decision
    from registry_pipeline.core.provider import DEPRECATION_NOTICE_DAYS, deprecation_problem
    from registry_pipeline.service.promotion import provider_pins
    from registry_pipeline.store import evidence, promotions

    now = datetime.now(UTC)
    due: list[ReviewItem] = []
    with ctx.store.read() as conn:
        catalog = ctx.catalog(conn)
        for held in stages.in_stage(conn, Stage.PRODUCTION, entry=entry):
            name, number = held.entry, held.number
            if name not in catalog.entries:
                continue
            rule = catalog.policy.rule_for(Stage.PRODUCTION, catalog.risk_class(name))
            stamps = (
                [
                    a.created_at
                    for a in promotions.approvals(conn, held.request_id)
                    if a.decision is Decision.APPROVE
                ]
                if held.request_id is not None
                else []
            )
            approved = review.approved_at(since=parse_stored(held.effective_from), approvals=stamps)
            age = review.approval_age(approved, now)
            if review.expired(rule, age) and rule.review_every_days is not None:
                due.append(
                    ReviewItem(
                        entry=name,
                        version=number,
                        what="approval",
                        age_days=round(review.age_in_days(age), 1),
                        limit_days=rule.review_every_days,
                        since=format_time(approved),
                    )
                )
            suites = set(catalog.suites_covering(name)) & set(rule.evals)
            stale = review.stale_evals(rule, suites, evidence.eval_results(conn, name, number), now)
            if stale is not None and rule.max_eval_age_days is not None:
                oldest = stale.oldest
                due.append(
                    ReviewItem(
                        entry=name,
                        version=number,
                        what="evals",
                        age_days=(
                            None if oldest is None else round(review.age_in_days(now - oldest), 1)
                        ),
                        limit_days=rule.max_eval_age_days,
                        since=format_time(oldest) if oldest else None,
                    )
                )
            for model, pin in provider_pins(conn, catalog, name, number).items():
                ends = pin.deprecation_date if pin is not None else None
                if pin is None or ends is None or not deprecation_problem(pin, now.date()):
                    continue
                due.append(
                    ReviewItem(
                        entry=name,
                        version=number,
                        what="deprecation",
                        age_days=float((now.date() - ends).days),
                        limit_days=float(-DEPRECATION_NOTICE_DAYS),
                        since=ends.isoformat(),
                        model=model,
                    )
                )
    return due
