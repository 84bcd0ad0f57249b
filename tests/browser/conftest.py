"""Browser tests drive Debian's chromium (`apt-get install chromium`) with Playwright's sync API.

Playwright's own browser downloads (`playwright install`) are never used. The sync API marks an
event loop as running while it is active, so a test does its database work before or after the
browser, never while it is open; `browser_page` is set up after the test database and closed
before it is flushed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("RELAY_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser_page(transactional_db):
    """A page of a fresh headless chromium, 1280x900, closed after the test."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"chromium not found at {CHROMIUM}: install Debian's package "
            "(apt-get install -y chromium chromium-driver, as .ci/run does) "
            "or set RELAY_CHROMIUM to its path. Never `playwright install`.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(15_000)
            yield context.new_page()
        finally:
            browser.close()
