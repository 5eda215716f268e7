"""Versions, their numbers and their lineage edges."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, and_, bindparam, func, select, update

from registry_pipeline.core.digests import FileDigest
from registry_pipeline.core.versions import DownstreamLink, UpstreamLink, Version
from registry_pipeline.errors import NotFound
from registry_pipeline.store import dumps, loads, schema, search

_v, _e = schema.versions, schema.entries
# Statements of every registration, built once (see ``store._LOCK_HEAD``).
_BY_DIGEST = select(_v).where(_v.c.entry == bindparam("entry"), _v.c.digest == bindparam("digest"))
_TAKE_NUMBER = (
    update(_e)
    .where(_e.c.name == bindparam("entry"))
    .values(next_version=_e.c.next_version + 1)
    .returning(_e.c.next_version)
)
_INSERT_VERSION = _v.insert()
_INSERT_EDGE = schema.lineage.insert()
_VERSION = select(_v).where(_v.c.entry == bindparam("entry"), _v.c.number == bindparam("number"))
_LATEST_NUMBER = select(func.max(_v.c.number)).where(_v.c.entry == bindparam("entry"))
_l = schema.lineage
_UPSTREAM = (
    select(_l.c.upstream_entry, _l.c.upstream_number, _l.c.relation, _v.c.digest, _e.c.kind)
    .join(_v, and_(_v.c.entry == _l.c.upstream_entry, _v.c.number == _l.c.upstream_number))
    .join(_e, _e.c.name == _l.c.upstream_entry)
    .where(_l.c.entry == bindparam("entry"), _l.c.number == bindparam("number"))
    .order_by(_l.c.upstream_entry)
)


def version_of(row: RowMapping) -> Version:
    """A version from its row (the ``versions`` columns by name)."""
    return Version(
        entry=row["entry"],
        number=row["number"],
        digest=row["digest"],
        size=row["size"],
        file_count=row["file_count"],
        source=row["source"],
        params=loads(row["params"]),
        format=loads(row["format"]),
        origin=loads(row["origin"]) if row["origin"] else None,
        created_at=row["created_at"],
        created_by=row["created_by"],
    )


def version(conn: Connection, entry: str, number: int) -> Version:
    """The version ``entry@number``; raises :class:`NotFound` naming the latest one."""
    row = conn.execute(_VERSION, {"entry": entry, "number": number}).mappings().first()
    if row is None:
        latest = latest_number(conn, entry)
        hint = f"latest is {entry}@{latest}" if latest else f"{entry} has no versions yet"
        raise NotFound(f"no version {entry}@{number}", entry=entry, version=number, hint=hint)
    return version_of(row)


def by_digest(conn: Connection, entry: str, digest: str) -> Version | None:
    """The version of ``entry`` with content ``digest``, if registered."""
    row = conn.execute(_BY_DIGEST, {"entry": entry, "digest": digest}).mappings().first()
    return version_of(row) if row is not None else None


def latest_number(conn: Connection, entry: str) -> int | None:
    """The newest version number of ``entry``, ``None`` when it has none."""
    found = conn.execute(_LATEST_NUMBER, {"entry": entry}).scalar_one()
    return int(found) if found is not None else None


def latest_numbers(conn: Connection, entries: Sequence[str]) -> dict[str, int | None]:
    """The newest version number of each of ``entries`` (``None`` when it has none)."""
    t = schema.versions
    found = dict(
        conn.execute(
            select(t.c.entry, func.max(t.c.number))
            .where(t.c.entry.in_(list(entries)))
            .group_by(t.c.entry)
        ).all()
    )
    return {name: found.get(name) for name in entries}


def counts(conn: Connection) -> dict[str, tuple[int, int]]:
    """``{entry: (number of versions, latest number)}`` for every entry with versions."""
    t = schema.versions
    query = select(t.c.entry, func.count(), func.max(t.c.number)).group_by(t.c.entry)
    return {entry: (int(n), int(latest)) for entry, n, latest in conn.execute(query).all()}


def origins(conn: Connection, entry: str) -> list[tuple[int, str, Mapping[str, Any] | None]]:
    """``(number, digest, origin)`` of every version of ``entry``, oldest first."""
    t = schema.versions
    rows = conn.execute(
        select(t.c.number, t.c.digest, t.c.origin).where(t.c.entry == entry).order_by(t.c.number)
    ).all()
    return [(n, d, loads(o) if o else None) for n, d, o in rows]


def allocate_number(conn: Connection, entry: str) -> int:
    """Take the next version number of ``entry`` in one statement (the update row-locks
    the counter; gap-free because the transaction that takes it either commits the
    version or rolls the counter back)."""
    return int(conn.execute(_TAKE_NUMBER, {"entry": entry}).scalar_one()) - 1


def insert(
    conn: Connection,
    *,
    entry: str,
    number: int,
    digest: str,
    size: int,
    file_count: int,
    manifest: Mapping[str, Any],
    source: str,
    params_json: str,
    at: str,
    actor: str,
    format_facts: Mapping[str, Any],
    origin: Mapping[str, Any] | None,
    lineage: Sequence[tuple[str, int]],
    relation: str,
) -> None:
    """Insert a version and its upstream edges."""
    conn.execute(
        _INSERT_VERSION,
        {
            "entry": entry,
            "number": number,
            "digest": digest,
            "size": size,
            "file_count": file_count,
            "manifest": dumps(manifest),
            "source": source,
            "params": params_json,
            "created_at": at,
            "created_by": actor,
            "format": dumps(format_facts),
            "origin": dumps(origin) if origin is not None else None,
        },
    )
    search.index_params(conn, entry, number, loads(params_json))
    if lineage:
        conn.execute(
            _INSERT_EDGE,
            [
                {
                    "entry": entry,
                    "number": number,
                    "upstream_entry": up_entry,
                    "upstream_number": up_number,
                    "relation": relation,
                }
                for up_entry, up_number in lineage
            ],
        )


def upstream_of(conn: Connection, entry: str, number: int) -> list[UpstreamLink]:
    """Direct upstream edges of a version with the upstream's kind and digest."""
    return [
        UpstreamLink(entry=e, version=n, relation=rel, digest=d, kind=k)
        for e, n, rel, d, k in conn.execute(_UPSTREAM, {"entry": entry, "number": number}).all()
    ]


def downstream_of(conn: Connection, entry: str, number: int) -> list[DownstreamLink]:
    """Direct downstream edges: versions that name this one as upstream."""
    lin = schema.lineage
    query = (
        select(lin.c.entry, lin.c.number, lin.c.relation)
        .where(lin.c.upstream_entry == entry, lin.c.upstream_number == number)
        .order_by(lin.c.entry, lin.c.number)
    )
    return [
        DownstreamLink(entry=e, version=n, relation=rel) for e, n, rel in conn.execute(query).all()
    ]


def manifest_files(conn: Connection, entry: str, number: int) -> tuple[FileDigest, ...]:
    """The files a version's manifest lists (none for a version imported by digest only)."""
    t = schema.versions
    text = conn.execute(
        select(t.c.manifest).where(t.c.entry == entry, t.c.number == number)
    ).scalar_one()
    files = loads(text).get("files") or []
    return tuple(FileDigest(path=f["path"], size=f["size"], sha256=f["sha256"]) for f in files)


def newest(conn: Connection, entry: str, *, limit: int = 50) -> list[Version]:
    """The newest ``limit`` versions of ``entry``, newest first."""
    t = schema.versions
    rows = conn.execute(
        select(t).where(t.c.entry == entry).order_by(t.c.number.desc()).limit(limit)
    ).mappings()
    return [version_of(r) for r in rows]
