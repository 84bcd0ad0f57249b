"""The Content-Security-Policy breaks nothing: a developer drives the dashboard, the project page
and its console, the language menu and the docs in a real browser, and no violation happens.

The browser reports each violation as a `securitypolicyviolation` event (sent to the test through
an exposed function) and as a console error; the test listens to both. At the end an inline
script is injected on purpose, to show that the listeners do hear a violation.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.browser.conftest import UUID, sign_up_and_create_project

pytestmark = pytest.mark.server

EMAIL = "csp@example.com"
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportCspViolation(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def test_dashboard_console_language_and_docs_cause_no_csp_violation(start_server, browser_page):
    server = start_server()
    base = f"http://127.0.0.1:{server.port}"
    page = browser_page
    violations: list[str] = []
    console_errors: list[str] = []
    policies: list[str] = []
    page.expose_function("reportCspViolation", lambda text: violations.append(text))
    page.add_init_script(REPORT_VIOLATIONS)
    page.on(
        "console",
        lambda message: (
            console_errors.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    page.on(
        "response",
        lambda response: (
            policies.append(response.headers.get("content-security-policy", ""))
            if response.request.resource_type == "document"
            else None
        ),
    )

    sign_up_and_create_project(page, base, EMAIL, "CSP chat")

    # The console: connect, become admin, broadcast, see the echo (scripts and WebSocket).
    console = page.locator("[data-console]")
    log = console.locator("[data-ref=log]")
    console.get_by_role("button", name="Connect", exact=True).click()
    expect(console.locator("[data-ref=conn-id]")).to_have_text(UUID)
    console.get_by_role("button", name="Become admin").click()
    expect(console.locator("[data-ref=status]")).to_have_attribute("data-status", "admin")
    console.get_by_label("Data", exact=True).fill("hello")
    console.get_by_role("button", name="Send", exact=True).click()
    expect(log.locator(".in", has_text='"data": "hello"')).to_have_count(1)
    # Styles moved out of the page still apply: the log keeps its dark background.
    background = log.evaluate("el => getComputedStyle(el).backgroundColor")
    assert background == "rgb(15, 23, 42)"

    # The dashboard, then the language menu (its handler is in static/js/base.js now).
    page.goto(base + reverse("projects:list"))
    with page.expect_navigation():
        page.locator("header select[name=language]").select_option("id")
    expect(page.locator("html")).to_have_attribute("lang", "id")

    page.goto(base + reverse("docs:protocol"))
    expect(page.locator("article.prose h1")).to_be_visible()
    page.wait_for_timeout(300)  # let late reports arrive

    assert violations == []
    assert console_errors == []
    assert policies and all("script-src 'self'" in policy for policy in policies)

    # The listeners do hear a violation: an inline script is refused and reported.
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.ran = 1'; document.body.append(s); }"
    )
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.ran") is None
    assert any(v.startswith("script-src") for v in violations)
