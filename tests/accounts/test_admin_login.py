"""The Django admin's login goes through the site's login throttle."""

import pytest
from django.urls import reverse

from accounts import throttle

from .conftest import logged_in_user_id

pytestmark = pytest.mark.django_db

URL = reverse("admin:login")
SITE_LOGIN = reverse("accounts:login")


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_user(
        email="ops@example.com", password="pw-ops-12345", is_staff=True
    )


def post(client, password, address="10.0.0.1"):
    data = {"username": "ops@example.com", "password": password, "next": "/admin/"}
    return client.post(URL, data, REMOTE_ADDR=address)


def test_right_password_logs_an_operator_in(client, operator):
    response = post(client, "pw-ops-12345")
    assert response.status_code == 302
    assert logged_in_user_id(client) == str(operator.pk)


def test_right_password_is_refused_after_too_many_failures_from_that_address(client, operator):
    for _ in range(throttle.PAIR_LIMIT):
        assert post(client, "wrong-password").status_code == 200
    response = post(client, "pw-ops-12345")
    assert response.status_code == 200
    assert response.context["form"].has_error("__all__", code="throttled")
    assert logged_in_user_id(client) is None
    # Thirty more guesses change nothing: the right one is still refused.
    for _ in range(30):
        post(client, "wrong-password")
    assert logged_in_user_id(client) is None


def test_operator_still_logs_in_from_an_address_that_has_not_failed(client, operator):
    for _ in range(throttle.PAIR_LIMIT):
        post(client, "wrong-password", address="10.0.0.1")
    assert post(client, "pw-ops-12345", address="10.0.0.2").status_code == 302
    assert logged_in_user_id(client) == str(operator.pk)


def test_admin_and_site_logins_share_the_counts(client, operator):
    for _ in range(throttle.PAIR_LIMIT):
        post(client, "wrong-password")
    data = {"email": "ops@example.com", "password": "pw-ops-12345"}
    assert client.post(SITE_LOGIN, data, REMOTE_ADDR="10.0.0.1").status_code == 429
