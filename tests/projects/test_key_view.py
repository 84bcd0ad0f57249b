from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


def key_url(project) -> str:
    return reverse("projects:key", args=[project.public_id])


def test_url_name(project):
    assert key_url(project) == f"/projects/{project.public_id}/key/"


def test_post_returns_the_key_as_json_never_cached(alice_client, project):
    response = alice_client.post(key_url(project))

    assert response.status_code == 200
    assert response.json() == {"admin_key": project.admin_key}
    assert "no-store" in response["Cache-Control"]


def test_returns_the_current_key_after_regenerating(alice_client, project):
    new_key = project.rotate_admin_key()

    assert alice_client.post(key_url(project)).json() == {"admin_key": new_key}


def test_get_is_refused_and_reveals_nothing(alice_client, project):
    response = alice_client.get(key_url(project))

    assert response.status_code == 405
    assert project.admin_key not in response.content.decode()


def test_needs_the_csrf_token(alice, project):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    refused = client.post(key_url(project))
    assert refused.status_code == 403
    assert project.admin_key not in refused.content.decode()

    # As project.js does it: the token from the page, in the X-CSRFToken header.
    page = client.get(reverse("projects:detail", args=[project.public_id]))
    token = page.context["csrf_token"]
    allowed = client.post(key_url(project), HTTP_X_CSRFTOKEN=str(token))
    assert allowed.json() == {"admin_key": project.admin_key}


def test_outsider_gets_404(client, mallory, project):
    client.force_login(mallory)

    response = client.post(key_url(project))

    assert response.status_code == 404
    assert project.admin_key not in response.content.decode()


def test_anonymous_is_sent_to_log_in(client, project):
    response = client.post(key_url(project))

    assert response.status_code == 302
    assert urlsplit(response.url).path == reverse("accounts:login")
    assert project.admin_key not in response.content.decode()
