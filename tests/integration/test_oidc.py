"""OIDC bearer JWTs against a real issuer started by the test (discovery and JWKS over
HTTP), verified by the real server: the principal comes from the claim, and each forged or
stale token is refused with 401."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from conftest import raw_rows
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from support.server import Estate, served_estate

pytestmark = pytest.mark.integration
AUDIENCE = "registry-pipeline"


class Issuer:
    """A minimal OpenID provider: discovery and a JWKS with one RSA and one EC key."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.jwks_hits = 0

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in (("rsa-1", self.rsa), ("ec-1", self.ec)):
            jwk = json.loads(
                jwt.algorithms.get_default_algorithms()[
                    "RS256" if kid.startswith("rsa") else "ES256"
                ].to_jwk(key.public_key())
            )
            keys.append({**jwk, "kid": kid, "use": "sig"})
        return {"keys": keys}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks"}
                elif self.path == "/jwks":
                    issuer.jwks_hits += 1
                    body = issuer.jwks()
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: object) -> None:
                pass

        return Handler

    def token(
        self, *, key: Any = None, kid: str = "rsa-1", alg: str = "RS256", **claims: Any
    ) -> str:
        now = int(time.time())
        body = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": "00u1abc",
            "email": "alice@example.com",
            "email_verified": True,
            "iat": now,
            "exp": now + 300,
            **claims,
        }
        return jwt.encode(
            body, key if key is not None else self.rsa, algorithm=alg, headers={"kid": kid}
        )


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    running = Issuer()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    yield running
    running.server.shutdown()


@pytest.fixture(scope="module")
def estate(issuer: Issuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    env = {"REGISTRY_OIDC_ISSUER": issuer.url, "REGISTRY_OIDC_AUDIENCE": AUDIENCE}
    with served_estate(tmp_path_factory.mktemp("oidc"), env=env) as running:
        yield running


def _whoami(estate: Estate, token: str) -> httpx.Response:
    return httpx.get(
        f"{estate.url}/api/v1/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def test_a_valid_jwt_names_the_principal_from_its_claim(issuer: Issuer, estate: Estate) -> None:
    for token in (issuer.token(), issuer.token(key=issuer.ec, kid="ec-1", alg="ES256")):
        answer = _whoami(estate, token)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["principal"] == "alice@example.com"
        assert body["auth"] == {
            "method": "oidc",
            "principal": "alice@example.com",
            "issuer": issuer.url,
            "subject": "00u1abc",
        }


def test_what_an_oidc_principal_does_is_recorded_with_issuer_and_subject(
    issuer: Issuer, estate: Estate
) -> None:
    token = issuer.token()
    opened = httpx.post(
        f"{estate.url}/api/v1/requests",
        json={"ref": "support-bot@2", "to": "staging", "reason": "oidc"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert opened.status_code == 201, opened.text
    auth = raw_rows(estate.database, "SELECT auth FROM ledger ORDER BY seq DESC LIMIT 1")[0][0]
    assert json.loads(auth) == {
        "method": "oidc",
        "principal": "alice@example.com",
        "issuer": issuer.url,
        "subject": "00u1abc",
    }


def _public_pem(issuer: Issuer) -> bytes:
    return issuer.rsa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _unsigned(issuer: Issuer) -> str:
    now = int(time.time())
    claims = {
        "iss": issuer.url,
        "aud": AUDIENCE,
        "sub": "x",
        "email": "carol@example.com",
        "iat": now,
        "exp": now + 300,
    }
    return jwt.encode(claims, None, algorithm="none", headers={"kid": "rsa-1"})


def _hs256_with_public_key(issuer: Issuer) -> str:
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = int(time.time())
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    payload = b64(
        json.dumps(
            {
                "iss": issuer.url,
                "aud": AUDIENCE,
                "sub": "x",
                "email": "carol@example.com",
                "iat": now,
                "exp": now + 300,
            }
        ).encode()
    )
    signature = hmac.new(_public_pem(issuer), f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{b64(signature.digest())}"


@pytest.mark.parametrize(
    ("forge", "why"),
    [
        (lambda i: i.token(exp=int(time.time()) - 120, iat=int(time.time()) - 600), "expired"),
        (lambda i: i.token(aud="another-app"), "another audience"),
        (lambda i: i.token(iss="https://evil.example.com"), "another issuer"),
        (_unsigned, "not accepted"),
        (_hs256_with_public_key, "not accepted"),
        (lambda i: i.token(key=i.stranger, kid="rotated-away"), "signing key"),
        (lambda i: i.token(key=i.stranger, kid="rsa-1"), "signature does not verify"),
        (lambda i: i.token(email_verified=False), "not verified"),
        (lambda i: "a.b.c", "malformed"),
        (lambda i: i.token(iat=int(time.time()) + 3600), "not valid yet"),
    ],
)
def test_forged_and_stale_tokens_are_401(
    issuer: Issuer, estate: Estate, forge: Any, why: str
) -> None:
    answer = _whoami(estate, forge(issuer))
    assert answer.status_code == 401, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert why in answer.json()["detail"]
    assert "Error" not in answer.json()["detail"]  # our words, not the library's


def test_registry_tokens_work_beside_oidc(estate: Estate) -> None:
    assert _whoami(estate, estate.tokens["bob"]).json()["principal"] == "bob@example.com"


def test_a_policy_grants_a_role_to_an_identity_provider_group(
    issuer: Issuer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """``group:ml-approvers`` in ``policy.approvers``: a JWT whose ``groups`` claim has it
    may approve, the approvals gate counts it (the groups are kept with the approval), and
    the same person without the group is refused."""
    import yaml
    from conftest import EXAMPLES

    root = tmp_path_factory.mktemp("groups")
    document = yaml.safe_load(EXAMPLES.read_text(encoding="utf-8"))
    document["policy"]["approvers"].append("group:ml-approvers")
    grouped = root / "grouped.yaml"
    grouped.write_text(yaml.safe_dump(document), encoding="utf-8")
    env = {"REGISTRY_OIDC_ISSUER": issuer.url, "REGISTRY_OIDC_AUDIENCE": AUDIENCE}
    with served_estate(root, env=env, then_catalog=grouped) as estate:
        alice = estate.client("alice")
        opened = alice.post(
            "/api/v1/requests", json={"ref": "support-bot@2", "to": "staging", "reason": "go"}
        )
        assert opened.status_code == 201, opened.text
        request = opened.json()["request"]

        def approve(token: str) -> httpx.Response:
            return httpx.post(
                f"{estate.url}/api/v1/requests/{request}/approve",
                json={"reason": "reviewed"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )

        erin = {"email": "erin@example.com", "sub": "00u9erin"}
        refused = approve(issuer.token(**erin, groups=["support"]))
        assert refused.status_code == 403, refused.text
        in_group = issuer.token(**erin, groups=["support", "ml-approvers"])
        assert "approver" in _whoami(estate, in_group).json()["roles"]
        assert approve(in_group).status_code == 200
        gates = alice.get(f"/api/v1/requests/{request}/gates").json()
        approvals = next(g for g in gates["gates"] if g["name"] == "approvals")
        assert approvals["passed"] is True, approvals
        assert "erin@example.com" in approvals["detail"]
        auth = raw_rows(estate.database, "SELECT auth FROM ledger ORDER BY seq DESC LIMIT 1")
        assert json.loads(auth[0][0])["groups"] == ["support", "ml-approvers"]
        applied = alice.post(f"/api/v1/requests/{request}/apply")
        assert applied.status_code == 200, applied.text
