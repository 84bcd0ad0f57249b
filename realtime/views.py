"""The operators' /metrics page for Prometheus (see `metrics.py` and the README's Monitoring).

Open to loopback clients, and to anyone with `Authorization: Bearer <RELAY_METRICS_TOKEN>` when
that is set. Everyone else gets the same 404 as any missing page: the page is not advertised.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from accounts.client_address import request_client_address

from . import metrics


def is_loopback(address: str) -> bool:
    """127.0.0.0/8 and ::1 (also IPv4-mapped, ::ffff:127.0.0.1); anything unparsable is not."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def bearer_token_matches(authorization: str, token: str) -> bool:
    """`authorization` is "Bearer <token>" for the configured `token` (empty: nobody's is)."""
    scheme, _, given = authorization.partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def from_loopback(request: HttpRequest) -> bool:
    """The peer is loopback, and so is the client address (accounts/client_address.py, the one
    rule of every rate limit, the WebSocket consumer's included).

    Behind a reverse proxy on the same host every peer is loopback: with
    RELAY_TRUSTED_PROXY_HEADER set, the client the proxies forward must be loopback too.
    Without that setting, do not route /metrics through such a proxy (README, Monitoring).
    """
    peer = request.META.get("REMOTE_ADDR") or ""
    return is_loopback(peer) and is_loopback(request_client_address(request))


def may_read_metrics(request: HttpRequest) -> bool:
    token = settings.RELAY["METRICS_TOKEN"]
    if bearer_token_matches(request.headers.get("Authorization", ""), token):
        return True
    return from_loopback(request)


# No CSRF check: the page never writes, and an outsider's POST must get the 404, not a 403.
@csrf_exempt
@never_cache
def metrics_page(request: HttpRequest) -> HttpResponse:
    if not may_read_metrics(request):
        raise Http404
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    body, content_type = metrics.exposition(request.headers.get("Accept", ""))
    return HttpResponse(body, content_type=content_type)
