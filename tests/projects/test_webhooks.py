"""projects/webhooks.py: signing, address checks, one attempt, retries and order."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from projects import webhooks
from projects.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from tests.projects.webhook_receiver import Receiver

State = WebhookMessage.State


@pytest.fixture
def relay(settings):
    settings.RELAY = {
        **django_settings.RELAY,
        "WEBHOOK_ALLOW_LOOPBACK": True,
        "WEBHOOK_RETRY_DELAYS": [1.0, 2.0],
        "WEBHOOK_TIMEOUT": 0.5,
    }
    return settings.RELAY


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def endpoint(project, receiver, relay):
    return WebhookEndpoint.objects.create(
        project=project, url=receiver.url, events=list(WebhookEndpoint.Event.values)
    )


def message(endpoint, event="connection.opened", conn_id="c1", **extra):
    body = webhooks.payload(event, endpoint.project.public_id, conn_id, **extra)
    return WebhookMessage.objects.create(
        endpoint=endpoint, event=event, conn_id=conn_id, payload=body
    )


def queued(msg) -> list:
    return [r for r in DBTaskResult.objects.all() if r.args_kwargs["args"] == [msg.pk]]


class TestAddresses:
    @pytest.mark.parametrize(
        "url",
        [
            "ftp://example.com/x",
            "http://example.com/hooks",
            "https://10.0.0.1/",
            "https://192.168.1.2/",
            "https://169.254.169.254/latest",
            "https://[::1]/",
            "https://[fe80::1]/",
            "https://user:pw@example.com/",
            "http://127.0.0.1:9/",
            "https://localhost/",
            "https://0.0.0.0/",
        ],
    )
    def test_refused_in_production(self, settings, url):
        settings.RELAY = {**django_settings.RELAY, "WEBHOOK_ALLOW_LOOPBACK": False}
        with pytest.raises(webhooks.UnsafeUrl):
            webhooks.check_url(url)

    def test_https_to_a_public_host_is_allowed(self, settings):
        settings.RELAY = {**django_settings.RELAY, "WEBHOOK_ALLOW_LOOPBACK": False}
        webhooks.check_url("https://hooks.example.com/relay")
        webhooks.check_url("https://93.184.216.34:8443/relay")

    def test_the_development_setting_allows_http_to_127_0_0_1_only(self, relay):
        webhooks.check_url("http://127.0.0.1:8000/hooks")
        for url in ("http://10.0.0.1/", "http://example.com/", "https://192.168.0.1/"):
            with pytest.raises(webhooks.UnsafeUrl):
                webhooks.check_url(url)

    def test_every_resolved_address_is_checked_at_delivery(self, settings, monkeypatch):
        settings.RELAY = {**django_settings.RELAY, "WEBHOOK_ALLOW_LOOPBACK": False}

        def resolves_to(*addresses):
            return lambda *a, **k: [(2, 1, 6, "", (ip, 443)) for ip in addresses]

        monkeypatch.setattr("socket.getaddrinfo", resolves_to("93.184.216.34", "10.1.2.3"))
        with pytest.raises(webhooks.UnsafeUrl):
            webhooks.resolve("https://hooks.example.com/x")
        monkeypatch.setattr("socket.getaddrinfo", resolves_to("93.184.216.34"))
        assert webhooks.resolve("https://hooks.example.com/x") == (
            "https://93.184.216.34/x",
            "hooks.example.com",
        )


@pytest.mark.django_db
class TestDelivery:
    def test_signed_so_that_the_standard_library_verifies_it(self, endpoint, receiver):
        msg = message(endpoint, "connection.closed", code=4001)
        assert webhooks.deliver(msg.pk) == "delivered"
        (payload,) = receiver.events(endpoint.secret)
        assert payload["type"] == "connection.closed"
        assert payload["data"] == {"project": endpoint.project.public_id, "id": "c1", "code": 4001}
        headers, _ = receiver.requests[0]
        assert headers["webhook-id"] == msg.msg_id
        attempt = WebhookAttempt.objects.get()
        assert (attempt.status_code, attempt.ok) == (200, True)

    def test_a_500_is_retried_after_the_first_delay(self, endpoint, receiver):
        receiver.answers = [500]
        msg = message(endpoint)
        before = timezone.now()
        assert webhooks.deliver(msg.pk) == "pending"
        msg.refresh_from_db()
        assert msg.attempts == 1
        assert before + timedelta(seconds=1) <= msg.next_attempt_at
        (task,) = queued(msg)
        assert task.run_after == msg.next_attempt_at
        assert webhooks.deliver(msg.pk) == "delivered"
        assert [a.status_code for a in WebhookAttempt.objects.order_by("pk")] == [500, 200]
        assert receiver.events(endpoint.secret)[0] == receiver.events(endpoint.secret)[1]

    def test_a_timeout_is_a_failure_and_retried(self, endpoint, receiver):
        receiver.answers = ["hang"]
        msg = message(endpoint)
        assert webhooks.deliver(msg.pk) == "pending"
        attempt = WebhookAttempt.objects.get()
        assert attempt.status_code is None and attempt.error == "timed out"
        assert attempt.latency_ms >= 400

    def test_given_up_after_the_last_delay(self, endpoint, receiver):
        receiver.answers = [500, 503, 502]
        msg = message(endpoint)
        assert [webhooks.deliver(msg.pk) for _ in range(3)] == ["pending", "pending", "failed"]
        assert webhooks.deliver(msg.pk) == "gone"
        assert len(receiver.requests) == 3

    def test_a_connections_events_wait_for_the_earlier_ones(self, endpoint, receiver):
        first, second = message(endpoint), message(endpoint, "connection.closed")
        other = message(endpoint, conn_id="c2")
        assert webhooks.deliver(second.pk) == "waiting"
        assert webhooks.deliver(other.pk) == "delivered"
        assert webhooks.deliver(first.pk) == "delivered"
        assert webhooks.deliver(second.pk) == "delivered"
        assert [p["type"] for p in receiver.events(endpoint.secret)] == [
            "connection.opened",
            "connection.opened",
            "connection.closed",
        ]

    def test_refused_address_is_logged_and_retried(self, endpoint, relay, settings):
        settings.RELAY = {**relay, "WEBHOOK_ALLOW_LOOPBACK": False}
        msg = message(endpoint)
        assert webhooks.deliver(msg.pk) == "pending"
        assert WebhookAttempt.objects.get().error == "only https URLs"

    def test_the_log_keeps_the_last_50_attempts(self, endpoint, receiver):
        for _ in range(53):
            webhooks.deliver(message(endpoint, conn_id="").pk)
        assert endpoint.attempts.count() == webhooks.LOG_SIZE

    def test_stalled_messages_are_queued_again(self, endpoint):
        msg = message(endpoint)
        WebhookMessage.objects.filter(pk=msg.pk).update(
            next_attempt_at=timezone.now() - timedelta(hours=1)
        )
        assert webhooks.requeue_stalled() == 1
        assert len(queued(msg)) == 1
