from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from realtime.protocol import Status
from tests.conftest import make_project

pytestmark = pytest.mark.django_db


def test_lists_own_projects_with_live_counts(alice_client, alice, connect):
    chat = make_project(alice, name="Chat room")
    game = make_project(alice, name="Game lobby")
    for project, base in [(chat, 10), (game, 20)]:
        connect(project, Status.PENDING, base + 1)
        connect(project, Status.APPROVED, base + 2)
        connect(project, Status.ADMIN, base + 3)

    response = alice_client.get(reverse("projects:list"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Chat room" in body and "Game lobby" in body
    assert reverse("projects:detail", args=[chat.public_id]) in body
    for value in (11, 12, 13, 21, 22, 23):
        assert f"<b>{value}</b>" in body
    assert {p.public_id: p.live_counts["total"] for p in response.context["projects"]} == {
        chat.public_id: 36,
        game.public_id: 66,
    }


def test_counts_are_zero_with_nothing_connected(alice_client, project):
    response = alice_client.get(reverse("projects:list"))

    assert [p.live_counts for p in response.context["projects"]] == [
        {"pending": 0, "approved": 0, "admin": 0, "total": 0}
    ]


def test_does_not_list_other_developers_projects(alice_client, mallory):
    make_project(mallory, name="Mallory's secret")

    response = alice_client.get(reverse("projects:list"))

    assert "Mallory&#x27;s secret" not in response.content.decode()
    assert list(response.context["projects"]) == []


def test_offers_a_create_form(alice_client):
    response = alice_client.get(reverse("projects:list"))

    body = response.content.decode()
    assert f'action="{reverse("projects:create")}"' in body
    assert 'name="name"' in body
    assert "No projects yet" in body


def test_marks_a_disabled_project(alice_client, alice):
    make_project(alice, name="Old", is_active=False)

    response = alice_client.get(reverse("projects:list"))

    assert 'class="badge off"' in response.content.decode()


def test_anonymous_is_sent_to_log_in(client):
    url = reverse("projects:list")

    response = client.get(url)

    assert response.status_code == 302
    target = urlsplit(response.url)
    assert target.path == reverse("accounts:login")
    assert parse_qs(target.query)["next"] == [url]


def test_rejects_post(alice_client):
    assert alice_client.post(reverse("projects:list"), {"name": "x"}).status_code == 405
