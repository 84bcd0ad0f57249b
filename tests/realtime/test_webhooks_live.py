"""Webhooks end to end: a real server, a real task worker (`manage.py db_worker`) and a real
HTTP receiver on 127.0.0.1; every request's signature verified with standardwebhooks."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from projects.models import WebhookEndpoint
from tests.conftest import ROOT, database_url_for_servers
from tests.projects.webhook_receiver import Receiver
from tests.realtime.server_helpers import (
    become_admin,
    closed_with,
    new_project,
    open_socket,
    recv,
    send,
)

pytestmark = [pytest.mark.server]

WEBHOOK_ENV = {
    "RELAY_WEBHOOK_ALLOW_LOOPBACK": "1",
    "RELAY_WEBHOOK_RETRY_DELAYS": "0.5,0.5,0.5,0.5",
    "RELAY_WEBHOOK_TIMEOUT": "1",
    "RELAY_WEBHOOK_CACHE_SECONDS": "1",
}


class Worker:
    """`manage.py db_worker` on the test database."""

    def __init__(self) -> None:
        from django.conf import settings

        env = {
            **os.environ,
            "DATABASE_URL": database_url_for_servers(),
            "REDIS_URL": settings.REDIS_URL,
            "PYTHONUNBUFFERED": "1",
            **WEBHOOK_ENV,
        }
        self.log = ROOT / f".worker-{os.getpid()}-{id(self)}.log"
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--interval", "0.1", "--no-startup-delay"],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.unlink(missing_ok=True)


@pytest.fixture
def workers():
    started: list[Worker] = []

    def start() -> Worker:
        worker = Worker()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def _make_endpoint(**fields) -> WebhookEndpoint:
    try:
        return WebhookEndpoint.objects.create(**fields)
    finally:
        # As server_helpers' new_project: the thread's connection must not outlive the test.
        connection.close()


async def project_with_webhook(alice, receiver, events=None):
    project = await new_project(alice)
    endpoint = await sync_to_async(_make_endpoint)(
        project=project, url=receiver.url, events=events or list(WebhookEndpoint.Event.values)
    )
    return project, endpoint


async def events_of(receiver, endpoint, count, within=20.0):
    try:
        await asyncio.to_thread(receiver.wait_for, count, within)
    except AssertionError:
        print("received:", [(p["type"], p["data"]) for p in receiver.events(endpoint.secret)])
        raise
    return receiver.events(endpoint.secret)


async def test_connection_events_arrive_signed_and_in_order(start_server, workers, alice, receiver):
    project, endpoint = await project_with_webhook(alice, receiver)
    server = await sync_to_async(start_server)((), **WEBHOOK_ENV)
    await sync_to_async(workers)()
    admin, admin_id = await open_socket(server, project.public_id)
    await become_admin(admin, project.admin_key)
    guest, guest_id = await open_socket(server, project.public_id)
    assert await recv(admin) == {"from": "system", "new_id": guest_id}
    await send(admin, {"to": "system", "event": "approved", "id": guest_id})
    await recv(admin)
    await recv(guest)
    await guest.close()
    assert await recv(admin) == {"from": "system", "left_id": guest_id}
    await admin.close()
    payloads = await events_of(receiver, endpoint, 6)
    seen = {}
    for payload in payloads:
        assert payload["data"]["project"] == project.public_id
        seen.setdefault(payload["data"]["id"], []).append(payload["type"])
    assert seen[admin_id] == ["connection.opened", "connection.admin", "connection.closed"]
    assert seen[guest_id] == ["connection.opened", "connection.approved", "connection.closed"]
    closes = [p["data"]["code"] for p in payloads if p["type"] == "connection.closed"]
    assert closes == [1000, 1000]


async def test_only_the_events_asked_for(start_server, workers, alice, receiver):
    project, endpoint = await project_with_webhook(alice, receiver, ["connection.closed"])
    server = await sync_to_async(start_server)(
        (), **WEBHOOK_ENV, RELAY_APPROVAL_TIMEOUT_OVERRIDE="1"
    )
    await sync_to_async(workers)()
    ws, conn_id = await open_socket(server, project.public_id)
    assert await closed_with(ws) == 4001
    (payload,) = await events_of(receiver, endpoint, 1)
    assert payload["type"] == "connection.closed"
    assert payload["data"] == {"project": project.public_id, "id": conn_id, "code": 4001}
    await asyncio.sleep(1)
    assert len(receiver.requests) == 1


async def test_retried_after_500s_and_timeouts(start_server, workers, alice, receiver):
    receiver.answers = [500, "hang", 503]
    project, endpoint = await project_with_webhook(alice, receiver, ["connection.opened"])
    server = await sync_to_async(start_server)((), **WEBHOOK_ENV)
    await sync_to_async(workers)()
    ws, conn_id = await open_socket(server, project.public_id)
    await ws.close()
    payloads = await events_of(receiver, endpoint, 4)
    assert len({headers["webhook-id"] for headers, _ in receiver.requests}) == 1
    assert all(p["data"]["id"] == conn_id for p in payloads)


async def test_a_hanging_endpoint_never_slows_sockets(start_server, workers, alice, receiver):
    receiver.answers = ["hang"] * 100
    receiver.hang_seconds = 5
    project, _ = await project_with_webhook(alice, receiver)
    server = await sync_to_async(start_server)((), **WEBHOOK_ENV)
    await sync_to_async(workers)()
    first, _ = await open_socket(server, project.public_id)
    await asyncio.to_thread(receiver.wait_for, 1)  # the worker now hangs on the endpoint
    worst = 0.0
    for _ in range(10):
        started = time.monotonic()
        ws, _ = await open_socket(server, project.public_id)
        await ws.send("ping")
        assert await recv(ws) == {"system": "pong"}
        await first.send("ping")
        assert await recv(first) == {"system": "pong"}
        await ws.close()
        worst = max(worst, time.monotonic() - started)
    await first.close()
    assert worst < 0.5, worst


async def test_nothing_is_lost_across_a_server_restart(start_server, workers, alice, receiver):
    project, endpoint = await project_with_webhook(alice, receiver)
    server = await sync_to_async(start_server)((), **WEBHOOK_ENV)
    sockets = [await open_socket(server, project.public_id) for _ in range(5)]
    await asyncio.sleep(0.5)
    await sync_to_async(server.stop)()  # SIGTERM: every socket closed with 1012
    for ws, _ in sockets:
        assert await closed_with(ws) == 1012
    # No worker ran so far: the events wait in the database for one.
    assert receiver.requests == []
    again = await sync_to_async(start_server)((), **WEBHOOK_ENV)
    await sync_to_async(workers)()
    payloads = await events_of(receiver, endpoint, 10)
    ids = {conn_id for _, conn_id in sockets}
    opened = {p["data"]["id"] for p in payloads if p["type"] == "connection.opened"}
    closed = {
        p["data"]["id"]: p["data"]["code"] for p in payloads if p["type"] == "connection.closed"
    }
    assert opened == ids
    assert closed == dict.fromkeys(ids, 1012)
    ws, _ = await open_socket(again, project.public_id)
    await ws.close()
