"""A version as ``show`` answers it, read in one statement.

The statement returns, beside the version row: the ledger head, the newest catalog's id
and digest, the version's open stage, its latest card, one row per upstream edge (the
version's columns repeated), and how many eval and A/B results it has. Those two lists are
read only when they are not empty, so a version without them is one statement, and one
with them is two or three, in the caller's read transaction either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, RowMapping, Select, and_, bindparam, func, or_, select

from registry_pipeline.core.ab_tests import ABResult
from registry_pipeline.core.cards import ModelCard
from registry_pipeline.core.evals import EvalResult
from registry_pipeline.core.versions import UpstreamLink, Version
from registry_pipeline.store import evidence, schema, versions

_h, _cat, _v, _s = schema.ledger_head, schema.catalogs, schema.versions, schema.stage_assignments
_cd, _l, _ev, _ab = schema.cards, schema.lineage, schema.evals, schema.ab_results
_up, _upe = schema.versions.alias("up"), schema.entries.alias("up_entry")

Named = Literal["number", "stage", "latest"]


@dataclass(frozen=True, slots=True)
class Shown:
    """A version and everything ``show`` says about it, read at one head."""

    head: tuple[int, str]
    catalog: tuple[int, str] | None
    """The newest catalog's ``(id, digest)``."""
    version: Version
    stage: str | None
    upstream: list[UpstreamLink]
    card: ModelCard | None
    evals: list[EvalResult]
    ab_tests: list[ABResult]


def _number(named: Named) -> Any:
    """The number of the version a reference names: given, in a stage, or the latest."""
    if named == "number":
        return bindparam("number")
    if named == "stage":
        s = _s.alias("holder")
        return (
            select(s.c.number)
            .where(
                s.c.entry == bindparam("entry"),
                s.c.stage == bindparam("stage"),
                schema.open_single_holder(s),
            )
            .order_by(s.c.id)
            .limit(1)
            .scalar_subquery()
        )
    latest = _v.alias("latest")
    return (
        select(func.max(latest.c.number))
        .where(latest.c.entry == bindparam("entry"))
        .scalar_subquery()
    )


def _statement(named: Named) -> Select[Any]:
    cat, s, cd = _cat.alias("newest"), _s.alias("open"), _cd.alias("newest_card")
    this = and_(_v.c.entry == bindparam("entry"), _v.c.number == _number(named))
    own = {"entry": _v.c.entry, "number": _v.c.number}
    open_stage = (
        select(func.max(s.c.id))
        .where(s.c.entry == own["entry"], s.c.number == own["number"], s.c.effective_to.is_(None))
        .scalar_subquery()
    )
    newest_card = (
        select(func.max(cd.c.id))
        .where(cd.c.entry == own["entry"], cd.c.number == own["number"])
        .scalar_subquery()
    )
    evals = (
        select(func.count())
        .select_from(_ev)
        .where(_ev.c.entry == own["entry"], _ev.c.number == own["number"])
        .scalar_subquery()
    )
    ab_tests = (
        select(func.count())
        .select_from(_ab)
        .where(
            _ab.c.entry == own["entry"],
            or_(_ab.c.control_number == own["number"], _ab.c.treatment_number == own["number"]),
        )
        .scalar_subquery()
    )
    return (
        select(
            _h.c.seq.label("head_seq"),
            _h.c.hash.label("head_hash"),
            _cat.c.id.label("catalog_id"),
            _cat.c.digest.label("catalog_digest"),
            *(
                _v.c[name]
                for name in (
                    "entry",
                    "number",
                    "digest",
                    "size",
                    "file_count",
                    "source",
                    "params",
                    "format",
                    "origin",
                    "created_at",
                    "created_by",
                )
            ),
            _s.c.stage.label("stage"),
            _cd.c.fields.label("card_fields"),
            _cd.c.set_at.label("card_set_at"),
            _cd.c.set_by.label("card_set_by"),
            _cd.c.body.label("card_body"),
            _cd.c.front_matter.label("card_front_matter"),
            _l.c.upstream_entry.label("up_entry"),
            _l.c.upstream_number.label("up_number"),
            _l.c.relation.label("up_relation"),
            _up.c.digest.label("up_digest"),
            _upe.c.kind.label("up_kind"),
            evals.label("evals"),
            ab_tests.label("ab_tests"),
        )
        .select_from(
            _h.outerjoin(_cat, _cat.c.id == select(func.max(cat.c.id)).scalar_subquery())
            .outerjoin(_v, this)
            .outerjoin(_s, _s.c.id == open_stage)
            .outerjoin(_cd, _cd.c.id == newest_card)
            .outerjoin(_l, and_(_l.c.entry == _v.c.entry, _l.c.number == _v.c.number))
            .outerjoin(
                _up, and_(_up.c.entry == _l.c.upstream_entry, _up.c.number == _l.c.upstream_number)
            )
            .outerjoin(_upe, _upe.c.name == _l.c.upstream_entry)
        )
        .where(_h.c.id == 1)
        .order_by(_l.c.upstream_entry)
    )


_STATEMENTS: dict[Named, Select[Any]] = {
    named: _statement(named) for named in ("number", "stage", "latest")
}


def shown(
    conn: Connection, entry: str, *, number: int | None = None, stage: str | None = None
) -> tuple[tuple[int, str] | None, Shown | None]:
    """The newest catalog's ``(id, digest)`` and the version ``entry@number`` (or the
    holder of ``stage``, or the latest) as ``show`` answers it; ``None`` when there is no
    such version (the caller says why)."""
    named: Named = "number" if number is not None else "stage" if stage is not None else "latest"
    params: dict[str, Any] = {"entry": entry}
    if number is not None:
        params["number"] = number
    if stage is not None:
        params["stage"] = stage
    rows = conn.execute(_STATEMENTS[named], params).mappings().all()
    first = rows[0]
    catalog = (
        (int(first["catalog_id"]), str(first["catalog_digest"]))
        if first["catalog_id"] is not None
        else None
    )
    if first["number"] is None:
        return catalog, None
    version = versions.version_of(first)
    card = (
        evidence.card_of(version.entry, version.number, _card_row(first))
        if first["card_set_at"] is not None
        else None
    )
    return catalog, Shown(
        head=(int(first["head_seq"]), str(first["head_hash"])),
        catalog=catalog,
        version=version,
        stage=first["stage"],
        upstream=[
            UpstreamLink(
                entry=r["up_entry"],
                version=r["up_number"],
                relation=r["up_relation"],
                digest=r["up_digest"],
                kind=r["up_kind"],
            )
            for r in rows
            if r["up_digest"] is not None
        ],
        card=card,
        evals=evidence.eval_results(conn, version.entry, version.number) if first["evals"] else [],
        ab_tests=(
            evidence.ab_results(conn, version.entry, version.number) if first["ab_tests"] else []
        ),
    )


def _card_row(row: RowMapping) -> dict[str, Any]:
    return {
        name: row[f"card_{name}"] for name in ("fields", "set_at", "set_by", "body", "front_matter")
    }
