"""The operators' admin for users: search, filters, the projects column, adding a user."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.conftest import make_project

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:accounts_user_changelist")


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def cast(django_user_model, alice, mallory):
    alice.first_name, alice.last_name = "Alice", "Liddell"
    alice.save()
    old_timer = django_user_model.objects.create_user(
        email="old@example.com", is_active=False, first_name="Rip"
    )
    old_timer.date_joined = timezone.now() - timedelta(days=400)
    old_timer.save()
    staff = django_user_model.objects.create_user(email="staff@example.com", is_staff=True)
    return {"alice": alice, "mallory": mallory, "old": old_timer, "staff": staff}


def listed(response) -> set[str]:
    return {user.email for user in response.context["cl"].result_list}


def test_search_by_email(admin_client, cast):
    response = admin_client.get(CHANGELIST, {"q": "mallory@"})
    assert response.status_code == 200
    assert listed(response) == {"mallory@example.com"}


def test_search_by_name(admin_client, cast):
    assert listed(admin_client.get(CHANGELIST, {"q": "Liddell"})) == {"alice@example.com"}
    assert listed(admin_client.get(CHANGELIST, {"q": "rip"})) == {"old@example.com"}


def test_filter_by_staff(admin_client, cast):
    response = admin_client.get(CHANGELIST, {"is_staff__exact": "1"})
    assert listed(response) == {"staff@example.com", "admin@example.com"}


def test_filter_by_active(admin_client, cast):
    response = admin_client.get(CHANGELIST, {"is_active__exact": "0"})
    assert listed(response) == {"old@example.com"}


def test_filter_by_date_joined(admin_client, cast):
    since = (timezone.now() - timedelta(days=7)).date().isoformat()
    recent = admin_client.get(CHANGELIST, {"date_joined__gte": since})
    assert "old@example.com" not in listed(recent)
    assert "alice@example.com" in listed(recent)


def test_projects_column_links_to_the_users_projects(admin_client, cast):
    alice, mallory = cast["alice"], cast["mallory"]
    make_project(alice, name="One")
    make_project(alice, name="Two")
    make_project(mallory, name="Other")
    response = admin_client.get(CHANGELIST, {"q": "alice@"})
    url = reverse("admin:projects_project_changelist") + f"?owner__id__exact={alice.pk}"
    assert f'<a href="{url}">2</a>' in response.text

    projects = admin_client.get(url)
    assert projects.status_code == 200
    assert {p.name for p in projects.context["cl"].result_list} == {"One", "Two"}


def test_operator_adds_a_user(admin_client, django_user_model):
    data = {
        "email": "new@example.com",
        "usable_password": "true",
        "password1": "a-long-enough-pw-42",
        "password2": "a-long-enough-pw-42",
    }
    response = admin_client.post(reverse("admin:accounts_user_add"), data)
    assert response.status_code == 302
    user = django_user_model.objects.get(email="new@example.com")
    assert user.check_password("a-long-enough-pw-42")
    assert not user.is_staff


def test_change_page_renders(admin_client, cast):
    response = admin_client.get(reverse("admin:accounts_user_change", args=[cast["alice"].pk]))
    assert response.status_code == 200
    assert 'name="email"' in response.text
    assert 'name="date_joined' not in response.text  # read-only


def test_non_staff_user_is_sent_to_the_admin_login(client, alice):
    client.force_login(alice)
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_email_is_stored_lower_case_however_it_was_typed(db, django_user_model):
    user = django_user_model.objects.create_user(email="Budi@Example.COM", password="x-pw-123456")
    user.refresh_from_db()
    assert user.email == "budi@example.com"
