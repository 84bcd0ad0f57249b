from urllib.parse import urlsplit

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def rename_url(project) -> str:
    return reverse("projects:rename", args=[project.public_id])


def test_url_name(project):
    assert rename_url(project) == f"/projects/{project.public_id}/rename/"


def test_renames_and_returns_to_the_project(alice_client, project):
    response = alice_client.post(rename_url(project), {"name": "  Game   lobby "})

    project.refresh_from_db()
    assert project.name == "Game lobby"
    assert response.status_code == 302
    assert response.url == reverse("projects:detail", args=[project.public_id])


def test_says_it_renamed(alice_client, project):
    response = alice_client.post(rename_url(project), {"name": "Lobby"}, follow=True)

    assert "Renamed to “Lobby”." in response.content.decode()


def test_blank_name_is_refused_on_the_project_page(alice_client, project):
    response = alice_client.post(rename_url(project), {"name": "  "})

    assert response.status_code == 200
    assert response.context["rename_form"].errors == {"name": ["Give the project a name."]}
    body = response.content.decode()
    assert "Give the project a name." in body
    assert f"ws://testserver/ws/{project.public_id}/" in body
    project.refresh_from_db()
    assert project.name == "Chat"


def test_too_long_name_is_refused(alice_client, project):
    response = alice_client.post(rename_url(project), {"name": "y" * 101})

    assert response.context["rename_form"].errors == {
        "name": ["Keep the name to 100 characters or fewer."]
    }
    project.refresh_from_db()
    assert project.name == "Chat"


def test_outsider_gets_404_and_the_name_stays(client, mallory, project):
    client.force_login(mallory)

    response = client.post(rename_url(project), {"name": "Pwned"})

    assert response.status_code == 404
    project.refresh_from_db()
    assert project.name == "Chat"


def test_anonymous_is_sent_to_log_in(client, project):
    response = client.post(rename_url(project), {"name": "Pwned"})

    assert response.status_code == 302
    assert urlsplit(response.url).path == reverse("accounts:login")
    project.refresh_from_db()
    assert project.name == "Chat"


def test_rejects_get(alice_client, project):
    assert alice_client.get(rename_url(project), {"name": "Lobby"}).status_code == 405
    project.refresh_from_db()
    assert project.name == "Chat"
