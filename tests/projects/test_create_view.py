from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from projects.models import Project

pytestmark = pytest.mark.django_db

URL = "/projects/new/"


def test_url_name():
    assert reverse("projects:create") == URL


def test_creates_a_project_owned_by_the_developer_and_opens_it(alice_client, alice):
    response = alice_client.post(URL, {"name": "Chat"})

    project = Project.objects.get()
    assert project.owner == alice
    assert project.name == "Chat"
    assert response.status_code == 302
    assert response.url == reverse("projects:detail", args=[project.public_id])


def test_new_project_has_a_fresh_key_and_public_id(alice_client):
    alice_client.post(URL, {"name": "Chat"})

    project = Project.objects.get()
    assert len(project.admin_key) == 40
    assert len(project.public_id) >= 16


def test_welcome_message_after_creating(alice_client):
    response = alice_client.post(URL, {"name": "Chat"}, follow=True)

    assert "Project “Chat” is ready" in response.content.decode()


def test_collapses_runs_of_whitespace_in_the_name(alice_client):
    alice_client.post(URL, {"name": "  Game \t  lobby \n"})

    assert Project.objects.get().name == "Game lobby"


def test_ignores_an_owner_in_the_form(alice_client, alice, mallory):
    alice_client.post(URL, {"name": "Chat", "owner": mallory.pk})

    assert Project.objects.get().owner == alice


@pytest.mark.parametrize("name", ["", "   ", "\n\t"])
def test_blank_name_is_refused_with_a_message(alice_client, name):
    response = alice_client.post(URL, {"name": name})

    assert response.status_code == 200
    assert response.context["form"].errors == {"name": ["Give the project a name."]}
    assert "Give the project a name." in response.content.decode()
    assert not Project.objects.exists()


def test_too_long_name_is_refused_with_a_message(alice_client):
    response = alice_client.post(URL, {"name": "x" * 101})

    assert response.context["form"].errors == {
        "name": ["Keep the name to 100 characters or fewer."]
    }
    assert not Project.objects.exists()


def test_get_shows_the_form_and_writes_nothing(alice_client):
    response = alice_client.get(URL)

    assert response.status_code == 200
    assert 'name="name"' in response.content.decode()
    assert not Project.objects.exists()


def test_anonymous_is_sent_to_log_in_and_nothing_is_made(client):
    response = client.post(URL, {"name": "Chat"})

    assert response.status_code == 302
    target = urlsplit(response.url)
    assert target.path == reverse("accounts:login")
    assert parse_qs(target.query)["next"] == [URL]
    assert not Project.objects.exists()


def test_rejects_put(alice_client):
    assert alice_client.put(URL).status_code == 405
    assert not Project.objects.exists()
