"""The operators' Django admin lists webhook endpoints and events, never a signing secret."""

import pytest
from django.urls import reverse

from projects.models import WebhookEndpoint
from tests.projects.test_webhooks import message

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client(client, django_user_model):
    operator = django_user_model.objects.create_superuser(email="op@example.com", password="pw")
    client.force_login(operator)
    return client


def test_endpoint_pages_never_show_the_secret(operator_client, project):
    endpoint = WebhookEndpoint.objects.create(
        project=project, url="https://hooks.example.com/h", events=["connection.opened"]
    )
    message(endpoint)
    for url in (
        reverse("admin:projects_webhookendpoint_changelist"),
        reverse("admin:projects_webhookendpoint_change", args=[endpoint.pk]),
        reverse("admin:projects_webhookmessage_changelist"),
    ):
        response = operator_client.get(url)
        assert response.status_code == 200
        assert endpoint.secret not in response.content.decode()
