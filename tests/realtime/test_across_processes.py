"""Two daphne processes sharing Redis and the database, with clients split between them."""

from __future__ import annotations

import re
import signal
import time

import pytest

from tests.realtime.server_helpers import (
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

pytestmark = [pytest.mark.redis, pytest.mark.server]

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


async def two_servers(start_server, **env: str):
    return await new_server(start_server, **env), await new_server(start_server, **env)


async def listing(admin) -> dict[str, str]:
    """The admin's `connections` answer as {id: status}, checking each entry's shape."""
    await send(admin, {"to": "system", "event": "connections"})
    frame = await recv(admin)
    assert set(frame) == {"from", "event", "connections"}
    assert (frame["from"], frame["event"]) == ("system", "connections")
    for conn in frame["connections"]:
        assert set(conn) == {"id", "status", "connected_at"}
        assert ISO_UTC.fullmatch(conn["connected_at"]), conn
    return {conn["id"]: conn["status"] for conn in frame["connections"]}


async def test_broadcast_reaches_clients_on_both_processes(start_server, alice):
    project = await new_project(alice)
    one, two = await two_servers(start_server)
    sockets = [await open_socket(server, project.public_id) for server in (one, two, one, two)]
    try:
        for sender, sender_id in sockets[:2]:
            await send(sender, {"to": "all", "data": {"n": sender_id}})
            expected = {"from": sender_id, "to": "all", "data": {"n": sender_id}}
            for ws, _ in sockets:
                assert await recv(ws) == expected
        for ws, _ in sockets:
            await silent(ws, 0.2)
    finally:
        for ws, _ in sockets:
            await ws.close()


async def test_direct_message_crosses_processes_in_order(start_server, alice):
    project = await new_project(alice)
    one, two = await two_servers(start_server)
    left, left_id = await open_socket(one, project.public_id)
    right, right_id = await open_socket(two, project.public_id)
    async with left, right:
        for n in range(50):
            await send(left, {"to": right_id, "data": n})
        for n in range(50):
            assert await recv(right) == {"from": left_id, "to": right_id, "data": n}
        await send(right, {"to": left_id, "data": "back"})
        assert await recv(left) == {"from": right_id, "to": left_id, "data": "back"}
        await silent(left)
        await silent(right)


async def test_admin_hears_of_new_ids_on_the_other_process(start_server, alice):
    project = await new_project(alice)
    one, two = await two_servers(start_server)
    admin, _ = await open_socket(one, project.public_id)
    async with admin:
        await become_admin(admin, project.admin_key)
        guest, guest_id = await open_socket(two, project.public_id)
        async with guest:
            assert await recv(admin) == {"from": "system", "new_id": guest_id}
        assert await recv(admin) == {"from": "system", "left_id": guest_id}


async def test_approval_from_the_other_process_cancels_the_timeout(start_server, alice):
    project = await new_project(alice)
    one, two = await two_servers(start_server, RELAY_APPROVAL_TIMEOUT_OVERRIDE="3")
    admin, admin_id = await open_socket(one, project.public_id)
    async with admin:
        await become_admin(admin, project.admin_key)
        started = time.monotonic()
        approved, approved_id = await open_socket(two, project.public_id)
        ignored, ignored_id = await open_socket(two, project.public_id)
        async with approved, ignored:
            assert await recv(admin) == {"from": "system", "new_id": approved_id}
            assert await recv(admin) == {"from": "system", "new_id": ignored_id}
            await send(admin, {"to": "system", "event": "approved", "id": approved_id})
            assert await recv(admin) == {
                "from": "system",
                "event": "approved",
                "id": approved_id,
                "status": "success",
            }
            assert await recv(approved) == {
                "from": "system",
                "event": "approved",
                "id": approved_id,
            }
            # The other one is not approved and times out, as the override says.
            assert await recv(ignored, within=6) == {
                "from": "system",
                "event": "timeout",
                "error": "not approved in time",
            }
            assert await closed_with(ignored) == 4001
            assert await recv(admin) == {"from": "system", "left_id": ignored_id}
            await silent(approved, max(0.0, 4.0 - (time.monotonic() - started)))
            await pings(approved)
            assert await listing(admin) == {admin_id: "admin", approved_id: "approved"}


async def test_unknown_recipient_after_the_recipient_left(start_server, alice):
    project = await new_project(alice)
    one, two = await two_servers(start_server)
    admin, _ = await open_socket(one, project.public_id)
    async with admin:
        await become_admin(admin, project.admin_key)
        gone, gone_id = await open_socket(two, project.public_id)
        assert await recv(admin) == {"from": "system", "new_id": gone_id}
        await gone.close()
        assert await recv(admin) == {"from": "system", "left_id": gone_id}
        await send(admin, {"to": gone_id, "data": "anyone there?"})
        frame = await recv(admin)
        assert frame == error(frame, "unknown_recipient", to=gone_id)
        await pings(admin)


async def test_projects_stay_apart_across_processes(start_server, alice):
    project_a = await new_project(alice, name="A")
    project_b = await new_project(alice, name="B")
    one, two = await two_servers(start_server)
    a_admin, a_admin_id = await open_socket(one, project_a.public_id)
    b_admin, b_admin_id = await open_socket(two, project_b.public_id)
    async with a_admin, b_admin:
        await become_admin(a_admin, project_a.admin_key)
        await become_admin(b_admin, project_b.admin_key)
        a_guest, a_guest_id = await open_socket(two, project_a.public_id)
        b_guest, b_guest_id = await open_socket(one, project_b.public_id)
        async with a_guest, b_guest:
            assert await recv(a_admin) == {"from": "system", "new_id": a_guest_id}
            assert await recv(b_admin) == {"from": "system", "new_id": b_guest_id}
            # A's admin key means nothing in B.
            await send(b_guest, {"to": "system", "event": "admin", "key": project_a.admin_key})
            assert await recv(b_guest) == {
                "from": "system",
                "event": "admin",
                "status": "failed",
                "error": "invalid key",
            }
            await send(a_guest, {"to": "all", "data": "for A only"})
            for ws in (a_guest, a_admin):
                assert await recv(ws) == {"from": a_guest_id, "to": "all", "data": "for A only"}
            for target in (b_guest_id, b_admin_id):
                await send(a_guest, {"to": target, "data": "sneaking"})
                frame = await recv(a_guest)
                assert frame == error(frame, "unknown_recipient", to=target)
            await send(a_admin, {"to": "system", "event": "approved", "id": b_guest_id})
            assert await recv(a_admin) == {
                "from": "system",
                "event": "approved",
                "id": b_guest_id,
                "status": "failed",
                "error": "unknown id",
            }
            assert await listing(a_admin) == {a_admin_id: "admin", a_guest_id: "pending"}
            assert await listing(b_admin) == {b_admin_id: "admin", b_guest_id: "pending"}
            for ws in (b_guest, b_admin):
                await silent(ws, 0.3)


async def test_connections_list_spans_both_processes(start_server, alice):
    project = await new_project(alice)
    one, two = await two_servers(start_server)
    admin, admin_id = await open_socket(one, project.public_id)
    async with admin:
        await become_admin(admin, project.admin_key)
        guests = [await open_socket(server, project.public_id) for server in (one, two, two)]
        for _, guest_id in guests:
            assert await recv(admin) == {"from": "system", "new_id": guest_id}
        (_, first_id), (_, second_id), (third, third_id) = guests
        await send(admin, {"to": "system", "event": "approved", "id": second_id})
        assert (await recv(admin))["status"] == "success"
        await become_admin(third, project.admin_key)
        assert await listing(admin) == {
            admin_id: "admin",
            first_id: "pending",
            second_id: "approved",
            third_id: "admin",
        }
        assert await listing(third) == await listing(admin)
        for ws, _ in guests:
            await ws.close()
        assert {(await recv(admin))["left_id"] for _ in guests} == {first_id, second_id, third_id}
        assert await listing(admin) == {admin_id: "admin"}


async def test_admin_failure_limit_per_address_holds_across_processes(start_server, alice):
    project = await new_project(alice)
    one, two = await two_servers(start_server)
    wrong = {"to": "system", "event": "admin", "key": "x" * 40}
    failed = {"from": "system", "event": "admin", "status": "failed", "error": "invalid key"}
    # 20 failures from 127.0.0.1: four on each of five connections (the fifth on one
    # connection would close it), alternating between the processes.
    for n in range(5):
        ws, _ = await open_socket((one, two)[n % 2], project.public_id)
        async with ws:
            for _ in range(4):
                await send(ws, wrong)
                assert await recv(ws) == failed
    for server in (one, two):
        ws, _ = await open_socket(server, project.public_id)
        async with ws:
            await send(ws, {"to": "system", "event": "admin", "key": project.admin_key})
            assert await recv(ws) == {
                "from": "system",
                "event": "admin",
                "status": "failed",
                "error": "too many attempts",
            }
            await send(ws, {"to": "system", "event": "connections"})
            frame = await recv(ws)
            assert frame == error(frame, "not_admin")


async def test_killed_process_is_forgotten_and_its_connections_left(start_server, alice):
    project = await new_project(alice)
    survivor, doomed = await two_servers(start_server)
    admin, admin_id = await open_socket(survivor, project.public_id)
    async with admin:
        await become_admin(admin, project.admin_key)
        lost = [await open_socket(doomed, project.public_id) for _ in range(2)]
        lost_ids = {conn_id for _, conn_id in lost}
        assert {(await recv(admin))["new_id"] for _ in lost} == lost_ids
        assert set(await listing(admin)) == {admin_id, *lost_ids}

        doomed.process.send_signal(signal.SIGKILL)
        # Heartbeat TTL 15 s, a sweep every 5 s: gone within about 20 s.
        left = [await recv(admin, within=30) for _ in lost]
        assert sorted(left, key=str) == sorted(
            ({"from": "system", "left_id": conn_id} for conn_id in lost_ids), key=str
        )
        assert await listing(admin) == {admin_id: "admin"}
        for ws, conn_id in lost:
            assert await closed_with(ws) == 1006
            await send(admin, {"to": conn_id, "data": "still there?"})
            frame = await recv(admin)
            assert frame == error(frame, "unknown_recipient", to=conn_id)
        await silent(admin)


async def test_restricted_approval_across_processes_joins_broadcasts_before_success(
    start_server, alice
):
    """PROTOCOL.md §6 on two processes: the approved connection is in the broadcasts before
    the admin hears "success", whichever layer carries them (the pub/sub layer cannot add
    another process's channel to a group)."""
    project = await new_project(alice, pending_policy="restricted")
    one, two = await two_servers(start_server)
    admin, admin_id = await open_socket(one, project.public_id)
    async with admin:
        await become_admin(admin, project.admin_key)
        for round_ in range(3):
            guest, guest_id = await open_socket(two, project.public_id)
            async with guest:
                assert await recv(admin) == {"from": "system", "new_id": guest_id}
                await send(admin, {"to": "all", "data": f"before {round_}"})
                assert await recv(admin) == {
                    "from": admin_id,
                    "to": "all",
                    "data": f"before {round_}",
                }
                await send(admin, {"to": "system", "event": "approved", "id": guest_id})
                assert (await recv(admin))["status"] == "success"
                await send(admin, {"to": "all", "data": f"after {round_}"})
                # The guest is told, then gets the broadcast sent right after "success",
                # and never the one sent while it was pending.
                assert await recv(guest) == {"from": "system", "event": "approved", "id": guest_id}
                assert await recv(guest) == {
                    "from": admin_id,
                    "to": "all",
                    "data": f"after {round_}",
                }
                assert await recv(admin) == {
                    "from": admin_id,
                    "to": "all",
                    "data": f"after {round_}",
                }
                await silent(guest, 0.2)
            assert await recv(admin) == {"from": "system", "left_id": guest_id}
