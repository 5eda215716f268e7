"""Web UI sessions: a row per cookie secret (stored as its SHA-256 only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, select, update

from registry_pipeline.store import dumps, loads, schema


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredSession:
    """A web session or a login awaiting the identity provider's answer."""

    kind: str
    principal: str
    auth: Mapping[str, Any]
    created_at: str
    expires_at: str


def insert(
    conn: Connection,
    *,
    id_sha256: str,
    kind: str,
    principal: str,
    auth: Mapping[str, Any],
    at: str,
    expires_at: str,
) -> None:
    """Record a new session (or pending login)."""
    conn.execute(
        schema.web_sessions.insert().values(
            id_sha256=id_sha256,
            kind=kind,
            principal=principal,
            auth=dumps(dict(auth)),
            created_at=at,
            expires_at=expires_at,
        )
    )


def live(conn: Connection, id_sha256: str, *, kind: str, now: str) -> StoredSession | None:
    """The session of that hash and kind if it has neither ended nor expired."""
    t = schema.web_sessions
    row = (
        conn.execute(
            select(t).where(
                t.c.id_sha256 == id_sha256,
                t.c.kind == kind,
                t.c.ended_at.is_(None),
                t.c.expires_at > now,
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    return StoredSession(
        kind=row["kind"],
        principal=row["principal"],
        auth=loads(row["auth"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
    )


def end(conn: Connection, id_sha256: str, *, at: str) -> bool:
    """End a session (logout, or a login used once); True when it was live."""
    t = schema.web_sessions
    done = conn.execute(
        update(t).where(t.c.id_sha256 == id_sha256, t.c.ended_at.is_(None)).values(ended_at=at)
    )
    return bool(done.rowcount)


def purge(conn: Connection, *, before: str) -> int:
    """Forget sessions that expired before ``before``; how many."""
    t = schema.web_sessions
    return int(conn.execute(delete(t).where(t.c.expires_at < before)).rowcount)
