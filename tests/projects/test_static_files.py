"""WhiteNoise serves the stylesheet from a real server process with DEBUG off."""

import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.server


def test_stylesheet_is_served_with_debug_off(start_server):
    server = start_server(DEBUG="0", SECRET_KEY="x" * 50, ALLOWED_HOSTS="127.0.0.1")
    url = f"http://127.0.0.1:{server.port}/static/css/app.css"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/css")
        body = response.read().decode()
    assert ".prose" in body
    assert "--accent" in body


def test_missing_static_file_is_404(start_server):
    server = start_server(DEBUG="0", SECRET_KEY="x" * 50, ALLOWED_HOSTS="127.0.0.1")
    url = f"http://127.0.0.1:{server.port}/static/css/nope.css"
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url, timeout=10)
    assert caught.value.code == 404
