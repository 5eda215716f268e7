"""Web UI sessions: who a browser is logged in as, and the logins under way.

A session stands for a principal proven once (an identity provider's ID token, or a pasted
registry token) and lasts :data:`LIFETIME` at most, less if its token expires sooner. The
cookie holds a random secret; the store keeps only its SHA-256, so a copy of the database
logs no one in. A session made from a registry token ends when the token is revoked.
Sessions are bookkeeping, not registry changes: they are not ledger events.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from registry_pipeline.core.identity import AuthMethod, Principal
from registry_pipeline.core.times import format_time, parse_stored
from registry_pipeline.store import Store
from registry_pipeline.store import sessions as stored
from registry_pipeline.store import tokens as stored_tokens

LIFETIME = timedelta(hours=8)
LOGIN_WINDOW = timedelta(minutes=10)
SESSION = "session"
LOGIN = "login"
_MAX_SECRET_CHARS = 128


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _usable(secret: str | None) -> bool:
    return bool(secret) and len(secret or "") <= _MAX_SECRET_CHARS and (secret or "").isascii()


def csrf_token(secret: str) -> str:
    """The anti-forgery token of the session whose cookie secret is ``secret``: derived from
    it, so a page on another origin (which cannot read the cookie) cannot know it."""
    return hmac.new(secret.encode("utf-8"), b"csrf", hashlib.sha256).hexdigest()


def csrf_matches(secret: str, sent: str | None) -> bool:
    """Whether ``sent`` is the session's anti-forgery token (compared in constant time)."""
    return bool(sent) and hmac.compare_digest(csrf_token(secret), str(sent))


def start(store: Store, principal: Principal, *, expires_at: datetime | None = None) -> str:
    """A new session for ``principal``; returns the cookie secret (shown only to the
    browser)."""
    now = datetime.now(UTC)
    end = now + LIFETIME
    if expires_at is not None:
        end = min(end, expires_at)
    secret = "rgs_" + secrets.token_urlsafe(32)
    with store.side_write() as conn:
        stored.purge(conn, before=format_time(now - LIFETIME))
        stored.insert(
            conn,
            id_sha256=_hash(secret),
            kind=SESSION,
            principal=principal.name,
            auth=principal.auth(),
            at=format_time(now),
            expires_at=format_time(end),
        )
    return secret


def principal_of(store: Store, secret: str | None) -> Principal | None:
    """The principal of a live session, ``None`` when it ended, expired, is unknown, or its
    registry token was revoked or expired since."""
    if not _usable(secret):
        return None
    now = datetime.now(UTC)
    with store.read() as conn:
        found = stored.live(conn, _hash(str(secret)), kind=SESSION, now=format_time(now))
        if found is None:
            return None
        auth = found.auth
        token_id = auth.get("token_id")
        if token_id is not None:
            token = stored_tokens.by_id(conn, int(token_id))
            if token.revoked_at is not None or (
                token.expires_at is not None and parse_stored(token.expires_at) <= now
            ):
                return None
    return Principal(
        name=found.principal,
        method=AuthMethod(auth["method"]),
        token_id=token_id,
        issuer=auth.get("issuer"),
        subject=auth.get("subject"),
        groups=tuple(auth.get("groups", ())),
    )


def end(store: Store, secret: str | None) -> None:
    """Log out: the session ends now, whoever holds a copy of the cookie."""
    if _usable(secret):
        with store.side_write() as conn:
            stored.end(conn, _hash(str(secret)), at=format_time(datetime.now(UTC)))


def begin_login(store: Store, state: Mapping[str, Any]) -> str:
    """Remember a login sent to the identity provider (its ``state``, nonce and PKCE
    verifier) for :data:`LOGIN_WINDOW`; returns the secret of the browser's login cookie."""
    now = datetime.now(UTC)
    secret = "rgl_" + secrets.token_urlsafe(32)
    with store.side_write() as conn:
        stored.insert(
            conn,
            id_sha256=_hash(secret),
            kind=LOGIN,
            principal="",
            auth=state,
            at=format_time(now),
            expires_at=format_time(now + LOGIN_WINDOW),
        )
    return secret


def take_login(store: Store, secret: str | None) -> Mapping[str, Any] | None:
    """The login under way for this cookie, used up (a second callback finds nothing)."""
    if not _usable(secret):
        return None
    now = format_time(datetime.now(UTC))
    with store.side_write() as conn:
        found = stored.live(conn, _hash(str(secret)), kind=LOGIN, now=now)
        if found is None or not stored.end(conn, _hash(str(secret)), at=now):
            return None
        return found.auth
