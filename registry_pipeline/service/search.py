"""Versions by tag (a top-level params key) and by eval metric, answered from the store's
search indexes: no inventory rebuild, and a version registered a moment ago is found."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from registry_pipeline.core.kinds import check_name
from registry_pipeline.errors import BadInput
from registry_pipeline.service.cache import Head, cached
from registry_pipeline.service.context import Context
from registry_pipeline.store import ledger
from registry_pipeline.store import search as index

#: The most versions one search answers (``truncated`` says when there were more).
MAX_LIMIT = 10_000
MAX_PARAMS = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchHit:
    """One version a search found (``registry search``)."""

    entry: str
    version: int
    digest: str
    stage: str | None
    params: Mapping[str, Any]
    created_at: str
    created_by: str
    metric: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """One row of the ``search`` document (``metric``: the matching eval's value)."""
        return {
            "entry": self.entry,
            "version": self.version,
            "digest": self.digest,
            "stage": self.stage,
            "params": dict(self.params),
            "created_at": self.created_at,
            "created_by": self.created_by,
            "metric": self.metric,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchResult:
    """The versions a search found, by entry and number, and whether ``limit`` cut them."""

    versions: Sequence[SearchHit]
    truncated: bool
    ledger_seq: int

    def to_dict(self) -> dict[str, Any]:
        """``{versions, truncated, ledger_seq}``."""
        return {
            "versions": [v.to_dict() for v in self.versions],
            "truncated": self.truncated,
            "ledger_seq": self.ledger_seq,
        }


def search(
    ctx: Context,
    *,
    params: Mapping[str, str] | None = None,
    metric: str | None = None,
    at_least: float | None = None,
    at_most: float | None = None,
    suite: str | None = None,
    entry: str | None = None,
    limit: int = 1000,
) -> SearchResult:
    """Versions whose params hold every ``key: value`` of ``params`` (values compared as
    text: strings as themselves, other values as JSON, ``0.001``, ``true``) and, with
    ``metric``, an eval (of ``suite``, when given) whose ``metric`` lies within
    [``at_least``, ``at_most``]; of ``entry`` only, when given; at most ``limit``.

    Raises:
        BadInput: no condition, a malformed name or bound, or a limit out of range.
    """
    wanted = tuple(sorted((params or {}).items()))
    _check(wanted, metric, at_least, at_most, suite, entry, limit)
    threshold = (
        index.Metric(name=metric, at_least=at_least, at_most=at_most, suite=suite)
        if metric is not None
        else None
    )
    key = ("search", wanted, threshold, entry, limit)
    return cached(ctx.store, key, lambda: _search(ctx, wanted, threshold, entry, limit))


def _check(
    wanted: tuple[tuple[str, str], ...],
    metric: str | None,
    at_least: float | None,
    at_most: float | None,
    suite: str | None,
    entry: str | None,
    limit: int,
) -> None:
    if not wanted and metric is None:
        raise BadInput("a search needs a param (KEY=VALUE) or a metric to look for")
    if len(wanted) > MAX_PARAMS:
        raise BadInput(f"a search takes at most {MAX_PARAMS} params, not {len(wanted)}")
    for key, value in wanted:
        if not key or len(key) > index.KEY_LIMIT:
            raise BadInput(f"param name {key[:40]!r} must be 1 to {index.KEY_LIMIT} characters")
        if len(value) > index.VALUE_LIMIT:
            raise BadInput(
                f"param {key}: values longer than {index.VALUE_LIMIT} characters are not indexed"
            )
    if metric is not None and (not metric or len(metric) > index.KEY_LIMIT):
        raise BadInput(f"metric name {metric[:40]!r} must be 1 to {index.KEY_LIMIT} characters")
    if metric is None and (at_least is not None or at_most is not None or suite is not None):
        raise BadInput("a metric bound or suite needs the metric it applies to")
    for bound in (at_least, at_most):
        if bound is not None and not math.isfinite(bound):
            raise BadInput(f"metric bound {bound} must be a finite number")
    if at_least is not None and at_most is not None and at_least > at_most:
        raise BadInput(f"metric range {at_least} .. {at_most} is empty")
    for name in (suite, entry):
        if name is not None:
            check_name(name)
    if not 1 <= limit <= MAX_LIMIT:
        raise BadInput(f"limit {limit} must be between 1 and {MAX_LIMIT}")


def _search(
    ctx: Context,
    wanted: tuple[tuple[str, str], ...],
    threshold: index.Metric | None,
    entry: str | None,
    limit: int,
) -> tuple[Head, SearchResult]:
    with ctx.store.read() as conn:
        head = ledger.head(conn)
        if entry is not None:
            ctx.catalog(conn).entry(entry)  # NotFound naming the catalog's entries
        hits = index.versions(conn, params=wanted, metric=threshold, entry=entry, limit=limit + 1)
    found = tuple(
        SearchHit(
            entry=h.entry,
            version=h.number,
            digest=h.digest,
            stage=h.stage,
            params=h.params,
            created_at=h.created_at,
            created_by=h.created_by,
            metric=h.metric,
        )
        for h in hits[:limit]
    )
    result = SearchResult(versions=found, truncated=len(hits) > limit, ledger_seq=head.seq)
    return (head.seq, head.hash), result
