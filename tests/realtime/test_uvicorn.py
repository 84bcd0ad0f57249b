"""The relay under uvicorn (websockets-sansio as corrected by realtime.uvicorn_compat, uvloop,
httptools), the production command in the README.

The protocol is the same whatever serves it; these pin what depends on the server: the
handshake, its log, 1009 past the hard limit and 1012 on SIGTERM.
"""

from __future__ import annotations

import json
import signal

import pytest
from asgiref.sync import sync_to_async

from tests.realtime.server_helpers import (
    assert_no_traceback,
    become_admin,
    closed_with,
    new_project,
    open_socket,
    pings,
    recv,
)

pytestmark = pytest.mark.server


async def uvicorn(start_server, **env: str):
    return await sync_to_async(start_server)(server="uvicorn", **env)


async def test_a_session_under_uvicorn(start_server, alice):
    project = await new_project(alice)
    server = await uvicorn(start_server)
    admin, admin_id = await open_socket(server, project.public_id)
    await become_admin(admin, project.admin_key)
    guest, guest_id = await open_socket(server, project.public_id)
    assert await recv(admin) == {"from": "system", "new_id": guest_id}

    await admin.send(json.dumps({"to": "system", "event": "approved", "id": guest_id}))
    assert await recv(admin) == {
        "from": "system",
        "event": "approved",
        "id": guest_id,
        "status": "success",
    }
    assert await recv(guest) == {"from": "system", "event": "approved", "id": guest_id}

    await guest.send(json.dumps({"to": "all", "data": "pesan percobaan"}))
    expected = {"from": guest_id, "to": "all", "data": "pesan percobaan"}
    assert await recv(guest) == expected
    assert await recv(admin) == expected

    await admin.send(json.dumps({"to": guest_id, "data": {"event": "join"}}))
    assert await recv(guest) == {"from": admin_id, "to": guest_id, "data": {"event": "join"}}
    await pings(guest)
    await admin.close()
    await guest.close()
    assert_no_traceback(server)
    # --no-access-log (the README's command): no line per handshake either.
    assert "[accepted]" not in server.output()
    assert "connection open" not in server.output()


async def test_frame_over_one_mebibyte_closes_with_1009(start_server, alice):
    project = await new_project(alice)
    server = await uvicorn(start_server)
    ws, _ = await open_socket(server, project.public_id)
    await ws.send("x" * (1024 * 1024 + 1))
    assert await closed_with(ws) == 1009


async def test_sigterm_closes_live_sockets_with_1012(start_server, alice):
    project = await new_project(alice)
    server = await uvicorn(start_server)
    ws, _ = await open_socket(server, project.public_id)
    server.process.send_signal(signal.SIGTERM)
    assert await closed_with(ws, within=10) == 1012
