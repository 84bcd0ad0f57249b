"""WhiteNoise serves the stylesheet from a real server process with DEBUG off."""

import secrets
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.server

# Production settings, on plain http: a real key, and no redirect to HTTPS.
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "127.0.0.1",
    "SECURE_SSL_REDIRECT": "0",
}


def test_stylesheet_is_served_with_debug_off(start_server):
    server = start_server(**PRODUCTION)
    url = f"http://127.0.0.1:{server.port}/static/css/app.css"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/css")
        body = response.read().decode()
    assert ".prose" in body
    assert "--accent" in body


def test_missing_static_file_is_404(start_server):
    server = start_server(**PRODUCTION)
    url = f"http://127.0.0.1:{server.port}/static/css/nope.css"
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url, timeout=10)
    assert caught.value.code == 404
