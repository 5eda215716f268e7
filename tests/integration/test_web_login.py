"""The web UI's token login (no identity provider configured) against the real server:
sessions are HttpOnly cookies whose secret the database keeps only as a hash, end with
their token, and the pages answer errors as pages."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import raw_rows
from support.server import Estate, served_estate

from registry_pipeline.service import Registry

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    with served_estate(tmp_path_factory.mktemp("login")) as served:
        yield served


def _login(estate: Estate, token: str, *, next_path: str = "/") -> httpx.Response:
    client = httpx.Client(base_url=estate.url, follow_redirects=False)
    form = client.get("/login")
    pre = re.search(r'name="pre" value="([^"]+)"', form.text)
    assert pre is not None
    answer = client.post(
        "/login/token", data={"token": token, "pre": pre.group(1), "next": next_path}
    )
    answer.extensions["client"] = client
    return answer


def test_a_pasted_token_logs_in_and_the_session_is_only_a_hash(estate: Estate) -> None:
    assert httpx.get(f"{estate.url}/").headers["location"] == "/login"
    answer = _login(estate, estate.tokens["bob"])
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/" in cookie
    secret = answer.cookies["registry_session"]
    client: httpx.Client = answer.extensions["client"]
    inbox = client.get("/")
    assert inbox.status_code == 200
    assert "bob@example.com" in inbox.text
    assert inbox.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in inbox.headers["content-security-policy"]
    stored = [r[0] for r in raw_rows(estate.database, "SELECT id_sha256 FROM web_sessions")]
    assert hashlib.sha256(secret.encode()).hexdigest() in stored
    assert secret not in stored


def test_bad_tokens_and_forged_logins_get_no_session(estate: Estate) -> None:
    refused = _login(estate, "rgp_" + "x" * 43)
    assert refused.status_code == 401
    assert "That token was refused" in refused.text
    assert "Traceback" not in refused.text
    assert "registry_session" not in refused.cookies
    assert _login(estate, estate.tokens["revoked"]).status_code == 401
    no_pre = httpx.post(
        f"{estate.url}/login/token", data={"token": estate.tokens["bob"], "pre": "x"}
    )
    assert no_pre.status_code == 403
    assert "registry_session" not in no_pre.cookies


def test_a_login_never_sends_the_browser_to_another_site(estate: Estate) -> None:
    for target in ("//evil.example.com/x", "https://evil.example.com/", "/\\evil", "nope"):
        assert _login(estate, estate.tokens["bob"], next_path=target).headers["location"] == "/"
    kept = _login(estate, estate.tokens["bob"], next_path="/workloads/customer-support")
    assert kept.headers["location"] == "/workloads/customer-support"


def test_revoking_the_token_ends_its_sessions(estate: Estate) -> None:
    operator = Registry.open(estate.database, actor="operator")
    created = operator.tokens.create(principal="alice@example.com", name="web")
    answer = _login(estate, created.token)
    client: httpx.Client = answer.extensions["client"]
    assert client.get("/").status_code == 200
    operator.tokens.revoke(created.info.id)
    assert client.get("/").headers["location"] == "/login"


def test_pages_answer_errors_as_pages_and_escape_card_html(estate: Estate, tmp_path: Path) -> None:
    client: httpx.Client = _login(estate, estate.tokens["bob"]).extensions["client"]
    missing = client.get("/requests/999999")
    assert missing.status_code == 404
    assert "text/html" in missing.headers["content-type"]
    assert "no promotion request" in missing.text
    assert client.get("/requests/abc").status_code == 422
    assert client.get("/entries/no-such-entry").status_code == 404
    owner = Registry.open(estate.database, actor="support-ml@example.com")
    owner.set_card(
        "support-bot@2",
        {
            "intended_use": "answers <script>alert(1)</script>",
            "limitations": "[click](javascript:alert(1))",
            "training_data": "tickets",
        },
    )
    shown = client.get("/entries/support-bot/versions/2").text
    assert "<script>alert(1)</script>" not in shown
    assert "&lt;script&gt;" in shown
    assert 'href="javascript:' not in shown
    api = httpx.get(f"{estate.url}/api/v1/requests/999999")
    assert api.headers["content-type"].startswith("application/problem+json")


def test_rollback_from_the_workload_page_for_those_allowed(estate: Estate) -> None:
    from conftest import promote_through

    promote_through(estate.database, "support-bot@2", "staging", "production")
    dave: httpx.Client = _login(estate, estate.tokens["dave"]).extensions["client"]
    page = dave.get("/workloads/customer-support")
    assert page.status_code == 200
    assert "Roll back" not in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    refused = dave.post(
        "/workloads/customer-support/rollback", data={"reason": "drill", "csrf": csrf.group(1)}
    )
    assert refused.status_code == 403
    bob: httpx.Client = _login(estate, estate.tokens["bob"]).extensions["client"]
    page = bob.get("/workloads/customer-support")
    assert "Roll back" in page.text
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    done = bob.post(
        "/workloads/customer-support/rollback",
        data={"reason": "latency drill", "csrf": token.group(1)},
    )
    assert done.status_code == 303
    after = bob.get("/workloads/customer-support").text
    assert "latency drill" in after
    now = Registry.open(estate.database).resolve("customer-support")
    assert now.stack.version == 1
    rolled = raw_rows(estate.database, "SELECT actor FROM ledger WHERE action = 'stage.rollback'")
    assert rolled == [("bob@example.com",)]
