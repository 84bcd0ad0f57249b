"""/metrics: who may read it (Django's test client, so that addresses other than loopback can be
tried without sending traffic anywhere)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from realtime.views import bearer_token_matches, is_loopback

OUTSIDER = "203.0.113.7"
TOKEN = "s3cret-metrics-token"


@pytest.fixture
def url():
    return reverse("realtime:metrics")


@pytest.fixture
def token(settings):
    settings.RELAY = {**settings.RELAY, "METRICS_TOKEN": TOKEN}


def test_path_is_metrics(url):
    assert url == "/metrics"


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1"])
def test_loopback_reads_the_metrics(client, url, address):
    response = client.get(url, REMOTE_ADDR=address)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    body = response.content.decode()
    assert '# TYPE relay_connections gauge\nrelay_connections{status="pending"}' in body
    assert "# TYPE relay_frames_received_total counter" in body
    assert response["Cache-Control"].startswith("max-age=0")


def test_openmetrics_when_asked_for(client, url):
    accept = "application/openmetrics-text; version=1.0.0"
    response = client.get(url, headers={"Accept": accept})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.decode().endswith("# EOF\n")


def test_outsider_gets_404(client, url):
    assert client.get(url, REMOTE_ADDR=OUTSIDER).status_code == 404


def test_outsider_gets_404_even_with_a_token_when_none_is_set(client, url):
    response = client.get(url, REMOTE_ADDR=OUTSIDER, headers={"Authorization": "Bearer "})
    assert response.status_code == 404


def test_outsider_with_the_token_reads_the_metrics(client, url, token):
    response = client.get(url, REMOTE_ADDR=OUTSIDER, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert b"relay_connections" in response.content


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", TOKEN, "Bearer", ""],
)
def test_outsider_with_a_wrong_token_gets_404(client, url, token, authorization):
    response = client.get(url, REMOTE_ADDR=OUTSIDER, headers={"Authorization": authorization})
    assert response.status_code == 404


def test_loopback_needs_no_token_when_one_is_set(client, url, token):
    assert client.get(url, REMOTE_ADDR="127.0.0.1").status_code == 200


def test_outsider_behind_a_trusted_proxy_on_this_host_gets_404(client, url, settings):
    settings.RELAY = {**settings.RELAY, "TRUSTED_PROXY_HEADER": "X-Forwarded-For"}
    forwarded = {"X-Forwarded-For": f"198.51.100.1, {OUTSIDER}"}
    assert client.get(url, REMOTE_ADDR="127.0.0.1", headers=forwarded).status_code == 404
    local = {"X-Forwarded-For": "127.0.0.1"}
    assert client.get(url, REMOTE_ADDR="127.0.0.1", headers=local).status_code == 200
    # The header does not open the page to a peer that is not loopback.
    assert client.get(url, REMOTE_ADDR=OUTSIDER, headers=local).status_code == 404


def test_outsider_behind_two_trusted_proxies_gets_404(client, url, settings):
    # The client is the address two entries from the right, as for every rate limit.
    settings.RELAY = {
        **settings.RELAY,
        "TRUSTED_PROXY_HEADER": "X-Forwarded-For",
        "TRUSTED_PROXY_COUNT": 2,
    }
    forwarded = {"X-Forwarded-For": f"{OUTSIDER}, 127.0.0.1"}
    assert client.get(url, REMOTE_ADDR="127.0.0.1", headers=forwarded).status_code == 404
    local = {"X-Forwarded-For": "127.0.0.1, 127.0.0.1"}
    assert client.get(url, REMOTE_ADDR="127.0.0.1", headers=local).status_code == 200


def test_rejects_post(client, url):
    assert client.post(url, REMOTE_ADDR="127.0.0.1").status_code == 405


def test_outsider_post_gets_404_not_405_or_403(client, url):
    assert client.post(url, REMOTE_ADDR=OUTSIDER).status_code == 404


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1", True),
        ("127.255.255.254", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("2001:db8::1", False),
        ("localhost", False),
        ("", False),
    ],
)
def test_is_loopback(address, expected):
    assert is_loopback(address) is expected


def test_bearer_token_matches():
    assert bearer_token_matches(f"Bearer {TOKEN}", TOKEN)
    assert bearer_token_matches(f"bearer {TOKEN}", TOKEN)
    assert not bearer_token_matches(f"Bearer {TOKEN}", "")
    assert not bearer_token_matches("Bearer ", "")
    assert not bearer_token_matches(f"Token {TOKEN}", TOKEN)


def test_outsider_gets_the_404_of_a_missing_page(client, url, settings):
    settings.DEBUG = False
    hidden = client.get(url, REMOTE_ADDR=OUTSIDER)
    missing = client.get("/no-such-page", REMOTE_ADDR=OUTSIDER)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content == missing.content
