"""Bearer JWTs from the organisation's identity provider, verified with PyJWT.

The issuer's discovery document names its JWKS; both are fetched over HTTPS (HTTP only for
a loopback issuer, as in tests) and cached. A token whose ``kid`` the cached keys lack
makes the keys be fetched again, at most once a minute. Only asymmetric algorithms are
accepted (never ``none``, never an HMAC keyed with a public key); ``iss`` and ``aud`` must
match exactly; ``exp``, ``nbf`` and ``iat`` are checked with at most 60 s of leeway;
``email_verified: false`` is refused.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

from registry_pipeline.core.errors import BadInput, Step, Unauthenticated
from registry_pipeline.core.identity import AuthMethod, Principal

ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
LEEWAY_SECONDS = 60
REFETCH_AFTER_SECONDS = 60
MAX_TOKEN_CHARS = 16384


@dataclass(frozen=True, slots=True, kw_only=True)
class OIDCConfig:
    """Which identity provider to trust, for which audience, and the claim naming people."""

    issuer: str
    audience: str
    principal_claim: str = "email"
    groups_claim: str = "groups"
    client_id: str | None = None
    """The web UI's client at the provider (its login is offered only with one)."""
    client_secret: str | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.issuer)
        loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise BadInput(f"OIDC issuer {self.issuer!r} must be an https:// URL")
        if not self.audience:
            raise BadInput("an OIDC audience is required with an OIDC issuer")


def looks_like_jwt(token: str) -> bool:
    """Three base64url parts separated by dots (a registry token never has a dot)."""
    return token.count(".") == 2 and len(token) <= MAX_TOKEN_CHARS


class OIDCVerifier:
    """Verifies bearer JWTs of one issuer; thread-safe, keys cached."""

    def __init__(self, config: OIDCConfig, *, http: httpx.Client | None = None) -> None:
        self.config = config
        self._http = http or httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0))
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0
        self._jwks_uri: str | None = None
        self._discovery: dict[str, Any] = {}

    def _discover(self) -> str:
        if self._jwks_uri is None:
            url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = self._get(url)
            if document.get("issuer") != self.config.issuer:
                raise Unauthenticated("the identity provider's discovery names another issuer")
            jwks_uri = document.get("jwks_uri")
            if not isinstance(jwks_uri, str):
                raise Unauthenticated("the identity provider's discovery has no jwks_uri")
            self._jwks_uri = jwks_uri
            self._discovery = document
        return self._jwks_uri

    def endpoint(self, name: str) -> str:
        """An endpoint the discovery document names (``authorization_endpoint``,
        ``token_endpoint``), for the web UI's login."""
        with self._lock:
            self._discover()
            found = self._discovery.get(name)
        if not isinstance(found, str) or not found.startswith(("https://", "http://")):
            raise Unauthenticated(f"the identity provider's discovery has no {name}")
        return found

    def _get(self, url: str) -> dict[str, Any]:
        try:
            response = self._http.get(url)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError):
            raise Unauthenticated("the identity provider cannot be reached") from None
        if not isinstance(document, dict):
            raise Unauthenticated("the identity provider answered something other than JSON")
        return document

    def _key(self, kid: str | None) -> jwt.PyJWK:
        with self._lock:
            if (
                kid or ""
            ) not in self._keys and time.monotonic() - self._fetched_at > REFETCH_AFTER_SECONDS:
                jwks = jwt.PyJWKSet.from_dict(self._get(self._discover()))
                self._keys = {k.key_id or "": k for k in jwks.keys}
                self._fetched_at = time.monotonic()
            key = self._keys.get(kid or "")
            if key is None and kid is None and len(self._keys) == 1:
                # OIDC Core 10.1: a token need not name its key when the set holds one.
                key = next(iter(self._keys.values()))
        if key is None:
            raise Unauthenticated("the token's signing key is not one the identity provider lists")
        return key

    def verify(
        self, token: str, *, audience: str | None = None, nonce: str | None = None
    ) -> Principal:
        """The principal a valid JWT names: a bearer token for the configured audience, or
        (``audience`` the web UI's client id, ``nonce`` the login's) an ID token.

        Raises:
            Unauthenticated: saying which check failed (never echoing the token).
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("malformed token", step=Step.LOG_IN) from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise Unauthenticated(f"token algorithm {str(algorithm)[:16]!r} is not accepted")
        key = self._key(header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                audience=audience or self.config.audience,
                issuer=self.config.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired", step=Step.LOG_IN) from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("token is from another issuer") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("token signature does not verify") from None
        except jwt.MissingRequiredClaimError as e:
            raise Unauthenticated(f"token lacks the {e.claim[:16]!r} claim") from None
        except (jwt.ImmatureSignatureError, jwt.InvalidIssuedAtError):
            raise Unauthenticated("token is not valid yet") from None
        except jwt.DecodeError:
            raise Unauthenticated("malformed token", step=Step.LOG_IN) from None
        except jwt.PyJWTError:  # its wording names the library: ours names the check
            raise Unauthenticated("token refused: a claim does not check out") from None
        if nonce is not None and claims.get("nonce") != nonce:
            raise Unauthenticated("the ID token is not the answer to this login")
        if claims.get("email_verified") is False:
            raise Unauthenticated("the identity provider has not verified this email")
        name = claims.get(self.config.principal_claim)
        if not isinstance(name, str) or not name or len(name) > 256 or not name.isprintable():
            raise Unauthenticated(f"token has no usable {self.config.principal_claim!r} claim")
        groups = claims.get(self.config.groups_claim) or []
        return Principal(
            name=name,
            method=AuthMethod.OIDC,
            issuer=self.config.issuer,
            subject=str(claims["sub"]),
            groups=tuple(str(g) for g in groups if isinstance(g, str))[:64]
            if isinstance(groups, list)
            else (),
        )
