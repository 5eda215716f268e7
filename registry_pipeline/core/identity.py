"""Who is acting, and how that was proven.

A :class:`Principal` is the identity every ledger event records: its name (what the
catalog's roles name), how it was authenticated, and the evidence (the token's id, or the
identity provider's issuer and subject). Local mode (a process that opens the database
itself) proves nothing: it records the OS user beside the name it was given.

Registry tokens are ``rgp_`` followed by 32 random bytes in base64url. Only their SHA-256
is stored; the secret is shown once, when it is made.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

TOKEN_PREFIX = "rgp_"
_TOKEN_BYTES = 32
TOKEN_PATTERN = re.compile(r"rgp_[A-Za-z0-9_-]{43}")
"""A well-formed registry token: the prefix and 43 base64url characters (32 bytes)."""


class AuthMethod(StrEnum):
    """How a principal was authenticated."""

    LOCAL = "local"
    """A process that opened the database itself: the name is what it was told."""
    TOKEN = "token"
    """A registry token, checked against its stored hash."""
    OIDC = "oidc"
    """A JWT from the organisation's identity provider, checked against its keys."""
    SERVER = "server"
    """The registry server acting on its own (its webhook dispatcher disabling a webhook)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """An acting identity and the evidence for it."""

    name: str
    method: AuthMethod
    token_id: int | None = None
    issuer: str | None = None
    subject: str | None = None
    os_user: str | None = None
    groups: tuple[str, ...] = field(default=())

    @property
    def authenticated(self) -> bool:
        """Whether the name was proven (a token or the identity provider), not just told."""
        return self.method is not AuthMethod.LOCAL

    def auth(self) -> dict[str, Any]:
        """The ``auth`` record of a ledger event: method, principal and the evidence."""
        record: dict[str, Any] = {"method": self.method.value, "principal": self.name}
        for key in ("token_id", "issuer", "subject", "os_user"):
            value = getattr(self, key)
            if value is not None:
                record[key] = value
        if self.groups:
            record["groups"] = list(self.groups)
        return record


def new_token() -> str:
    """A fresh registry token secret."""
    return TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)


def token_hash(token: str) -> str:
    """The SHA-256 (hex) of a token secret: all the registry keeps of it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def well_formed(token: str) -> bool:
    """Whether ``token`` has the shape of a registry token (checked before any lookup)."""
    return TOKEN_PATTERN.fullmatch(token) is not None
