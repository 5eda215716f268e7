"""The web UI where no identity provider is configured: a printed login link logs in by
token (its fragment never reaches the server), and an approver signs an approval away from
the registry, pasting the detached signature into the page."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from conftest import EXAMPLES, promote_through
from support.browser import axe_violations, chromium
from support.server import Estate, served_estate

from registry_pipeline import signatures

pytestmark = pytest.mark.e2e
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    """The example estate where production of a limited-risk system needs a signed
    approval and bob's key is in the policy; alice asks for support-bot@2 in production."""
    root = tmp_path_factory.mktemp("signed")
    key = root / "bob.pem"
    document = yaml.safe_load(EXAMPLES.read_text())
    production = document["policy"]["stages"]["production"]
    production["by_risk_class"]["limited"] = {"signed_approvals": True}
    document["policy"]["approver_keys"] = {"bob@example.com": signatures.generate(key)}
    catalog = root / "catalog.yaml"
    catalog.write_text(yaml.safe_dump(document))
    with served_estate(root, then_catalog=catalog) as served:
        promote_through(served.database, "support-bot@2", "staging")
        served.request_id = served.promote(  # type: ignore[attr-defined]
            "support-bot@2", to="production", reason="signed release"
        )
        served.key = key  # type: ignore[attr-defined]
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as found:
        yield found


def _page(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def test_the_login_page_is_accessible_and_a_login_link_logs_in(
    estate: Estate, browser: Any
) -> None:
    page = _page(browser)
    page.goto(f"{estate.url}/login")
    assert page.get_by_label("Registry token").count() == 1
    assert axe_violations(page) == []
    page.goto("about:blank")  # a link opened afresh, not a jump within the login page
    page.goto(f"{estate.url}/login#token={estate.tokens['bob']}")
    page.wait_for_url(f"{estate.url}/")
    assert page.get_by_test_id("viewer").inner_text() == "bob@example.com"
    page.context.close()


def test_an_approver_signs_away_from_the_registry_and_pastes_the_signature(
    estate: Estate, browser: Any
) -> None:
    rid = estate.request_id  # type: ignore[attr-defined]
    page = _page(browser)
    page.goto(f"{estate.url}/login#token={estate.tokens['bob']}")
    page.wait_for_url(f"{estate.url}/")
    page.goto(f"{estate.url}/requests/{rid}")
    gate = page.get_by_test_id("gates").locator("[data-gate=approvals]")
    assert gate.get_attribute("data-passed") == "no"
    for page_url in ("/entries", "/entries/support-bot", "/entries/support-bot/versions/2"):
        page.goto(estate.url + page_url)
        assert axe_violations(page) == [], page_url
    for page_url in ("/audit", "/exports", "/workloads"):
        page.goto(estate.url + page_url)
        assert axe_violations(page) == [], page_url
    page.goto(f"{estate.url}/requests/{rid}")
    page.get_by_label("Reason to sign").fill("signed: evals and card reviewed")
    page.get_by_role("button", name="Prepare the document to sign").click()
    assert axe_violations(page) == []
    private = signatures.load_private(estate.key)  # type: ignore[attr-defined]
    forged = base64.b64encode(private.sign(b"some other text")).decode("ascii")
    page.get_by_label("Detached signature (base64)").fill(forged)
    page.get_by_role("button", name="Approve with this signature").click()
    assert "another key" in page.get_by_role("alert").inner_text()
    page.go_back()
    message = page.get_by_label("The text to sign").inner_text()
    # The approver signs the exact text with their own tool; only the signature comes back.
    signature = base64.b64encode(private.sign(message.encode("utf-8"))).decode("ascii")
    page.get_by_label("Detached signature (base64)").fill(signature)
    page.get_by_role("button", name="Approve with this signature").click()
    page.wait_for_url(f"{estate.url}/requests/{rid}")
    decided = page.get_by_test_id("approvals").inner_text()
    assert "bob@example.com approved" in decided
    assert "(signed)" in decided
    assert gate.get_attribute("data-passed") == "yes"
    page.context.close()
