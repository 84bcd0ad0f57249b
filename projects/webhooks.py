"""Webhook deliveries: signed the Standard Webhooks way, sent by the task worker, never on a
socket's path.

An event becomes a `WebhookMessage` row and a task (`projects/tasks.py`). The task makes one
attempt; a failure (no 2xx answer in time) schedules the next attempt after the next delay of
RELAY["WEBHOOK_RETRY_DELAYS"], until they run out (at least a day). Events of one connection
are sent in order: an event waits while an earlier one of its connection is still pending.
The host is resolved at each attempt and every address checked; the request goes to the
checked address, so that a name cannot be rebound to a private one in between.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from .models import WebhookAttempt, WebhookEndpoint, WebhookMessage

logger = logging.getLogger(__name__)

LOG_SIZE = 50  # attempts kept per endpoint, shown on the project page
TEST_EVENT = "webhook.test"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
# Waiting behind an earlier event of the same connection: look again after this long.
ORDER_WAIT = timedelta(seconds=1)
# A pending message whose attempt is this late has lost its task (a worker died): requeued.
STALLED_AFTER = timedelta(minutes=5)


class UnsafeUrl(ValueError):
    pass


# --- Addresses -------------------------------------------------------------------------------


def _loopback_allowed() -> bool:
    return settings.RELAY["WEBHOOK_ALLOW_LOOPBACK"]


def address_allowed(address: str) -> bool:
    """Public addresses only; 127.0.0.1 and ::1 too when the development setting allows."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return _loopback_allowed() and str(ip) in ("127.0.0.1", "::1")
    return ip.is_global and not ip.is_multicast


def check_url(url: str) -> None:
    """The URL's shape: https, or http to 127.0.0.1 when allowed; no credentials. Raises."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise UnsafeUrl("only http(s) URLs")
    if parts.username or parts.password:
        raise UnsafeUrl("no user name or password in the URL")
    if parts.scheme == "http" and not (_loopback_allowed() and host in LOOPBACK_HOSTS):
        raise UnsafeUrl("only https URLs")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost" and not _loopback_allowed():
            raise UnsafeUrl("not a public address") from None
        return
    if not address_allowed(str(literal)):
        raise UnsafeUrl("not a public address")


def resolve(url: str) -> tuple[str, str]:
    """(the URL pointing at a checked address, the host name) or UnsafeUrl."""
    check_url(url)
    parts = urlsplit(url)
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeUrl(f"cannot resolve {host}") from exc
    addresses = [info[4][0] for info in infos]
    if not addresses or not all(address_allowed(a) for a in addresses):
        raise UnsafeUrl("the host resolves to an address that is not public")
    address = addresses[0]
    shown = f"[{address}]" if ":" in address else address
    netloc = f"{shown}:{parts.port}" if parts.port else shown
    return urlunsplit(parts._replace(netloc=netloc)), host


# --- Events ----------------------------------------------------------------------------------


def payload(event: str, public_id: str, conn_id: str | None, **extra) -> dict:
    data = {"project": public_id}
    if conn_id:
        data["id"] = conn_id
    data.update(extra)
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"type": event, "timestamp": now, "data": data}


def record_event(endpoint_id: int, event: str, conn_id: str, body: dict) -> WebhookMessage:
    """Store one event and queue its first attempt (synchronous: a worker thread calls it)."""
    from .tasks import deliver_webhook

    with transaction.atomic():
        message = WebhookMessage.objects.create(
            endpoint_id=endpoint_id, event=event, conn_id=conn_id, payload=body
        )
        transaction.on_commit(lambda: deliver_webhook.enqueue(message.pk))
    return message


def send_test_event(endpoint: WebhookEndpoint) -> WebhookMessage:
    body = payload(TEST_EVENT, endpoint.project.public_id, None, message="a test event")
    return record_event(endpoint.pk, TEST_EVENT, "", body)


# --- Delivery (in the task worker) -------------------------------------------------------------


def sign(endpoint: WebhookEndpoint, message: WebhookMessage, body: str) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "webhook-id": message.msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(endpoint.secret).sign(message.msg_id, now, body),
        "content-type": "application/json",
        "user-agent": "Relay-Webhooks/1",
    }


def post(endpoint: WebhookEndpoint, message: WebhookMessage) -> WebhookAttempt:
    """One attempt, logged; never raises for the endpoint's sake."""
    body = json.dumps(message.payload, separators=(",", ":"))
    status_code, error = None, ""
    started = time.monotonic()
    try:
        target, host = resolve(endpoint.url)
        headers = {**sign(endpoint, message, body), "host": urlsplit(endpoint.url).netloc}
        with httpx.Client(timeout=settings.RELAY["WEBHOOK_TIMEOUT"]) as client:
            response = client.post(
                target, content=body, headers=headers, extensions={"sni_hostname": host}
            )
        status_code = response.status_code
    except UnsafeUrl as exc:
        error = str(exc)
    except httpx.TimeoutException:
        error = "timed out"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:200]
    latency_ms = int((time.monotonic() - started) * 1000)
    attempt = WebhookAttempt.objects.create(
        endpoint=endpoint,
        message=message,
        status_code=status_code,
        latency_ms=latency_ms,
        error=error,
    )
    old = endpoint.attempts.order_by("-at", "-pk").values_list("pk", flat=True)[LOG_SIZE:]
    WebhookAttempt.objects.filter(pk__in=list(old)).delete()
    return attempt


def deliver(message_id: int) -> str:
    """The task's body: one attempt of one message, or a wait behind an earlier one."""
    from .tasks import deliver_webhook

    message = (
        WebhookMessage.objects.select_related("endpoint", "endpoint__project")
        .filter(pk=message_id)
        .first()
    )
    if message is None or message.state != WebhookMessage.State.PENDING:
        return "gone"
    now = timezone.now()
    if message.conn_id:
        earlier = (
            WebhookMessage.objects.filter(
                endpoint_id=message.endpoint_id,
                conn_id=message.conn_id,
                state=WebhookMessage.State.PENDING,
                pk__lt=message.pk,
            )
            .order_by("pk")
            .first()
        )
        if earlier is not None:
            after = max(earlier.next_attempt_at, now) + ORDER_WAIT
            WebhookMessage.objects.filter(pk=message.pk).update(next_attempt_at=after)
            deliver_webhook.using(run_after=after).enqueue(message.pk)
            return "waiting"
    attempt = post(message.endpoint, message)
    message.attempts += 1
    if attempt.ok:
        message.state = WebhookMessage.State.DELIVERED
    else:
        delays = settings.RELAY["WEBHOOK_RETRY_DELAYS"]
        if message.attempts > len(delays):
            message.state = WebhookMessage.State.FAILED
            logger.info("gave up webhook %s after %d attempts", message.msg_id, message.attempts)
        else:
            message.next_attempt_at = now + timedelta(seconds=delays[message.attempts - 1])
    message.save(update_fields=["state", "attempts", "next_attempt_at"])
    if message.state == WebhookMessage.State.PENDING:
        deliver_webhook.using(run_after=message.next_attempt_at).enqueue(message.pk)
    return str(message.state)


def requeue_stalled() -> int:
    """Queue again the pending messages whose task was lost (a worker died mid-attempt)."""
    from .tasks import deliver_webhook

    late = WebhookMessage.objects.filter(
        state=WebhookMessage.State.PENDING, next_attempt_at__lt=timezone.now() - STALLED_AFTER
    )
    count = 0
    for pk in late.values_list("pk", flat=True):
        deliver_webhook.enqueue(pk)
        count += 1
    return count
