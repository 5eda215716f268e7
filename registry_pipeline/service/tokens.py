"""Registry tokens: mint (secret shown once), list, revoke, and authenticate a bearer.

Anyone may mint tokens for themselves; only an admin (``policy.admins``) mints for someone
else. In local mode the operator, who holds the database itself, may mint for anyone:
that is how the first admin token comes to exist. Each mint and revocation is a ledger
event; a token's secret is never stored or logged, only its SHA-256.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from registry_pipeline.core.errors import BadInput, Refused, Step, Unauthenticated
from registry_pipeline.core.identity import (
    AuthMethod,
    Principal,
    new_token,
    token_hash,
    well_formed,
)
from registry_pipeline.core.kinds import check_name
from registry_pipeline.core.names import check_actor
from registry_pipeline.core.times import format_time, parse_stored
from registry_pipeline.service.cache import cached_after
from registry_pipeline.service.context import Context
from registry_pipeline.store import Store
from registry_pipeline.store import tokens as stored
from registry_pipeline.store.tokens import StoredToken


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenInfo:
    """A registry token as anyone may see it: never its secret."""

    id: int
    principal: str
    name: str
    created_at: str
    created_by: str
    expires_at: str | None
    revoked_at: str | None = None
    revoked_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The token's fields (``tokens list``, ``tokens revoke``)."""
        return asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenCreated:
    """A new token with its secret, which is shown this once and never stored."""

    token: str
    info: TokenInfo

    def to_dict(self) -> dict[str, Any]:
        """``{id, token, principal, name, expires_at}``."""
        return {
            "id": self.info.id,
            "token": self.token,
            "principal": self.info.principal,
            "name": self.info.name,
            "expires_at": self.info.expires_at,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class WhoAmI:
    """The acting principal, how it was proven, and what the policy makes of it."""

    principal: str
    auth: Mapping[str, Any]
    roles: Sequence[str]

    def to_dict(self) -> dict[str, Any]:
        """``{principal, auth, roles}``."""
        return {"principal": self.principal, "auth": dict(self.auth), "roles": list(self.roles)}


DEFAULT_LIFETIME = timedelta(days=90)
MAX_LIFETIME = timedelta(days=400)
_LIFETIME = re.compile(r"([1-9][0-9]{0,4})([dh])")


def parse_lifetime(text: str) -> timedelta:
    """``90d`` or ``12h`` as a duration (at most :data:`MAX_LIFETIME`).

    Raises:
        BadInput: another shape, or too long.
    """
    match = _LIFETIME.fullmatch(text.strip())
    if match is None:
        raise BadInput(f"invalid token lifetime {text!r}: use a number of days or hours, e.g. 90d")
    amount, unit = int(match.group(1)), match.group(2)
    lifetime = timedelta(days=amount) if unit == "d" else timedelta(hours=amount)
    if lifetime > MAX_LIFETIME:
        raise BadInput(f"token lifetime {text!r} is over {MAX_LIFETIME.days} days")
    return lifetime


def _info(token: stored.StoredToken) -> TokenInfo:
    return TokenInfo(
        id=token.id,
        principal=token.principal,
        name=token.name,
        created_at=token.created_at,
        created_by=token.created_by,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        revoked_by=token.revoked_by,
    )


def create(
    ctx: Context, *, principal: str | None, name: str, lifetime: timedelta | None
) -> TokenCreated:
    """Mint a token for ``principal`` (default: the caller).

    Raises:
        Refused: a non-admin minting for someone else.
        BadInput: a malformed principal or name.
    """
    owner = check_actor(principal or ctx.actor)
    check_name(name, what="token name")
    secret = new_token()
    with ctx.write(bootstrap=True) as tx:
        if owner != ctx.actor and not ctx.is_admin(tx.conn):
            raise Refused(
                f"{ctx.actor} may not create a token for {owner}: only policy.admins mint "
                "tokens for others"
            )
        expires = tx.now + (lifetime or DEFAULT_LIFETIME)
        token = stored.insert(
            tx.conn,
            principal=owner,
            name=name,
            secret_sha256=token_hash(secret),
            created_at=tx.now_text,
            created_by=ctx.actor,
            expires_at=format_time(expires),
        )
        tx.append(
            "token.create",
            f"token:{token.id}",
            {"id": token.id, "principal": owner, "name": name, "expires_at": token.expires_at},
        )
    return TokenCreated(token=secret, info=_info(token))


def listed(ctx: Context) -> list[TokenInfo]:
    """Every token an admin (or the operator) may see; a principal's own otherwise."""
    with ctx.store.read() as conn:
        mine = None if ctx.is_admin(conn) else ctx.actor
        return [_info(t) for t in stored.listed(conn, principal=mine)]


def revoke(ctx: Context, token_id: int) -> TokenInfo:
    """Revoke a token; the next request that presents it is refused.

    Raises:
        NotFound: no such token (or not one the caller may see).
        Refused: someone else's token, and the caller is no admin.
    """
    with ctx.write(bootstrap=True) as tx:
        token = stored.by_id(tx.conn, token_id)
        if token.principal != ctx.actor and not ctx.is_admin(tx.conn):
            raise Refused(f"{ctx.actor} may not revoke token {token_id}, which is not theirs")
        if token.revoked_at is None:
            stored.revoke(tx.conn, token_id, at=tx.now_text, by=ctx.actor)
            tx.append(
                "token.revoke",
                f"token:{token_id}",
                {"id": token_id, "principal": token.principal},
            )
        return _info(stored.by_id(tx.conn, token_id))


def authenticate(store: Store, secret: str, *, now: datetime | None = None) -> Principal:
    """The principal a bearer token stands for.

    Raises:
        Unauthenticated: malformed, unknown, revoked or expired.
    """
    if not well_formed(secret):
        raise Unauthenticated("malformed token", step=Step.LOG_IN)
    hashed = token_hash(secret)

    def lookup() -> StoredToken | None:
        with store.single_read() as conn:  # one statement
            return stored.by_secret_hash(conn, hashed)

    token = cached_after(store, ("token", hashed), lookup)  # minting, revoking move the head
    if token is None:
        raise Unauthenticated("unknown token", step=Step.LOG_IN)
    if token.revoked_at is not None:
        raise Unauthenticated(f"token {token.id} was revoked", step=Step.LOG_IN)
    instant = now or datetime.now(UTC)
    if token.expires_at is not None and parse_stored(token.expires_at) <= instant:
        raise Unauthenticated(f"token {token.id} expired", step=Step.LOG_IN)
    return Principal(name=token.principal, method=AuthMethod.TOKEN, token_id=token.id)


class Tokens:
    """The token use cases of one :class:`~registry_pipeline.service.Registry`
    (``registry.tokens``)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def create(
        self, *, principal: str | None = None, name: str = "cli", expires_in: str | None = None
    ) -> TokenCreated:
        """Mint a token (see :func:`create`); ``expires_in`` like ``90d`` or ``12h``."""
        lifetime = parse_lifetime(expires_in) if expires_in else None
        return create(self._ctx, principal=principal, name=name, lifetime=lifetime)

    def list(self) -> list[TokenInfo]:
        """The tokens the caller may see (see :func:`listed`)."""
        return listed(self._ctx)

    def revoke(self, token_id: int) -> TokenInfo:
        """Revoke a token (see :func:`revoke`)."""
        return revoke(self._ctx, token_id)


def whoami(ctx: Context) -> WhoAmI:
    """The caller, how it was proven, and the roles the policy gives it anywhere."""
    with ctx.store.read() as conn:
        catalog = ctx.catalog(conn)
    roles: set[str] = set()
    for name in catalog.entries:
        roles |= {r.value for r in catalog.roles(ctx.actor, name, groups=ctx.principal.groups)}
    if ctx.actor in catalog.policy.admins:
        roles.add("admin")
    return WhoAmI(principal=ctx.actor, auth=ctx.principal.auth(), roles=sorted(roles))
