"""Registry tokens: who they stand for, when they lapse, and only the SHA-256 of each secret."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, RowMapping, bindparam, func, select

from registry_pipeline.errors import NotFound
from registry_pipeline.store import schema


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredToken:
    """A token as stored (never its secret)."""

    id: int
    principal: str
    name: str
    created_at: str
    created_by: str
    expires_at: str | None
    revoked_at: str | None
    revoked_by: str | None


def _token(row: RowMapping) -> StoredToken:
    return StoredToken(**{k: v for k, v in row.items() if k != "secret_sha256"})


def insert(
    conn: Connection,
    *,
    principal: str,
    name: str,
    secret_sha256: str,
    created_at: str,
    created_by: str,
    expires_at: str | None,
) -> StoredToken:
    """Record a new token (inside the write transaction, which serialises ids)."""
    t = schema.tokens
    next_id = int(conn.execute(select(func.coalesce(func.max(t.c.id), 0))).scalar_one()) + 1
    values = {
        "id": next_id,
        "principal": principal,
        "name": name,
        "secret_sha256": secret_sha256,
        "created_at": created_at,
        "created_by": created_by,
        "expires_at": expires_at,
    }
    conn.execute(t.insert().values(**values))
    return by_id(conn, next_id)


def by_id(conn: Connection, token_id: int) -> StoredToken:
    """The token ``token_id``; raises :class:`NotFound`."""
    t = schema.tokens
    row = conn.execute(select(t).where(t.c.id == token_id)).mappings().first()
    if row is None:
        raise NotFound(f"no token {token_id}")
    return _token(row)


_BY_SECRET = select(schema.tokens).where(schema.tokens.c.secret_sha256 == bindparam("secret"))


def by_secret_hash(conn: Connection, secret_sha256: str) -> StoredToken | None:
    """The token whose secret hashes to ``secret_sha256``, or ``None``."""
    row = conn.execute(_BY_SECRET, {"secret": secret_sha256}).mappings().first()
    return _token(row) if row is not None else None


def listed(conn: Connection, *, principal: str | None = None) -> list[StoredToken]:
    """Every token (of ``principal``, when given), oldest first."""
    t = schema.tokens
    query = select(t).order_by(t.c.id)
    if principal is not None:
        query = query.where(t.c.principal == principal)
    return [_token(r) for r in conn.execute(query).mappings()]


def revoke(conn: Connection, token_id: int, *, at: str, by: str) -> None:
    """Mark ``token_id`` revoked (it is kept, so the ledger's token ids stay resolvable)."""
    t = schema.tokens
    conn.execute(t.update().where(t.c.id == token_id).values(revoked_at=at, revoked_by=by))
