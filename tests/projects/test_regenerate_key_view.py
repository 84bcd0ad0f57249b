from urllib.parse import urlsplit

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def regenerate_url(project) -> str:
    return reverse("projects:regenerate-key", args=[project.public_id])


def test_url_name(project):
    assert regenerate_url(project) == f"/projects/{project.public_id}/regenerate-key/"


def test_get_asks_for_confirmation_and_keeps_the_key(alice_client, project, told):
    old_key = project.admin_key

    response = alice_client.get(regenerate_url(project))

    assert response.status_code == 200
    body = response.content.decode()
    assert "<code>4003</code>" in body
    assert f'action="{regenerate_url(project)}"' in body
    assert old_key not in body
    project.refresh_from_db()
    assert project.admin_key == old_key
    assert told == []


def test_post_makes_a_new_key_and_closes_old_admins(
    alice_client, project, told, django_capture_on_commit_callbacks
):
    old_key = project.admin_key

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(regenerate_url(project))

    assert response.status_code == 302
    assert response.url == reverse("projects:detail", args=[project.public_id])
    project.refresh_from_db()
    assert project.admin_key != old_key
    assert len(project.admin_key) == 40
    assert told == [(project.public_id, "key_rotated")]


def test_new_key_stays_out_of_the_page(alice_client, project, told):
    response = alice_client.post(regenerate_url(project), follow=True)

    project.refresh_from_db()
    body = response.content.decode()
    assert "New admin key made." in body
    assert project.admin_key not in body


def test_outsider_gets_404_and_the_key_stays(client, mallory, project, told):
    client.force_login(mallory)
    old_key = project.admin_key

    assert client.get(regenerate_url(project)).status_code == 404
    assert client.post(regenerate_url(project)).status_code == 404

    project.refresh_from_db()
    assert project.admin_key == old_key
    assert told == []


def test_anonymous_is_sent_to_log_in(client, project, told):
    old_key = project.admin_key

    response = client.post(regenerate_url(project))

    assert response.status_code == 302
    assert urlsplit(response.url).path == reverse("accounts:login")
    project.refresh_from_db()
    assert project.admin_key == old_key


def test_rejects_put(alice_client, project, told):
    old_key = project.admin_key

    assert alice_client.put(regenerate_url(project)).status_code == 405

    project.refresh_from_db()
    assert project.admin_key == old_key
