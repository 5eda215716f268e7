"""Catalogs as recorded, and the entries table they keep in step."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from registry_pipeline.store import dumps, loads, schema


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredEntry:
    """An entry row: its kind and owner as the last catalog set them."""

    name: str
    kind: str
    owner: str


_LATEST = (
    select(schema.catalogs.c.id, schema.catalogs.c.digest)
    .order_by(schema.catalogs.c.id.desc())
    .limit(1)
)


def latest_digest(conn: Connection) -> tuple[int, str] | None:
    """``(id, digest)`` of the newest recorded catalog, or ``None``."""
    row = conn.execute(_LATEST).first()
    return (int(row[0]), str(row[1])) if row is not None else None


def document(conn: Connection, catalog_id: int) -> Mapping[str, Any]:
    """The catalog document recorded under ``catalog_id``."""
    t = schema.catalogs
    value: Mapping[str, Any] = loads(
        conn.execute(select(t.c.document).where(t.c.id == catalog_id)).scalar_one()
    )
    return value


def latest_document(conn: Connection) -> tuple[str, Mapping[str, Any]] | None:
    """``(digest, document)`` of the newest recorded catalog, or ``None``."""
    found = latest_digest(conn)
    return (found[1], document(conn, found[0])) if found is not None else None


def entries(conn: Connection) -> dict[str, StoredEntry]:
    """Every entry row by name."""
    t = schema.entries
    return {
        name: StoredEntry(name=name, kind=kind, owner=owner)
        for name, kind, owner in conn.execute(select(t.c.name, t.c.kind, t.c.owner)).all()
    }


def entries_with_versions(conn: Connection) -> set[str]:
    """Names of entries that have at least one version."""
    return set(conn.execute(select(schema.versions.c.entry).distinct()).scalars())


def put_entry(conn: Connection, *, name: str, kind: str, owner: str, at: str, new: bool) -> None:
    """Insert an entry (version counter at 1) or update its kind and owner."""
    t = schema.entries
    if new:
        conn.execute(
            t.insert().values(name=name, kind=kind, owner=owner, next_version=1, created_at=at)
        )
    else:
        conn.execute(t.update().where(t.c.name == name).values(kind=kind, owner=owner))


def drop_entry(conn: Connection, name: str) -> None:
    """Remove an entry that has no versions."""
    conn.execute(schema.entries.delete().where(schema.entries.c.name == name))


def record(
    conn: Connection, *, digest: str, document: Mapping[str, Any], source: str, at: str, actor: str
) -> None:
    """Record a catalog document."""
    conn.execute(
        schema.catalogs.insert().values(
            digest=digest, document=dumps(document), source=source, loaded_at=at, loaded_by=actor
        )
    )
