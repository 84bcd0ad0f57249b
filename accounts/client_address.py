"""The client's address, by one rule for HTTP requests and WebSockets.

Every rate limit (logins, password resets, sign-ups, admin-key failures) counts against this
address. With no proxy configured it is the peer address of the connection. Behind proxies,
`RELAY_TRUSTED_PROXY_HEADER` names the header they append the client's address to (e.g.
X-Forwarded-For) and `RELAY_TRUSTED_PROXY_COUNT` says how many of them there are: the address
is that many entries from the right of the header, read across repeated header lines in order.
Entries further left were written by the client and are never used.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.http import HttpRequest

UNKNOWN = "unknown"


def client_address(peer: str | None, header_values: Iterable[str], trusted_proxies: int) -> str:
    """The address `trusted_proxies` entries from the right of the header, else the peer.

    `header_values` are the lines of the trusted header in the order received; each may hold
    several comma-separated entries. With no trusted proxy, or fewer entries than proxies (the
    request did not come through all of them), the peer address is the client.
    """
    if trusted_proxies > 0:
        entries = [
            entry.strip() for value in header_values for entry in value.split(",") if entry.strip()
        ]
        if len(entries) >= trusted_proxies:
            return entries[-trusted_proxies]
    return peer or UNKNOWN


def _trusted() -> tuple[str, int]:
    """The configured header name (lower-case, or "") and the number of trusted proxies."""
    header = settings.RELAY["TRUSTED_PROXY_HEADER"].strip().lower()
    count = settings.RELAY["TRUSTED_PROXY_COUNT"] if header else 0
    return header, count


def request_client_address(request: HttpRequest) -> str:
    """The client address of an HTTP request (request.META)."""
    header, count = _trusted()
    values = []
    if header:
        # Django joins repeated header lines with commas, in order.
        value = request.META.get("HTTP_" + header.upper().replace("-", "_"))
        values = [value] if value else []
    return client_address(request.META.get("REMOTE_ADDR"), values, count)


def scope_client_address(scope: dict) -> str:
    """The client address of an ASGI connection (scope["client"], scope["headers"])."""
    header, count = _trusted()
    name = header.encode("latin-1")
    values = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == name]
    client = scope.get("client")
    return client_address(client[0] if client else None, values if header else [], count)
