"""The reset flow: ask (password-reset), sent (-done), choose (-confirm), set (-complete)."""

import re

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import throttle

from .conftest import logged_in_user_id

pytestmark = pytest.mark.django_db

URL = reverse("accounts:password-reset")
SENT_URL = reverse("accounts:password-reset-done")
COMPLETE_URL = reverse("accounts:password-reset-complete")
NEW = {"new_password1": "new-horse-battery-9", "new_password2": "new-horse-battery-9"}


def link_in(message) -> str:
    match = re.search(r"https?://testserver(/\S+)", message.body)
    assert match, message.body
    return match.group(1)


def without_csrf_tokens(html: str) -> str:
    # Each render masks the CSRF token differently; everything else must match.
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)


def confirm_url(user, token: str | None = None) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = token or default_token_generator.make_token(user)
    return reverse("accounts:password-reset-confirm", args=[uid, token])


def test_shows_the_form(client):
    response = client.get(URL)
    assert response.status_code == 200
    assert 'name="email"' in response.text


def test_sends_one_email_whose_link_sets_a_new_password(client, alice):
    response = client.post(URL, {"email": "alice@example.com"})
    assert response.status_code == 302
    assert response.url == SENT_URL
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.com"]
    assert "Reset your Relay password" in message.subject

    response = client.get(link_in(message))
    # Django moves the token into the session, then shows the form without it in the URL.
    assert response.status_code == 302
    form_page = response.url
    assert client.get(form_page).status_code == 200
    response = client.post(form_page, NEW)
    assert response.status_code == 302
    assert response.url == COMPLETE_URL

    alice.refresh_from_db()
    assert alice.check_password("new-horse-battery-9")
    response = client.post(
        reverse("accounts:login"),
        {"email": "alice@example.com", "password": "new-horse-battery-9"},
    )
    assert response.status_code == 302
    assert logged_in_user_id(client) == str(alice.pk)


def test_finds_the_account_whatever_the_case(client, alice):
    client.post(URL, {"email": "ALICE@Example.com"})
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.com"]


def test_unknown_address_gets_no_email_and_the_same_page(client, alice):
    known = client.post(URL, {"email": "alice@example.com"}, follow=True)
    mail.outbox.clear()
    unknown = client.post(URL, {"email": "nobody@example.com"}, follow=True)
    assert mail.outbox == []
    assert unknown.redirect_chain == known.redirect_chain == [(SENT_URL, 302)]
    assert unknown.status_code == known.status_code == 200
    assert without_csrf_tokens(unknown.text) == without_csrf_tokens(known.text)


def test_inactive_account_gets_no_email(client, alice):
    alice.is_active = False
    alice.save()
    response = client.post(URL, {"email": "alice@example.com"})
    assert response.url == SENT_URL
    assert mail.outbox == []


def test_rejects_a_bad_email(client):
    response = client.post(URL, {"email": "not-an-email"})
    assert response.status_code == 200
    assert response.context["form"].has_error("email", code="invalid")
    assert mail.outbox == []


def test_link_works_only_once(client, alice):
    client.post(URL, {"email": "alice@example.com"})
    link = link_in(mail.outbox[0])
    form_page = client.get(link).url
    client.post(form_page, NEW)
    response = client.get(link, follow=True)
    assert response.status_code == 200
    assert not response.context["validlink"]
    assert "This link is not valid" in response.text


def test_another_users_account_cannot_be_reset_without_its_token(client, alice, mallory):
    client.force_login(mallory)
    mallory_token = default_token_generator.make_token(mallory)
    response = client.get(confirm_url(alice, token=mallory_token), follow=True)
    assert not response.context["validlink"]
    response = client.post(confirm_url(alice, token=mallory_token), NEW)
    alice.refresh_from_db()
    assert alice.check_password("pw-alice-123")


def test_rejects_mismatched_new_passwords(client, alice):
    form_page = client.get(confirm_url(alice)).url
    response = client.post(form_page, {**NEW, "new_password2": "new-horse-battery-8"})
    assert response.status_code == 200
    assert response.context["form"].has_error("new_password2", code="password_mismatch")


def test_rejects_a_weak_new_password(client, alice):
    form_page = client.get(confirm_url(alice)).url
    response = client.post(form_page, {"new_password1": "12345", "new_password2": "12345"})
    assert response.context["form"].has_error("new_password2", code="password_too_short")


def test_new_password_lifts_the_login_limit(client, alice):
    for _ in range(throttle.PAIR_LIMIT):
        throttle.record_failure("alice@example.com", "127.0.0.1")
    assert throttle.is_throttled("alice@example.com", "127.0.0.1")
    form_page = client.get(confirm_url(alice)).url
    client.post(form_page, NEW)
    assert not throttle.is_throttled("alice@example.com", "127.0.0.1")


def test_sent_and_complete_pages_show(client):
    assert client.get(SENT_URL).status_code == 200
    response = client.get(COMPLETE_URL)
    assert response.status_code == 200
    assert reverse("accounts:login") in response.text


@pytest.mark.parametrize(
    ("method", "url"),
    [("put", URL), ("post", SENT_URL), ("post", COMPLETE_URL)],
)
def test_rejects_wrong_methods(client, method, url):
    assert getattr(client, method)(url).status_code == 405


def test_confirm_rejects_put(client, alice):
    assert client.put(confirm_url(alice)).status_code == 405


def test_reset_emails_to_one_inbox_are_limited_whoever_asks(client, alice):
    for n in range(11):
        response = client.post(URL, {"email": "alice@example.com"}, REMOTE_ADDR=f"10.0.6.{n}")
        # The same page every time: nobody learns whether an email went out.
        assert response.status_code == 302
        assert response.url == SENT_URL
    assert len(mail.outbox) == throttle.RESET_INBOX.count


def test_reset_requests_from_one_address_are_limited(client, alice, mallory):
    for n in range(throttle.RESET_ADDRESS.count):
        response = client.post(URL, {"email": f"someone{n}@example.com"}, REMOTE_ADDR="10.0.7.1")
        assert response.status_code == 302
    response = client.post(URL, {"email": "alice@example.com"}, REMOTE_ADDR="10.0.7.1")
    assert response.status_code == 429
    assert response.context["form"].has_error("__all__", code="throttled")
    assert mail.outbox == []
    # Another address may still ask.
    response = client.post(URL, {"email": "alice@example.com"}, REMOTE_ADDR="10.0.7.2")
    assert response.status_code == 302
    assert len(mail.outbox) == 1
