"""Connection events for webhooks, emitted by the consumer without ever waiting.

`emit` returns at once: the event is built now (with its time) and handed to one worker
thread of this process, which stores it and queues its delivery (`projects/webhooks.py`)
only when the project has an endpoint that wants it. What each project wants is kept for
RELAY["WEBHOOK_CACHE_SECONDS"], so that projects without webhooks cost a dict look-up. One
thread keeps the events of this process, and so of each connection, in the order emitted; its
work is finished before the process exits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connection

logger = logging.getLogger(__name__)

OPENED = "connection.opened"
APPROVED = "connection.approved"
ADMIN = "connection.admin"
CLOSED = "connection.closed"

_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-events")
# public id -> (valid until, endpoint id or None, events wanted)
_wanted: dict[str, tuple[float, int | None, frozenset[str]]] = {}


def emit(public_id: str, event: str, conn_id: str, **extra) -> None:
    """Schedule webhook delivery of `event` for connection `conn_id`; never blocks."""
    cached = _wanted.get(public_id)
    if cached is not None and cached[0] > time.monotonic() and event not in cached[2]:
        return
    from projects.webhooks import payload

    body = payload(event, public_id, conn_id, **extra)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        _worker.submit(_record, public_id, event, conn_id, body)
    else:
        loop.run_in_executor(_worker, _record, public_id, event, conn_id, body)


def forget(public_id: str) -> None:
    """This process reads the project's endpoint again at its next event."""
    _wanted.pop(public_id, None)


def _endpoint_for(public_id: str) -> tuple[int | None, frozenset[str]]:
    cached = _wanted.get(public_id)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1], cached[2]
    from projects.models import Project, WebhookEndpoint

    # Two statements of one table each, not a join: a statement that held one table while it
    # waited for another could deadlock with whatever locks whole tables in its own order (a
    # migration; TRUNCATE when the tests flush the database under a running server).
    project = (
        Project.objects.filter(public_id=public_id, is_active=True)
        .values_list("pk", flat=True)
        .first()
    )
    row = (
        WebhookEndpoint.objects.filter(project_id=project).values_list("pk", "events").first()
        if project is not None
        else None
    )
    endpoint_id, events = (row[0], frozenset(row[1] or ())) if row else (None, frozenset())
    expires = time.monotonic() + settings.RELAY["WEBHOOK_CACHE_SECONDS"]
    _wanted[public_id] = (expires, endpoint_id, events)
    return endpoint_id, events


def _record(public_id: str, event: str, conn_id: str, body: dict) -> None:
    from projects.webhooks import record_event

    close_old_connections()
    try:
        endpoint_id, events = _endpoint_for(public_id)
        if endpoint_id is not None and event in events:
            record_event(endpoint_id, event, conn_id, body)
    except Exception:
        logger.exception("could not record webhook event %s of %s", event, public_id)
    finally:
        # This thread outlives requests; do not keep a connection open between events.
        connection.close()


def wait_until_recorded(timeout: float = 5.0) -> None:
    """Block until the events emitted so far are stored (for tests and shutdown)."""
    _worker.submit(lambda: None).result(timeout)
