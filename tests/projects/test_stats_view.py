from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from realtime import stats
from realtime.protocol import Status
from tests.conftest import make_project

pytestmark = pytest.mark.django_db


def stats_url(project) -> str:
    return reverse("projects:stats", args=[project.public_id])


def test_url_name(project):
    assert stats_url(project) == f"/projects/{project.public_id}/stats/"


def test_returns_connections_by_status_and_messages_relayed(alice_client, project, connect):
    connect(project, Status.PENDING, 1)
    connect(project, Status.APPROVED, 2)
    connect(project, Status.ADMIN, 3)
    stats.record(project.public_id, 7)

    response = alice_client.get(stats_url(project))

    assert response.status_code == 200
    assert response.json() == {
        "connections": {"pending": 1, "approved": 2, "admin": 3, "total": 6},
        "messages": {"last_hour": 7, "last_day": 7},
    }
    assert "no-store" in response["Cache-Control"]


def test_counts_only_this_projects_connections(alice_client, alice, project, connect):
    connect(make_project(alice, name="Other"), Status.ADMIN, 2)
    connect(project, Status.APPROVED, 1)

    connections = alice_client.get(stats_url(project)).json()["connections"]

    assert connections == {"pending": 0, "approved": 1, "admin": 0, "total": 1}


def test_a_quiet_project_has_zeros(alice_client, project):
    response = alice_client.get(stats_url(project))

    assert response.json() == {
        "connections": {"pending": 0, "approved": 0, "admin": 0, "total": 0},
        "messages": {"last_hour": 0, "last_day": 0},
    }


def test_counts_messages_the_relay_recorded(alice_client, project):
    stats.record(project.public_id, 4)

    assert alice_client.get(stats_url(project)).json()["messages"] == {
        "last_hour": 4,
        "last_day": 4,
    }


def test_never_shows_the_key(alice_client, project):
    assert project.admin_key not in alice_client.get(stats_url(project)).content.decode()


def test_outsider_gets_404(client, mallory, project):
    client.force_login(mallory)

    assert client.get(stats_url(project)).status_code == 404


def test_anonymous_is_sent_to_log_in(client, project):
    response = client.get(stats_url(project))

    assert response.status_code == 302
    assert urlsplit(response.url).path == reverse("accounts:login")


def test_rejects_post(alice_client, project):
    assert alice_client.post(stats_url(project)).status_code == 405
