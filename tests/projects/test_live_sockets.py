"""The dashboard acting on live sockets: real daphne, real WebSocket clients.

Each test drives the dashboard's views two ways:
- `test_client`: Django's test client in this process, logged in as alice. The view runs here
  and must reach sockets held by the daphne process, which needs a shared channel layer, so
  these run on the Redis pass (REDIS_URL set).
- `same_process`: plain HTTP to the daphne process that also holds the sockets (how `make run`
  serves the embedded default, one process with the in-memory layer), with alice's session
  cookie and the CSRF token from the page, as a browser would.
"""

from __future__ import annotations

import asyncio
import http.client
import re
import time
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client
from django.urls import reverse
from websockets.asyncio.client import connect

from projects.models import Project
from tests.realtime.server_helpers import (
    WAIT,
    become_admin,
    closed_with,
    error,
    new_project,
    new_server,
    open_socket,
    pings,
    recv,
    send,
    silent,
)

pytestmark = pytest.mark.server

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class DjangoClientDashboard:
    """The views run in this process, through Django's test client."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def post(self, path: str, data: dict | None = None) -> int:
        return self.client.post(path, data or {}).status_code


class SameProcessDashboard:
    """The views run in the daphne process, reached over HTTP like a browser would."""

    def __init__(self, client: Client, port: int) -> None:
        self.port = port
        self.session = client.cookies[settings.SESSION_COOKIE_NAME].value

    def post(self, path: str, data: dict | None = None) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT)
        try:
            conn.request("GET", reverse("projects:list"), headers={"Cookie": self.cookies()})
            page = conn.getresponse()
            body = page.read().decode()
            assert page.status == 200, body
            cookies = SimpleCookie()
            for header in page.headers.get_all("Set-Cookie") or []:
                cookies.load(header)
            csrf_cookie = cookies[settings.CSRF_COOKIE_NAME].value
            token = CSRF_INPUT.search(body).group(1)
            conn.request(
                "POST",
                path,
                body=urlencode({**(data or {}), "csrfmiddlewaretoken": token}),
                headers={
                    "Cookie": self.cookies(csrftoken=csrf_cookie),
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            )
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def cookies(self, csrftoken: str | None = None) -> str:
        jar = [f"{settings.SESSION_COOKIE_NAME}={self.session}"]
        if csrftoken:
            jar.append(f"{settings.CSRF_COOKIE_NAME}={csrftoken}")
        return "; ".join(jar)


@pytest.fixture(
    params=[pytest.param("test_client", marks=pytest.mark.redis), "same_process"],
)
def via(request):
    return request.param


async def dashboard_for(user, server, via: str):
    client = Client()
    await sync_to_async(client.force_login)(user)
    if via == "test_client":
        return DjangoClientDashboard(client)
    return SameProcessDashboard(client, server.port)


async def post(dashboard, name: str, project: Project, data: dict | None = None) -> int:
    path = reverse(f"projects:{name}", args=[project.public_id])
    return await sync_to_async(dashboard.post)(path, data)


async def test_regenerating_the_key_closes_old_admins_with_4003_only(start_server, alice, via):
    project = await new_project(alice)
    server = await new_server(start_server)
    dashboard = await dashboard_for(alice, server, via)
    admin, _ = await open_socket(server, project.public_id)
    async with admin:
        await become_admin(admin, project.admin_key)
        guest, guest_id = await open_socket(server, project.public_id)
        async with guest:
            assert await recv(admin) == {"from": "system", "new_id": guest_id}

            assert await post(dashboard, "regenerate-key", project) == 302

            assert await closed_with(admin) == 4003
            await pings(guest)
            await silent(guest)

            # The old key no longer works; the new one does.
            old_key = project.admin_key
            await project.arefresh_from_db()
            assert project.admin_key != old_key
            newcomer, _ = await open_socket(server, project.public_id)
            async with newcomer:
                await send(newcomer, {"to": "system", "event": "admin", "key": old_key})
                assert await recv(newcomer) == {
                    "from": "system",
                    "event": "admin",
                    "status": "failed",
                    "error": "invalid key",
                }
                await become_admin(newcomer, project.admin_key)


async def test_deleting_the_project_closes_its_sockets_with_4004(start_server, alice, via):
    project = await new_project(alice)
    server = await new_server(start_server)
    dashboard = await dashboard_for(alice, server, via)
    admin, _ = await open_socket(server, project.public_id)
    async with admin:
        await become_admin(admin, project.admin_key)
        guest, guest_id = await open_socket(server, project.public_id)
        async with guest:
            assert await recv(admin) == {"from": "system", "new_id": guest_id}

            assert await post(dashboard, "delete", project) == 302

            for ws in (admin, guest):
                frame = await recv(ws)
                assert frame == error(frame, "project_not_found")
                assert await closed_with(ws) == 4004

    assert not await Project.objects.filter(pk=project.pk).aexists()
    # Its URL is dead: a new connection is refused the same way.
    late = await asyncio.wait_for(connect(server.ws(project.public_id), open_timeout=WAIT), WAIT)
    frame = await recv(late)
    assert frame == error(frame, "project_not_found")
    assert await closed_with(late) == 4004


async def test_restricting_pending_connections_takes_effect_live(start_server, alice, via):
    project = await new_project(alice)
    server = await new_server(start_server)
    dashboard = await dashboard_for(alice, server, via)
    admin, admin_id = await open_socket(server, project.public_id)
    async with admin:
        await become_admin(admin, project.admin_key)
        pending, pending_id = await open_socket(server, project.public_id)
        async with pending:
            assert await recv(admin) == {"from": "system", "new_id": pending_id}
            # Open policy: a pending connection hears broadcasts.
            before = {"from": admin_id, "to": "all", "data": "before"}
            await send(admin, {"to": "all", "data": "before"})
            assert await recv(admin) == before
            assert await recv(pending) == before

            settings_form = {
                "pending_policy": "restricted",
                "approval_timeout": "60",
                "allowed_origins": "",
            }
            assert await post(dashboard, "settings", project, settings_form) == 302

            await until_broadcasts_refused(pending)
            await send(admin, {"to": "all", "data": "after"})
            while (frame := await recv(admin))["data"] != "after":
                assert frame == {"from": pending_id, "to": "all", "data": "probe"}
            assert frame == {"from": admin_id, "to": "all", "data": "after"}
            # Echoes of probes sent before the refusal may still be on their way; "after"
            # must not be.
            try:
                while True:
                    late = await recv(pending, within=0.5)
                    assert late == {"from": pending_id, "to": "all", "data": "probe"}
            except TimeoutError:
                pass
            # Admins still reach it directly, and it stays open.
            await send(admin, {"to": pending_id, "data": "direct"})
            assert await recv(pending) == {"from": admin_id, "to": pending_id, "data": "direct"}
            await pings(pending)


async def until_broadcasts_refused(ws) -> None:
    """Broadcast from `ws` until it is refused as not approved: it has the new policy then.

    The connection leaves the broadcast group when it takes the new policy, so the echo of a
    probe sent just before may never come back: only probe echoes and the refusal may arrive.
    """
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        await send(ws, {"to": "all", "data": "probe"})
        try:
            frame = await recv(ws, within=0.5)
        except TimeoutError:
            continue
        if frame.get("code") == "not_approved":
            assert frame == error(frame, "not_approved")
            return
        assert frame.get("data") == "probe", frame
        await asyncio.sleep(0.05)
    raise AssertionError("the connection never got the restricted policy")
