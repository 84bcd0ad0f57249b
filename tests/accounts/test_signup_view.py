import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.shortcuts import resolve_url
from django.urls import reverse

from accounts import throttle
from accounts.forms import SignupForm

from .conftest import logged_in_user_id

pytestmark = pytest.mark.django_db

URL = reverse("accounts:signup")
User = get_user_model()


def data(**overrides) -> dict:
    return {
        "email": "bob@example.com",
        "password1": "correct-horse-7",
        "password2": "correct-horse-7",
        **overrides,
    }


def test_shows_the_form(client):
    response = client.get(URL)
    assert response.status_code == 200
    assert 'name="email"' in response.text
    assert 'name="password1"' in response.text
    assert 'name="password2"' in response.text


def test_creates_the_account_logs_in_and_redirects(client):
    response = client.post(URL, data(email="Bob@Example.com"))
    assert response.status_code == 302
    assert response.url == resolve_url(settings.LOGIN_REDIRECT_URL)
    user = User.objects.get()
    assert user.email == "bob@example.com"
    assert user.check_password("correct-horse-7")
    assert not user.is_staff
    assert logged_in_user_id(client) == str(user.pk)


def test_new_account_can_log_in_again(client):
    client.post(URL, data())
    client.logout()
    response = client.post(
        reverse("accounts:login"), {"email": "bob@example.com", "password": "correct-horse-7"}
    )
    assert response.status_code == 302


def test_form_errors_are_shown_and_nothing_is_created(client):
    response = client.post(URL, data(password2="something-else-7"))
    assert response.status_code == 200
    assert 'class="errorlist' in response.text
    assert not User.objects.exists()
    assert logged_in_user_id(client) is None


def test_logged_in_user_is_sent_on(client, alice):
    client.force_login(alice)
    response = client.get(URL)
    assert response.status_code == 302
    assert response.url == resolve_url(settings.LOGIN_REDIRECT_URL)


def test_rejects_put(client):
    assert client.put(URL).status_code == 405


# The form


def test_form_rejects_a_bad_email():
    form = SignupForm(data(email="not-an-email"))
    assert form.has_error("email", code="invalid")


def test_form_rejects_an_email_taken_in_another_case(alice):
    form = SignupForm(data(email="ALICE@example.COM"))
    assert form.has_error("email", code="duplicate_email")
    assert User.objects.count() == 1


def test_form_rejects_mismatched_passwords():
    form = SignupForm(data(password2="correct-horse-8"))
    assert form.has_error("password2", code="password_mismatch")


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("Xy7#q", "password_too_short"),
        ("password123", "password_too_common"),
        ("83749201638", "password_entirely_numeric"),
        ("bob.builder@example", "password_too_similar"),
    ],
)
def test_form_rejects_a_weak_password(password, code):
    form = SignupForm(data(email="bob.builder@example.com", password1=password, password2=password))
    assert form.has_error("password2", code=code)


def test_form_requires_every_field():
    form = SignupForm({})
    assert form.has_error("email", code="required")
    assert form.has_error("password1", code="required")
    assert form.has_error("password2", code="required")


def test_sign_ups_from_one_address_are_limited(client):
    for n in range(throttle.SIGNUP_ADDRESS.count):
        response = client.post(URL, data(email=f"user{n}@example.com"), REMOTE_ADDR="10.0.8.1")
        assert response.status_code == 302
        client.logout()
    response = client.post(URL, data(email="one-more@example.com"), REMOTE_ADDR="10.0.8.1")
    assert response.status_code == 429
    assert response.context["form"].has_error("__all__", code="throttled")
    assert not User.objects.filter(email="one-more@example.com").exists()
    # Another address may still sign up.
    response = client.post(URL, data(email="one-more@example.com"), REMOTE_ADDR="10.0.8.2")
    assert response.status_code == 302
