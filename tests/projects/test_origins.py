"""Allowed origins (PROTOCOL.md §1): checking entries, matching a browser's Origin, and the
one validation the settings form, the admin and create_project share."""

import pytest
from django.core.exceptions import ValidationError

from projects import origins


def test_no_origin_is_allowed():
    assert origins.origin_allowed(None, ["https://example.com"])


def test_empty_list_allows_any_origin():
    assert origins.origin_allowed("https://anything.test", [])
    assert origins.origin_allowed("garbage", [])


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://example.com", "https://example.com"),
        ("https://EXAMPLE.com", "https://example.com"),
        ("https://example.com", "https://Example.COM"),
        ("https://example.com", "https://example.com:443"),
        ("https://example.com:443", "https://example.com"),
        ("http://example.com:80", "http://example.com"),
        ("http://localhost:8000", "http://localhost:8000"),
        ("https://a.example.com", "https://*.example.com"),
        ("https://A.Example.com", "https://*.example.com"),
        ("https://a.example.com:443", "https://*.example.com"),
    ],
)
def test_origin_allowed(origin, allowed):
    assert origins.origin_allowed(origin, ["https://other.test", allowed])


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://example.com", "https://example.com"),
        ("https://example.com:8443", "https://example.com"),
        ("https://example.com", "https://example.com:8443"),
        ("http://localhost:8001", "http://localhost:8000"),
        ("https://evil.com", "https://example.com"),
        ("https://example.com.evil.com", "https://example.com"),
        ("https://a.example.com", "https://example.com"),
        ("https://example.com", "https://*.example.com"),
        ("https://a.b.example.com", "https://*.example.com"),
        ("https://aexample.com", "https://*.example.com"),
        ("http://a.example.com", "https://*.example.com"),
        ("garbage", "https://example.com"),
        ("null", "https://example.com"),
        ("", "https://example.com"),
        ("https://", "https://example.com"),
        ("https://example.com:99999", "https://example.com"),
    ],
)
def test_origin_refused(origin, allowed):
    assert not origins.origin_allowed(origin, [allowed])


def test_normalize_origin_lowercases_host_and_drops_default_port():
    assert origins.normalize_origin("HTTPS://Example.COM:443") == ("https", "example.com", None)
    assert origins.normalize_origin("http://example.com:80") == ("http", "example.com", None)
    assert origins.normalize_origin("http://example.com:8080") == ("http", "example.com", 8080)
    assert origins.normalize_origin("https://example.com:80") == ("https", "example.com", 80)


@pytest.mark.parametrize("origin", ["garbage", "", "https://", "https://x:notaport", "//x.com"])
def test_normalize_origin_of_garbage_is_none(origin):
    assert origins.normalize_origin(origin) is None


@pytest.mark.parametrize(
    "entry",
    [
        "https://example.com",
        "http://localhost:8000",
        "https://example.com:8443",
        "https://*.example.com",
        "https://example.com/",
    ],
)
def test_valid_origin_entry(entry):
    assert origins.valid_origin_entry(entry)


@pytest.mark.parametrize(
    "entry",
    [
        "example.com",
        "ftp://example.com",
        "https://",
        "https://example.com/path",
        "https://example.com?x=1",
        "https://example.com#top",
        "https://user@example.com",
        "https://example.com:99999",
        "https://*",
        "https://a.*.example.com",
        "https://*.*.example.com",
        "*",
        "",
    ],
)
def test_invalid_origin_entry(entry):
    assert not origins.valid_origin_entry(entry)


def test_clean_origins_skips_blanks_and_repeats_and_drops_trailing_slashes():
    lines = ["", "  https://a.example.com/ ", "https://a.example.com", "http://localhost:3000"]
    assert origins.clean_origins(lines) == ["https://a.example.com", "http://localhost:3000"]


def test_clean_origins_names_each_bad_line():
    with pytest.raises(ValidationError) as raised:
        origins.clean_origins(["https://ok.example.com", "example.com", "https://x.test/path"])
    assert [m.split(":")[0] for m in raised.value.messages] == ["Line 2", "Line 3"]


def test_clean_origins_refuses_too_many():
    lines = [f"https://a{n}.example.com" for n in range(origins.MAX_ALLOWED_ORIGINS + 1)]
    with pytest.raises(ValidationError):
        origins.clean_origins(lines)
