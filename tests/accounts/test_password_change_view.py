import pytest
from django.test import Client
from django.urls import reverse

from .conftest import logged_in_user_id

pytestmark = pytest.mark.django_db

URL = reverse("accounts:password-change")
DONE_URL = reverse("accounts:password-change-done")


def data(**overrides) -> dict:
    return {
        "old_password": "pw-alice-123",
        "new_password1": "new-horse-battery-9",
        "new_password2": "new-horse-battery-9",
        **overrides,
    }


def test_requires_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response.url == f"{reverse('accounts:login')}?next={URL}"


def test_post_requires_login(client, alice):
    response = client.post(URL, data())
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("pw-alice-123")


def test_shows_the_logged_in_user_and_nobody_else(client, alice, mallory):
    client.force_login(mallory)
    response = client.get(URL)
    assert response.status_code == 200
    assert "mallory@example.com" in response.text
    assert "alice@example.com" not in response.text


def test_changes_the_password_and_keeps_this_session(client, alice):
    client.force_login(alice)
    response = client.post(URL, data())
    assert response.status_code == 302
    assert response.url == DONE_URL
    alice.refresh_from_db()
    assert alice.check_password("new-horse-battery-9")
    assert client.get(DONE_URL).status_code == 200
    assert logged_in_user_id(client) == str(alice.pk)


def test_ends_the_users_other_sessions(client, alice):
    other = Client()
    other.force_login(alice)
    client.force_login(alice)
    client.post(URL, data())
    response = other.get(URL)
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_changes_only_the_logged_in_users_password(client, alice, mallory):
    client.force_login(mallory)
    response = client.post(
        URL,
        data(old_password="pw-mallory-123", email="alice@example.com", user=alice.pk),
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    mallory.refresh_from_db()
    assert alice.check_password("pw-alice-123")
    assert mallory.check_password("new-horse-battery-9")


def test_rejects_a_wrong_current_password(client, alice):
    client.force_login(alice)
    response = client.post(URL, data(old_password="guess"))
    assert response.status_code == 200
    assert response.context["form"].has_error("old_password", code="password_incorrect")
    alice.refresh_from_db()
    assert alice.check_password("pw-alice-123")


def test_rejects_mismatched_new_passwords(client, alice):
    client.force_login(alice)
    response = client.post(URL, data(new_password2="new-horse-battery-8"))
    assert response.context["form"].has_error("new_password2", code="password_mismatch")


def test_rejects_a_weak_new_password(client, alice):
    client.force_login(alice)
    response = client.post(URL, data(new_password1="password", new_password2="password"))
    assert response.context["form"].has_error("new_password2", code="password_too_common")


def test_rejects_put(client, alice):
    client.force_login(alice)
    assert client.put(URL).status_code == 405


def test_done_page_requires_login(client):
    response = client.get(DONE_URL)
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_done_page_rejects_post(client, alice):
    client.force_login(alice)
    assert client.post(DONE_URL).status_code == 405
