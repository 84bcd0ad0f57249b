"""The project page reveals the admin key and the webhook signing secret only when asked (a
POST each), in a real browser."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.urls import reverse
from playwright.sync_api import expect

from projects.models import WebhookEndpoint
from tests.browser.conftest import PASSWORD
from tests.conftest import make_project

EMAIL = "secrets@example.com"


@pytest.fixture
def project_with_webhook(transactional_db):
    """Made before the browser opens (no database work while it is open)."""
    # Hashed as the server process hashes (the tests' fast hasher is this process's only).
    password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    user = get_user_model().objects.create(email=EMAIL, password=password)
    project = make_project(user, name="Secrets")
    endpoint = WebhookEndpoint.objects.create(
        project=project, url="http://127.0.0.1:9/hook", events=["connection.opened"]
    )
    return project, endpoint


def test_reveal_shows_the_admin_key_and_the_webhook_secret(
    project_with_webhook, start_server, browser_page
):
    project, endpoint = project_with_webhook
    server = start_server()
    base = f"http://127.0.0.1:{server.port}"
    page = browser_page

    page.goto(base + reverse("accounts:login"))
    page.locator("input[name=email]").fill(EMAIL)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Log in").click()
    page.goto(base + reverse("projects:detail", args=[project.public_id]))

    key_box = page.locator("#admin-key")
    assert project.admin_key not in page.content()
    page.locator("[data-reveal-key]").click()
    expect(key_box).to_have_text(project.admin_key)
    page.locator("[data-reveal-key]").click()
    expect(key_box).not_to_have_text(project.admin_key)

    secret_box = page.locator("#webhook-secret")
    assert endpoint.secret not in page.content()
    page.locator("[data-reveal-secret]").click()
    expect(secret_box).to_have_text(endpoint.secret)
