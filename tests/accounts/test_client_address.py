"""One client-address rule: the plain function, and its adapter for HTTP requests.

The adapter for WebSocket scopes is pinned in tests/realtime/test_consumer_client_address.py.
"""

import pytest

from accounts.client_address import (
    client_address,
    request_client_address,
    scope_client_address,
)

PEER = "10.0.0.1"


def test_no_trusted_proxy_means_the_peer_address():
    assert client_address(PEER, ["203.0.113.5"], 0) == PEER
    assert client_address(PEER, [], 0) == PEER


def test_one_proxy_takes_the_last_entry():
    assert client_address(PEER, ["198.51.100.1, 203.0.113.5"], 1) == "203.0.113.5"


def test_two_proxies_take_the_second_entry_from_the_right():
    header = ["198.51.100.1, 203.0.113.5, 10.0.0.2"]
    assert client_address(PEER, header, 2) == "203.0.113.5"


def test_repeated_header_lines_are_read_in_order_as_one_list():
    # A client sends its own line first; the proxy appends its line after it.
    lines = ["198.51.100.66", "203.0.113.5"]
    assert client_address(PEER, lines, 1) == "203.0.113.5"
    lines = ["198.51.100.66, 198.51.100.67", "203.0.113.5, 10.0.0.2"]
    assert client_address(PEER, lines, 2) == "203.0.113.5"


def test_entries_are_stripped_and_empty_ones_skipped():
    assert client_address(PEER, [" 203.0.113.5 ,, "], 1) == "203.0.113.5"


def test_fewer_entries_than_proxies_means_the_peer_address():
    assert client_address(PEER, ["203.0.113.5"], 2) == PEER
    assert client_address(PEER, [], 1) == PEER


def test_no_peer_is_unknown():
    assert client_address(None, [], 0) == "unknown"


@pytest.fixture
def behind_proxies(settings):
    def configure(header="X-Forwarded-For", count=1):
        settings.RELAY = {
            **settings.RELAY,
            "TRUSTED_PROXY_HEADER": header,
            "TRUSTED_PROXY_COUNT": count,
        }

    return configure


def test_request_without_a_setting_is_its_remote_address(rf):
    request = rf.get("/", REMOTE_ADDR=PEER, HTTP_X_FORWARDED_FOR="198.51.100.66")
    assert request_client_address(request) == PEER


def test_request_behind_a_proxy_ignores_what_the_client_put_first(rf, behind_proxies):
    behind_proxies()
    request = rf.get("/", REMOTE_ADDR=PEER, HTTP_X_FORWARDED_FOR="198.51.100.66, 203.0.113.5")
    assert request_client_address(request) == "203.0.113.5"


def test_request_behind_two_proxies(rf, behind_proxies):
    behind_proxies(header="X-Real-Chain", count=2)
    request = rf.get(
        "/", REMOTE_ADDR=PEER, HTTP_X_REAL_CHAIN="198.51.100.66, 203.0.113.5, 10.0.0.2"
    )
    assert request_client_address(request) == "203.0.113.5"


def test_scope_behind_a_proxy_reads_every_header_line(behind_proxies):
    behind_proxies()
    scope = {
        "client": (PEER, 40000),
        "headers": [
            (b"x-forwarded-for", b"198.51.100.66"),
            (b"host", b"relay.example.com"),
            (b"x-forwarded-for", b"203.0.113.5"),
        ],
    }
    assert scope_client_address(scope) == "203.0.113.5"


def test_scope_without_a_setting_is_its_peer():
    scope = {"client": (PEER, 40000), "headers": [(b"x-forwarded-for", b"203.0.113.5")]}
    assert scope_client_address(scope) == PEER
