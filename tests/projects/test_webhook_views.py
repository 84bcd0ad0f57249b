"""The webhook card of the project page: save, reveal the secret, test event, remove."""

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from projects.models import WebhookEndpoint, WebhookMessage

pytestmark = pytest.mark.django_db

ALL_EVENTS = list(WebhookEndpoint.Event.values)


@pytest.fixture(autouse=True)
def production_addresses(settings):
    settings.RELAY = {**django_settings.RELAY, "WEBHOOK_ALLOW_LOOPBACK": False}


def url(name, project):
    return reverse(f"projects:{name}", args=[project.public_id])


def save(client, project, hook_url="https://hooks.example.com/relay", events=ALL_EVENTS):
    return client.post(url("webhook", project), {"url": hook_url, "events": events})


def test_save_creates_the_endpoint(alice_client, project):
    response = save(alice_client, project, events=["connection.opened", "connection.closed"])
    assert response.status_code == 302
    assert response["Location"].endswith("#webhooks")
    endpoint = project.webhook
    assert endpoint.url == "https://hooks.example.com/relay"
    assert endpoint.events == ["connection.opened", "connection.closed"]
    assert endpoint.secret.startswith("whsec_")


def test_save_again_updates_and_keeps_the_secret(alice_client, project):
    save(alice_client, project)
    secret = WebhookEndpoint.objects.get().secret
    save(alice_client, project, "https://other.example.com/h", ["connection.admin"])
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.url, endpoint.events, endpoint.secret) == (
        "https://other.example.com/h",
        ["connection.admin"],
        secret,
    )


@pytest.mark.parametrize(
    "hook_url",
    ["http://hooks.example.com/", "https://10.1.2.3/", "http://127.0.0.1:9000/", "ftp://x.org/"],
)
def test_unsafe_urls_are_refused(alice_client, project, hook_url):
    response = save(alice_client, project, hook_url)
    assert response.status_code == 200
    assert "Use an https URL" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_http_127_0_0_1_with_the_development_setting(alice_client, project, settings):
    settings.RELAY = {**django_settings.RELAY, "WEBHOOK_ALLOW_LOOPBACK": True}
    assert save(alice_client, project, "http://127.0.0.1:9000/h").status_code == 302


def test_page_shows_the_card_but_never_the_secret(alice_client, project):
    save(alice_client, project)
    html = alice_client.get(url("detail", project)).content.decode()
    assert 'id="webhooks"' in html and "Send a test event" in html
    assert WebhookEndpoint.objects.get().secret not in html


def test_secret_is_revealed_by_post_only(alice_client, project):
    save(alice_client, project)
    secret = WebhookEndpoint.objects.get().secret
    assert alice_client.get(url("webhook-secret", project)).status_code == 405
    response = alice_client.post(url("webhook-secret", project))
    assert response.json() == {"secret": secret}
    assert "no-store" in response["Cache-Control"]


def test_test_event_is_stored_for_delivery(alice_client, project):
    save(alice_client, project)
    response = alice_client.post(url("webhook-test", project))
    assert response.status_code == 302
    (message,) = WebhookMessage.objects.all()
    assert message.event == "webhook.test"
    assert message.payload["data"]["project"] == project.public_id


def test_remove(alice_client, project):
    save(alice_client, project)
    assert alice_client.post(url("webhook-delete", project)).status_code == 302
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("name", ["webhook", "webhook-delete", "webhook-test", "webhook-secret"])
def test_outsider_gets_404(client, mallory, project, name):
    client.force_login(mallory)
    assert client.post(url(name, project), {"url": "https://a.example.com/"}).status_code == 404


@pytest.mark.parametrize("name", ["webhook", "webhook-delete", "webhook-test"])
def test_rejects_get(alice_client, project, name):
    assert alice_client.get(url(name, project)).status_code == 405


def test_test_event_without_an_endpoint_is_404(alice_client, project):
    assert alice_client.post(url("webhook-test", project)).status_code == 404
    assert not DBTaskResult.objects.exists()
