"""Every page carries a Content-Security-Policy that allows no inline script or style, and the
pages themselves hold none."""

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style|\son[a-z]+=|\sstyle=", re.I)


@pytest.mark.parametrize(
    "url",
    [
        reverse("projects:home"),
        reverse("accounts:login"),
        reverse("accounts:signup"),
        reverse("docs:protocol"),
        reverse("admin:login"),
    ],
)
def test_pages_carry_a_policy_without_inline_code(client, url):
    response = client.get(url)
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert INLINE.search(response.text) is None


def test_project_page_with_its_console_holds_no_inline_code(client, alice, project):
    client.force_login(alice)
    response = client.get(reverse("projects:detail", args=[project.public_id]))
    assert response.status_code == 200
    assert "Content-Security-Policy" in response.headers
    assert INLINE.search(response.text) is None
