import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_anonymous_visitor_is_offered_sign_up_and_log_in(client):
    response = client.get(reverse("projects:home"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Hosted WebSockets" in body
    assert reverse("accounts:signup") in body
    assert reverse("accounts:login") in body


def test_signed_in_developer_is_offered_the_dashboard(client, alice):
    client.force_login(alice)

    response = client.get(reverse("projects:home"))

    assert response.status_code == 200
    assert f'href="{reverse("projects:list")}"' in response.content.decode()


def test_example_connects_to_this_host(client):
    response = client.get(reverse("projects:home"), HTTP_HOST="localhost")

    assert "ws://localhost/ws/" in response.content.decode()


def test_example_uses_wss_behind_tls(client):
    response = client.get(reverse("projects:home"), secure=True)

    assert "wss://testserver/ws/" in response.content.decode()


def test_rejects_post(client):
    assert client.post(reverse("projects:home")).status_code == 405
