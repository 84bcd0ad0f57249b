"""Browser tests drive Debian's chromium (`apt-get install chromium`) with Playwright's sync API.

Playwright's own browser downloads (`playwright install`) are never used. The sync API marks an
event loop as running while it is active, so a test does its database work before or after the
browser, never while it is open; `browser_page` is set up after the test database and closed
before it is flushed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.urls import reverse

PASSWORD = "Orchid-Lantern-42"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
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


def sign_up_and_create_project(page, base: str, email: str, name: str) -> None:
    """Sign up through the sign-up page (it leads to the dashboard), then create a project
    there (it leads to the project page)."""
    from playwright.sync_api import expect

    page.goto(base + reverse("accounts:signup"))
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password1]").fill(PASSWORD)
    page.locator("input[name=password2]").fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(base + reverse("projects:list"))
    new_project = page.locator(f"form[action='{reverse('projects:create')}']")
    new_project.locator("input[name=name]").fill(name)
    new_project.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
