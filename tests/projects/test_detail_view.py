from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from realtime import stats
from realtime.protocol import Status
from tests.conftest import make_project

pytestmark = pytest.mark.django_db


def detail_url(project) -> str:
    return reverse("projects:detail", args=[project.public_id])


def test_url_name(project):
    assert detail_url(project) == f"/projects/{project.public_id}/"


def test_shows_the_absolute_websocket_url_with_a_copy_button(alice_client, project):
    response = alice_client.get(detail_url(project))

    assert response.status_code == 200
    ws_url = f"ws://testserver/ws/{project.public_id}/"
    assert response.context["ws_url"] == ws_url
    body = response.content.decode()
    assert f'<code id="ws-url" aria-labelledby="ws-url-title">{ws_url}</code>' in body
    assert 'data-copy="#ws-url"' in body


def test_websocket_url_uses_wss_behind_tls(alice_client, project):
    response = alice_client.get(detail_url(project), secure=True)

    assert response.context["ws_url"] == f"wss://testserver/ws/{project.public_id}/"


def test_websocket_url_uses_wss_behind_a_tls_proxy_that_says_so(alice_client, project, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLOWED_HOSTS = ["relay.example.com"]
    url = detail_url(project)

    response = alice_client.get(url, HTTP_HOST="relay.example.com", HTTP_X_FORWARDED_PROTO="https")
    assert response.context["ws_url"] == f"wss://relay.example.com/ws/{project.public_id}/"
    # A client talking plain http to the proxy gets ws://.
    response = alice_client.get(url, HTTP_HOST="relay.example.com", HTTP_X_FORWARDED_PROTO="http")
    assert response.context["ws_url"] == f"ws://relay.example.com/ws/{project.public_id}/"


def test_websocket_url_uses_the_host_the_page_was_asked_for(alice_client, project, settings):
    settings.ALLOWED_HOSTS = ["relay.example.com"]

    response = alice_client.get(detail_url(project), HTTP_HOST="relay.example.com:8443")

    assert response.context["ws_url"] == f"ws://relay.example.com:8443/ws/{project.public_id}/"


def test_key_hidden_until_revealed(alice_client, project):
    response = alice_client.get(detail_url(project))

    body = response.content.decode()
    assert project.admin_key not in body
    assert "data-reveal-key" in body
    assert f'data-key-url="{reverse("projects:key", args=[project.public_id])}"' in body


def test_console_gets_project_and_websocket_url(alice_client, project):
    response = alice_client.get(detail_url(project))

    assert "projects/_console.html" in [t.name for t in response.templates]
    assert response.context["project"] == project
    assert response.context["ws_url"] == f"ws://testserver/ws/{project.public_id}/"


def test_code_examples_have_the_project_url_filled_in(alice_client, project):
    response = alice_client.get(detail_url(project))

    body = response.content.decode()
    ws_url = f"ws://testserver/ws/{project.public_id}/"
    assert f'new WebSocket("{ws_url}")' in body  # JavaScript
    assert f'URL = "{ws_url}"' in body  # Python
    assert f"websocat {ws_url}" in body  # websocat
    for tab in ("tab-js", "tab-python", "tab-websocat"):
        assert f'id="{tab}"' in body


def test_shows_live_counts_and_polls_for_more(alice_client, project, connect):
    connect(project, Status.PENDING, 31)
    connect(project, Status.APPROVED, 32)
    connect(project, Status.ADMIN, 33)
    stats.record(project.public_id, 41)

    response = alice_client.get(detail_url(project))

    body = response.content.decode()
    for path, value in [
        ("connections.pending", 31),
        ("connections.approved", 32),
        ("connections.admin", 33),
        ("connections.total", 96),
        ("messages.last_hour", 41),
        ("messages.last_day", 41),
    ]:
        assert f'<b data-stat="{path}">{value}</b>' in body
    assert f'data-stats-url="{reverse("projects:stats", args=[project.public_id])}"' in body
    assert "js/project.js" in body


def test_settings_form_shows_the_current_settings(alice_client, alice):
    project = make_project(
        alice,
        pending_policy="restricted",
        approval_timeout=120,
        allowed_origins=["https://app.example.com", "https://*.example.org"],
    )

    response = alice_client.get(detail_url(project))

    body = response.content.decode()
    assert 'value="restricted" required id="id_pending_policy_1" checked' in body
    assert 'value="120"' in body
    assert "https://app.example.com\nhttps://*.example.org</textarea>" in body
    assert f'action="{reverse("projects:settings", args=[project.public_id])}#settings"' in body


def test_links_to_rename_regenerate_and_delete(alice_client, project):
    body = alice_client.get(detail_url(project)).content.decode()

    for name in ("rename", "regenerate-key", "delete"):
        assert reverse(f"projects:{name}", args=[project.public_id]) in body


def test_disabled_project_says_so(alice_client, alice):
    project = make_project(alice, is_active=False)

    body = alice_client.get(detail_url(project)).content.decode()

    assert 'class="badge off"' in body
    assert "This project is disabled" in body


def test_get_writes_nothing(alice_client, project):
    before = list(project.__class__.objects.values())

    alice_client.get(detail_url(project))

    assert list(project.__class__.objects.values()) == before


def test_outsider_gets_404(client, mallory, project):
    client.force_login(mallory)

    assert client.get(detail_url(project)).status_code == 404


def test_unknown_project_is_404(alice_client):
    assert alice_client.get("/projects/no-such-project-id-at-all/").status_code == 404


def test_anonymous_is_sent_to_log_in(client, project):
    response = client.get(detail_url(project))

    assert response.status_code == 302
    target = urlsplit(response.url)
    assert target.path == reverse("accounts:login")
    assert parse_qs(target.query)["next"] == [detail_url(project)]


def test_rejects_post(alice_client, project):
    assert alice_client.post(detail_url(project)).status_code == 405


def test_code_has_a_curl_tab_for_the_http_api(alice_client, project):
    html = alice_client.get(reverse("projects:detail", args=[project.public_id])).content.decode()
    assert 'id="tab-curl"' in html
    assert f"http://testserver/api/v1/projects/{project.public_id}/messages" in html
    assert project.admin_key not in html
