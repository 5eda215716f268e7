"""The governance web UI in a real browser: people log in through a real OpenID provider
(oidc-provider-mock), decide in the pages of the real server, and the ledger records who
they are. Also: forged and token-less form posts, the keyboard, axe-core, and the AI-use
notice embedded in a page of another origin."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import yaml
from conftest import EXAMPLES, promote_through, raw_rows, register_support_components
from support.browser import axe_violations, chromium
from support.server import Estate, served_estate

pytestmark = pytest.mark.e2e

CLIENT_ID = "registry-web"
TIMEOUT_MS = 30_000
DOCS = Path(__file__).resolve().parents[2] / "docs"
ROUND_3 = [
    "llama-3.2-1b-instruct@3",
    "support-lora@3",
    "support-prompt@3",
    "bge-small-en@3",
    "kb-index@3",
    "support-evals@3",
]


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    """A real OpenID provider on localhost, knowing bob, alice and dave."""
    try:
        import oidc_provider_mock
    except ImportError:
        pytest.fail("oidc-provider-mock is a dev dependency: make .venv/.installed")
    with oidc_provider_mock.run_server_in_thread() as server:
        url = f"http://localhost:{server.server_port}"
        for who in ("bob", "alice", "dave"):
            email = f"{who}@example.com"
            answer = httpx.put(
                f"{url}/users/{quote(email)}",
                json={"email": email, "email_verified": True, "name": who.title()},
            )
            assert answer.status_code == 204
        yield url


def _catalog(root: Path) -> Path:
    """The example catalog, with customer-support and credit-scoring public (credit-scoring
    has nothing in production) and a non-public workload served by the same stack."""
    document = yaml.safe_load(EXAMPLES.read_text())
    document["workloads"]["internal-support"] = {"stack": "support-bot"}
    document["policy"]["public"] = ["customer-support", "credit-scoring"]
    path = root / "catalog.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture(scope="module")
def estate(issuer: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    """The example estate behind a server that logs people in through ``issuer``, with
    support-bot@3 in staging, carded but without evals, and alice's request to move it to
    production pending."""
    root = tmp_path_factory.mktemp("web")
    env = {
        "REGISTRY_OIDC_ISSUER": issuer,
        "REGISTRY_OIDC_AUDIENCE": "registry-pipeline",
        "REGISTRY_OIDC_CLIENT_ID": CLIENT_ID,
        "REGISTRY_OIDC_CLIENT_SECRET": "web-secret",
        "REGISTRY_DAGSTER_URL": "http://dagster.example.com",
    }
    with served_estate(root, env=env, then_catalog=_catalog(root)) as served:
        owner = register_support_components(served.database, root, round_=3)
        owner.register_stack("support-bot", ROUND_3)
        owner.set_card(
            "support-bot@3",
            {
                "intended_use": "answers support tickets",
                "limitations": "English only; no legal advice",
                "training_data": "tickets 2026 Q3",
            },
        )
        promote_through(served.database, "support-bot@3", "staging")
        served.request_id = served.promote(  # type: ignore[attr-defined]
            "support-bot@3", to="production", reason="better answers"
        )
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as found:
        yield found


def _context(browser: Any) -> Any:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, timezone_id="UTC", bypass_csp=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


def _log_in(browser: Any, estate: Estate, who: str, path: str = "/") -> Any:
    """A browser page logged in as ``who`` through the identity provider's form."""
    page = _context(browser).new_page()
    page.goto(estate.url + path)
    page.get_by_role("link", name="Log in with the identity provider").click()
    page.get_by_placeholder("sub").fill(f"{who}@example.com")
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_load_state()
    assert page.url == f"{estate.url}{path}", (page.url, page.content()[:2000])
    assert page.get_by_test_id("viewer").inner_text() == f"{who}@example.com"
    return page


def _ledger_head(estate: Estate) -> int:
    return int(raw_rows(estate.database, "SELECT seq FROM ledger_head")[0][0])


def _tab_to(page: Any, text: str, *, limit: int = 60) -> None:
    """Press Tab until the focused element reads ``text``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("() => (document.activeElement.innerText || '').trim()") == text:
            return
    raise AssertionError(f"Tab never reached {text!r}")


def _tab_to_field(page: Any, ident: str, *, limit: int = 80) -> None:
    """Press Tab until the form control with id ``ident`` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == ident:
            return
    raise AssertionError(f"Tab never reached #{ident}")


def _shot(page: Any, name: str) -> None:
    if os.environ.get("UPDATE_SCREENSHOTS"):
        page.screenshot(path=str(DOCS / f"web-{name}.png"), full_page=True)


def test_an_approver_decides_in_the_browser_as_themselves(estate: Estate, browser: Any) -> None:
    rid = estate.request_id  # type: ignore[attr-defined]
    bob = _log_in(browser, estate, "bob")
    assert axe_violations(bob) == []
    _shot(bob, "inbox")

    # The inbox, by keyboard: Tab to the request, Enter opens it.
    _tab_to(bob, f"#{rid}")
    bob.keyboard.press("Enter")
    bob.wait_for_url(f"{estate.url}/requests/{rid}")
    gates = bob.get_by_test_id("gates")
    assert gates.locator("[data-gate=evals]").get_attribute("data-passed") == "no"
    assert "no support-evals results" in gates.locator("[data-gate=evals]").inner_text()
    assert bob.locator("a[href^='http://dagster.example.com/assets/']").count() > 0
    assert axe_violations(bob) == []

    # The missing eval arrives through the CLI; the gate turns green.
    results = Path(estate.database.removeprefix("sqlite:///")).parent / "evals.json"
    results.write_text(json.dumps({"accuracy": 0.91, "hallucination_rate": 0.01}))
    code, _, err = estate.cli(
        "eval",
        "ingest",
        "support-bot@3",
        str(results),
        "--suite",
        "support-evals@1",
        token=estate.tokens["support-ml"],
    )
    assert code == 0, err
    bob.reload()
    assert gates.locator("[data-gate=evals]").get_attribute("data-passed") == "yes"
    assert "0.91" in bob.locator("section[aria-labelledby=evals]").inner_text()
    _shot(bob, "request")

    # Approve by keyboard alone: Tab to the reason, type it, Tab to Approve, Enter.
    _tab_to_field(bob, "reason")
    bob.keyboard.type("evals pass, card reviewed")
    _tab_to(bob, "Approve")
    bob.keyboard.press("Enter")
    bob.wait_for_url(f"{estate.url}/requests/{rid}")
    assert "bob@example.com approved" in bob.get_by_test_id("approvals").inner_text()
    bob.get_by_role("button", name="Apply: move support-bot@3 to production").click()
    bob.wait_for_url(f"{estate.url}/requests/{rid}")
    assert bob.get_by_test_id("status").inner_text() == "applied"

    bob.goto(f"{estate.url}/workloads/customer-support")
    newest = bob.get_by_test_id("timeline").locator("tbody tr").first
    assert "v3" in newest.inner_text()
    assert "bob@example.com" in newest.inner_text()
    assert axe_violations(bob) == []
    _shot(bob, "workload")
    bob.goto(f"{estate.url}/embed/v1/workloads/customer-support/card")
    assert "is an AI system" in bob.locator("h1").first.inner_text()
    assert axe_violations(bob) == []

    (approved,) = raw_rows(
        estate.database,
        "SELECT actor, auth FROM ledger WHERE action = 'promotion.approve' "
        "ORDER BY seq DESC LIMIT 1",
    )
    assert approved[0] == "bob@example.com"
    auth = json.loads(approved[1])
    assert auth["principal"] == "bob@example.com"
    assert auth["method"] == "oidc"
    assert auth["subject"] == "bob@example.com"
    bob.context.close()


def test_the_requester_and_a_stranger_cannot_decide_and_forgeries_change_nothing(
    estate: Estate, browser: Any
) -> None:
    rid = estate.promote("support-bot@2", to="staging", reason="second try")
    alice = _log_in(browser, estate, "alice", f"/requests/{rid}")
    decide = alice.get_by_test_id("decide")
    assert decide.get_by_role("button", name="Approve").count() == 0
    csrf = decide.locator("input[name=csrf]").get_attribute("value")
    head = _ledger_head(estate)

    forged = alice.context.request.post(
        f"{estate.url}/requests/{rid}/decide",
        form={"decision": "approve", "reason": "my own", "csrf": csrf},
        max_redirects=0,
    )
    assert forged.status == 403
    assert "cannot approve it" in forged.text()
    tokenless = alice.context.request.post(
        f"{estate.url}/requests/{rid}/decide",
        form={"decision": "reject", "reason": "no token"},
        max_redirects=0,
    )
    assert tokenless.status == 403
    other_origin = alice.context.request.post(
        f"{estate.url}/requests/{rid}/decide",
        form={"decision": "reject", "reason": "from elsewhere", "csrf": csrf},
        headers={"Origin": "http://evil.example.com"},
        max_redirects=0,
    )
    assert other_origin.status == 403

    dave = _log_in(browser, estate, "dave", f"/requests/{rid}")
    assert dave.get_by_test_id("decide").count() == 0
    assert "may not" in dave.get_by_test_id("no-decide").inner_text()
    dave_csrf = dave.locator("form[action='/logout'] input[name=csrf]").get_attribute("value")
    stranger = dave.context.request.post(
        f"{estate.url}/requests/{rid}/decide",
        form={"decision": "approve", "reason": "why not", "csrf": dave_csrf},
        max_redirects=0,
    )
    assert stranger.status == 403
    assert _ledger_head(estate) == head

    # Logging out ends the session for every copy of its cookie.
    cookies = dave.context.cookies()
    dave.get_by_role("button", name="Log out").click()
    dave.wait_for_url(f"{estate.url}/login")
    replay = httpx.get(
        f"{estate.url}/requests/{rid}",
        cookies={c["name"]: c["value"] for c in cookies},
        follow_redirects=False,
    )
    assert replay.status_code == 303
    assert replay.headers["location"].startswith("/login")
    alice.context.close()
    dave.context.close()


class _Site(SimpleHTTPRequestHandler):
    def log_message(self, *_: Any) -> None:
        pass


def test_the_notice_embeds_in_another_origin_without_cookies(
    estate: Estate, browser: Any, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    for workload in ("customer-support", "internal-support", "credit-scoring"):
        (site / f"{workload}.html").write_text(
            "<!doctype html><html lang='en'><head><title>Help</title></head><body>"
            "<h1>Help centre</h1>"
            f'<script src="{estate.url}/embed/v1/notice.js" data-workload="{workload}" '
            "async></script></body></html>"
        )
    server = ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: _Site(*a, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://localhost:{server.server_address[1]}"
    try:
        page = _log_in(browser, estate, "bob")  # the browser holds a registry session
        sent: list[dict[str, str]] = []
        page.on(
            "request",
            lambda r: sent.append(r.headers) if "/embed/v1/workloads/" in r.url else None,
        )
        page.goto(f"{origin}/customer-support.html")
        notice = page.locator("[data-registry-notice=customer-support]")
        notice.wait_for()
        text = notice.inner_text()
        assert "You are talking to an AI system." in text
        assert "support-bot version 3" in text
        assert "approved for production on 20" in text
        assert sent
        assert all("cookie" not in h for h in sent)
        if os.environ.get("UPDATE_SCREENSHOTS"):
            notice.screenshot(path=str(DOCS / "web-notice.png"))
        card = page.get_by_role("link", name="About this system").get_attribute("href")
        assert httpx.get(card).status_code == 200

        for hidden in ("internal-support", "credit-scoring"):
            page.goto(f"{origin}/{hidden}.html")
            page.wait_for_load_state("networkidle")
            assert page.locator("[data-registry-notice]").count() == 0

        answer = httpx.get(f"{estate.url}/embed/v1/workloads/customer-support.json")
        assert answer.headers["access-control-allow-origin"] == "*"
        assert "set-cookie" not in answer.headers
        again = httpx.get(
            f"{estate.url}/embed/v1/workloads/customer-support.json",
            headers={"If-None-Match": answer.headers["etag"]},
        )
        assert again.status_code == 304
        page.context.close()
    finally:
        server.shutdown()
        server.server_close()


def test_a_login_answer_not_started_here_is_refused(estate: Estate) -> None:
    forged = httpx.get(f"{estate.url}/login/callback?state=forged&code=abc")
    assert forged.status_code == 401
    assert "text/html" in forged.headers["content-type"]
    assert "registry_session" not in forged.cookies
    # With an identity provider configured, a pasted token is no way in.
    pasted = httpx.post(
        f"{estate.url}/login/token", data={"token": estate.tokens["bob"], "pre": "x"}
    )
    assert pasted.status_code == 403
    assert "registry_session" not in pasted.cookies
