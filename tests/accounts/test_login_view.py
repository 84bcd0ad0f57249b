import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import reverse

from accounts import throttle

from .conftest import logged_in_user_id

pytestmark = pytest.mark.django_db

URL = reverse("accounts:login")
RIGHT = {"email": "alice@example.com", "password": "pw-alice-123"}
WRONG = {"email": "alice@example.com", "password": "not-her-password"}


def post(client, data, address="10.0.0.1", **extra):
    return client.post(URL, data, REMOTE_ADDR=address, **extra)


def test_shows_the_form(client):
    response = client.get(URL)
    assert response.status_code == 200
    assert 'name="email"' in response.text
    assert 'type="password"' in response.text
    assert reverse("accounts:password-reset") in response.text


def test_logs_in_and_redirects_to_the_login_redirect_url(client, alice):
    response = post(client, RIGHT)
    assert response.status_code == 302
    assert response.url == resolve_url(settings.LOGIN_REDIRECT_URL)
    assert logged_in_user_id(client) == str(alice.pk)


def test_email_is_matched_in_any_case(client, alice):
    response = post(client, {**RIGHT, "email": "ALICE@Example.com"})
    assert response.status_code == 302
    assert logged_in_user_id(client) == str(alice.pk)


def test_follows_a_next_url_on_this_site(client, alice):
    response = client.post(f"{URL}?next=/accounts/password/change/", RIGHT)
    assert response.url == "/accounts/password/change/"


def test_ignores_a_next_url_on_another_site(client, alice):
    response = client.post(URL, {**RIGHT, "next": "https://evil.example/"})
    assert response.url == resolve_url(settings.LOGIN_REDIRECT_URL)


def test_wrong_password_is_refused(client, alice):
    response = post(client, WRONG)
    assert response.status_code == 200
    assert response.context["form"].has_error("__all__", code="invalid_login")
    assert "do not match an account" in response.text
    assert logged_in_user_id(client) is None


def test_unknown_email_gets_the_same_error(client, alice):
    response = post(client, {"email": "nobody@example.com", "password": "pw-alice-123"})
    assert response.context["form"].has_error("__all__", code="invalid_login")


def test_bad_email_is_refused(client):
    response = post(client, {"email": "not-an-email", "password": "whatever"})
    assert response.status_code == 200
    assert response.context["form"].has_error("email", code="invalid")


def test_inactive_account_cannot_log_in(client, alice):
    alice.is_active = False
    alice.save()
    response = post(client, RIGHT)
    assert response.context["form"].has_error("__all__", code="invalid_login")
    assert logged_in_user_id(client) is None


def test_logged_in_user_is_sent_on(client, alice):
    client.force_login(alice)
    response = client.get(URL)
    assert response.status_code == 302
    assert response.url == resolve_url(settings.LOGIN_REDIRECT_URL)


def test_rejects_put(client):
    assert client.put(URL).status_code == 405


def test_post_without_csrf_token_is_forbidden(alice):
    client = Client(enforce_csrf_checks=True)
    response = client.post(URL, RIGHT)
    assert response.status_code == 403
    assert logged_in_user_id(client) is None


# Throttling


def test_account_refuses_the_right_password_from_an_address_with_too_many_failures(client, alice):
    for _ in range(throttle.PAIR_LIMIT):
        assert post(client, WRONG).status_code == 200
    response = post(client, RIGHT)
    assert response.status_code == 429
    assert response.context["form"].has_error("__all__", code="throttled")
    assert "Too many failed attempts" in response.text
    assert logged_in_user_id(client) is None


def test_strangers_failures_do_not_lock_the_owner_out_from_her_own_address(client, alice):
    # Wrong passwords for alice from many addresses, as many as each address may make.
    for n in range(5):
        for _ in range(throttle.PAIR_LIMIT):
            post(client, WRONG, address=f"10.0.1.{n}")
        assert post(client, RIGHT, address=f"10.0.1.{n}").status_code == 429
    # Her own address has not failed: the right password logs her in.
    response = post(client, RIGHT, address="10.0.2.1")
    assert response.status_code == 302
    assert logged_in_user_id(client) == str(alice.pk)


def test_address_refuses_everyone_after_too_many_failures(client, alice, mallory):
    for n in range(throttle.ADDRESS_LIMIT):
        post(client, {"email": f"guess{n}@example.com", "password": "guess"}, address="10.0.0.9")
    response = post(client, RIGHT, address="10.0.0.9")
    assert response.status_code == 429
    assert logged_in_user_id(client) is None
    # The same account from another address is still welcome.
    assert post(client, RIGHT, address="10.0.0.10").status_code == 302
    assert logged_in_user_id(client) == str(alice.pk)


def test_unknown_email_is_throttled_like_a_known_one(client):
    data = {"email": "nobody@example.com", "password": "guess"}
    for _ in range(throttle.PAIR_LIMIT):
        post(client, data)
    assert post(client, data).status_code == 429


def test_success_clears_the_count_of_the_account_from_that_address(client, alice):
    for _ in range(throttle.PAIR_LIMIT - 1):
        post(client, WRONG)
    assert post(client, RIGHT).status_code == 302
    client.logout()
    for _ in range(throttle.PAIR_LIMIT - 1):
        post(client, WRONG)
    # Without the reset, this would be the sixth failure in the window: refused.
    assert post(client, RIGHT).status_code == 302


def test_right_password_works_again_once_the_window_passes(client, alice, clock):
    for _ in range(throttle.PAIR_LIMIT):
        post(client, WRONG)
    assert post(client, RIGHT).status_code == 429
    clock(throttle.WINDOW_SECONDS + 1)
    assert post(client, RIGHT).status_code == 302
    assert logged_in_user_id(client) == str(alice.pk)


@pytest.fixture
def behind_one_proxy(settings):
    settings.RELAY = {
        **settings.RELAY,
        "TRUSTED_PROXY_HEADER": "X-Forwarded-For",
        "TRUSTED_PROXY_COUNT": 1,
    }


def test_behind_a_proxy_failures_count_against_the_address_the_proxy_saw(
    client, alice, behind_one_proxy
):
    # Each attempt claims another address first; the proxy appends the one it saw.
    for n in range(throttle.PAIR_LIMIT):
        post(client, WRONG, address="10.0.0.1", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.5")
    response = post(client, RIGHT, address="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert response.status_code == 429
    # Another client of the same proxy is not throttled.
    response = post(client, RIGHT, address="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.6")
    assert response.status_code == 302


def test_without_a_proxy_setting_the_forwarded_header_is_ignored(client, alice):
    for n in range(throttle.PAIR_LIMIT):
        post(client, WRONG, address="10.0.0.1", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
    response = post(client, RIGHT, address="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.99")
    assert response.status_code == 429
