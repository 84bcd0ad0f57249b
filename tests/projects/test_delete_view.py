from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from projects.models import Project
from realtime.protocol import Status

pytestmark = pytest.mark.django_db


def delete_url(project) -> str:
    return reverse("projects:delete", args=[project.public_id])


def test_url_name(project):
    assert delete_url(project) == f"/projects/{project.public_id}/delete/"


def test_get_asks_for_confirmation_and_deletes_nothing(alice_client, project, told, connect):
    for status in Status:
        connect(project, status)

    response = alice_client.get(delete_url(project))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Its 3 live connections are closed with code <code>4004</code>" in body
    assert f'action="{delete_url(project)}"' in body
    assert Project.objects.filter(pk=project.pk).exists()
    assert told == []


def test_post_deletes_and_closes_its_connections(
    alice_client, project, told, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(delete_url(project))

    assert response.status_code == 302
    assert response.url == reverse("projects:list")
    assert not Project.objects.filter(pk=project.pk).exists()
    assert told == [(project.public_id, "gone")]


def test_says_it_deleted(alice_client, project, told):
    response = alice_client.post(delete_url(project), follow=True)

    assert "Project “Chat” deleted" in response.content.decode()


def test_deleted_project_is_404_afterwards(alice_client, project, told):
    alice_client.post(delete_url(project))

    assert alice_client.get(reverse("projects:detail", args=[project.public_id])).status_code == 404


def test_outsider_gets_404_and_the_project_stays(client, mallory, project, told):
    client.force_login(mallory)

    assert client.get(delete_url(project)).status_code == 404
    assert client.post(delete_url(project)).status_code == 404

    assert Project.objects.filter(pk=project.pk).exists()
    assert told == []


def test_anonymous_is_sent_to_log_in(client, project, told):
    response = client.post(delete_url(project))

    assert response.status_code == 302
    assert urlsplit(response.url).path == reverse("accounts:login")
    assert Project.objects.filter(pk=project.pk).exists()


def test_rejects_delete_method(alice_client, project, told):
    assert alice_client.delete(delete_url(project)).status_code == 405
    assert Project.objects.filter(pk=project.pk).exists()
