"""The live console in a real browser, against a real server.

A developer signs up, creates a project, opens its page, connects the console, becomes admin in
one click, broadcasts "hello" and sees it come back, then switches the page to Indonesian.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import UUID, sign_up_and_create_project

pytestmark = pytest.mark.server

SCREENSHOT = Path("/tmp/console.png")
PHONE_SCREENSHOT = Path("/tmp/console-phone.png")
EMAIL = "dev@example.com"


def test_console_connects_becomes_admin_broadcasts_and_speaks_indonesian(
    start_server, browser_page
):
    server = start_server()
    base = f"http://127.0.0.1:{server.port}"
    page = browser_page

    sign_up_and_create_project(page, base, EMAIL, "Browser chat")

    console = page.locator("[data-console]")
    expect(console).to_be_visible()
    log = console.locator("[data-ref=log]")

    console.get_by_role("button", name="Connect", exact=True).click()
    expect(console.locator("[data-ref=state]")).to_have_attribute("data-state", "open")
    expect(console.locator("[data-ref=conn-id]")).to_have_text(UUID)
    conn_id = console.locator("[data-ref=conn-id]").inner_text()
    expect(console.locator("[data-ref=status]")).to_have_attribute("data-status", "pending")
    expect(log.locator(".in").first).to_contain_text(f'"id": "{conn_id}"')

    # Become admin in one click; the key is sent but never shown.
    with page.expect_response(lambda r: r.request.method == "POST") as key_response:
        console.get_by_role("button", name="Become admin").click()
    admin_key = key_response.value.json()["admin_key"]
    expect(console.locator("[data-ref=status]")).to_have_attribute("data-status", "admin")
    expect(log.locator(".in", has_text='"status": "success"')).to_contain_text('"event": "admin"')
    expect(log.locator(".out", has_text='"event": "admin"')).to_contain_text("\u2022" * 8)
    assert admin_key not in log.inner_text()
    assert admin_key not in console.inner_html()

    # Broadcast "hello" (not JSON, so sent as a string) and see it come back.
    console.get_by_label("To", exact=True).fill("all")
    console.get_by_label("Data", exact=True).fill("hello")
    expect(console.locator("[data-ref=data-as]")).to_have_text(re.compile(r"\btext\b"))
    console.get_by_role("button", name="Send", exact=True).click()
    expect(log.locator(".out").last).to_have_text(re.compile(r'\{"to": "all", "data": "hello"\}$'))
    echo = log.locator(".in", has_text='"data": "hello"')
    expect(echo).to_contain_text(f'"from": "{conn_id}"')
    expect(echo).to_contain_text('"to": "all"')
    expect(log.locator("time").last).to_have_text(re.compile(r"^\d\d:\d\d:\d\d\.\d{3}$"))
    console.screenshot(path=str(SCREENSHOT))

    # On a phone the console fits the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    assert console.evaluate("el => el.scrollWidth <= el.clientWidth + 1")
    box = console.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 391
    console.screenshot(path=str(PHONE_SCREENSHOT))
    page.set_viewport_size({"width": 1280, "height": 900})

    # A second connection shows up as pending; one click approves it; its close is explained.
    other = page.context.new_page()
    other.goto(page.url)
    other_console = other.locator("[data-console]")
    other_console.get_by_role("button", name="Connect", exact=True).click()
    expect(other_console.locator("[data-ref=conn-id]")).to_have_text(UUID)
    other_id = other_console.locator("[data-ref=conn-id]").inner_text()
    pending = console.locator("[data-ref=pending] li", has_text=other_id)
    pending.get_by_role("button", name="Approve").click()
    expect(pending).to_have_count(0)
    expect(other_console.locator("[data-ref=status]")).to_have_attribute("data-status", "approved")
    expect(console.locator(f"#console-ids option[value='{other_id}']")).to_have_count(1)
    other_console.get_by_role("button", name="Disconnect").click()
    expect(other_console.locator("[data-ref=log] .sys").last).to_contain_text("1000")
    expect(log.locator(".in").last).to_contain_text(f'"left_id": "{other_id}"')
    expect(console.locator(f"#console-ids option[value='{other_id}']")).to_have_count(0)
    other.close()

    # Switch the page to Indonesian with the switcher in the top bar. Django's own catalog
    # already says "Keluar" for "Log out"; "Proyek" needs the project's Indonesian catalog.
    with page.expect_navigation():
        page.locator("header select[name=language]").select_option("id")
    expect(page.locator("html")).to_have_attribute("lang", "id")
    expect(page.locator("header nav")).to_contain_text("Keluar")
    expect(page.locator("header nav")).to_contain_text("Proyek")
