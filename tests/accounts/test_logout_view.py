import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import reverse

from .conftest import logged_in_user_id

pytestmark = pytest.mark.django_db

URL = reverse("accounts:logout")


def test_post_logs_out_and_redirects(client, alice):
    client.force_login(alice)
    response = client.post(URL)
    assert response.status_code == 302
    assert response.url == resolve_url(settings.LOGOUT_REDIRECT_URL)
    assert logged_in_user_id(client) is None


def test_rejects_get(client, alice):
    client.force_login(alice)
    assert client.get(URL).status_code == 405
    assert logged_in_user_id(client) == str(alice.pk)


def test_post_without_csrf_token_is_forbidden(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(URL).status_code == 403
    assert logged_in_user_id(client) == str(alice.pk)
