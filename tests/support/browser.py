"""Headless Debian Chromium under Playwright, and axe-core injected into pages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conftest import unavailable

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
AXE = Path(__file__).resolve().parents[1] / "e2e" / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")


@contextmanager
def chromium(args: list[str] | None = None) -> Iterator[Any]:
    """A headless Chromium started with ``args`` (skip without one, saying how to get it;
    fail on CI)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed: .venv/bin/pip install playwright")
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} not found: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=args or CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """The serious and critical accessibility violations axe-core finds on ``page`` (its
    context made with ``bypass_csp=True``: the pages allow no inline script)."""
    if not AXE.exists():
        unavailable(f"{AXE} is missing: npm ci --prefix tests/e2e")
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    found = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["html"] for n in v["nodes"]][:3]}
        for v in found
        if v.get("impact") in SERIOUS
    ]
