"""Helpers for tests that drive real server processes with the `websockets` client."""

from __future__ import annotations

import asyncio
import json
import uuid

from asgiref.sync import sync_to_async
from django.db import connection
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import Server, make_project, server_args, server_env

WAIT = 5.0  # seconds: the longest any single frame may take to arrive


async def recv(ws: ClientConnection, within: float = WAIT) -> dict:
    """The next frame, parsed strictly (no NaN), within `within` seconds."""
    text = await asyncio.wait_for(ws.recv(), within)
    assert isinstance(text, str), f"expected a text frame, got {text!r}"
    assert "Traceback" not in text
    return json.loads(text, parse_constant=_reject_constant)


def _reject_constant(name: str):
    raise AssertionError(f"the server sent {name}, which is not JSON")


async def send(ws: ClientConnection, frame) -> None:
    await ws.send(json.dumps(frame))


async def silent(ws: ClientConnection, seconds: float = 0.5) -> None:
    """Nothing arrives on `ws` for `seconds`."""
    try:
        text = await asyncio.wait_for(ws.recv(), seconds)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected frame: {text!r}")


async def closed_with(ws: ClientConnection, within: float = WAIT) -> int | None:
    """Wait for the server to close `ws` (reading any frames left) and return the code."""
    async with asyncio.timeout(within):
        try:
            while True:
                await ws.recv()
        except ConnectionClosed:
            pass
        await ws.wait_closed()
    return ws.close_code


async def open_socket(server, public_id: str) -> tuple[ClientConnection, str]:
    """Connect, read the id frame, and return the socket and its connection id."""
    ws = await asyncio.wait_for(connect(server.ws(public_id), open_timeout=WAIT), WAIT)
    frame = await recv(ws)
    conn_id = frame.get("id")
    assert frame == {"from": "system", "id": conn_id}
    assert str(uuid.UUID(conn_id)) == conn_id and uuid.UUID(conn_id).version == 4
    return ws, conn_id


async def become_admin(ws: ClientConnection, key: str) -> None:
    await send(ws, {"to": "system", "event": "admin", "key": key})
    assert await recv(ws) == {"from": "system", "event": "admin", "status": "success"}


def error(frame: dict, code: str, **extra) -> dict:
    """The error frame `code` that `frame` should be, with its own human-readable text."""
    text = frame.get("error")
    assert isinstance(text, str) and text, frame
    return {"from": "system", "event": "error", "code": code, "error": text, **extra}


PONG = {"system": "pong"}


async def pings(ws: ClientConnection) -> None:
    """The connection still answers a ping."""
    await ws.send("ping")
    assert await recv(ws) == PONG


def assert_no_traceback(server) -> None:
    """The server logged no unhandled exception."""
    log = server.output()
    assert "Traceback" not in log, log


def _make_project(owner, **overrides):
    try:
        return make_project(owner, **overrides)
    finally:
        # sync_to_async runs this in a thread of its own: close that thread's connection, or
        # it outlives the test and PostgreSQL refuses to drop the test database.
        connection.close()


async def new_project(owner, **overrides):
    return await sync_to_async(_make_project)(owner, **overrides)


async def new_server(start_server, *args: str, **env: str):
    """A daphne from the `start_server` fixture (with `make run`'s message and frame limits)."""
    return await sync_to_async(start_server)(args, **env)


def shared_server(kind: str = "daphne", **env_overrides: str):
    """A server process for a whole module (the `start_server` fixture's is per test).

    Call it from a module-scoped fixture that depends on `django_db_setup`, inside
    `django_db_blocker.unblock()`, and `stop()` it at the end. The options are the fixture's.
    """
    return Server(server_env(**env_overrides), server_args(kind), kind=kind)


def log_since(server, offset: int) -> str:
    """What the server logged after `offset` characters (take `len(server.output())` first)."""
    return server.output()[offset:]


async def listing(admin: ClientConnection, skipped: list | None = None) -> dict[str, str]:
    """The admin's `connections` answer as {id: status}; frames before it go to `skipped`."""
    await send(admin, {"to": "system", "event": "connections"})
    async with asyncio.timeout(WAIT):
        while True:
            frame = await recv(admin)
            if frame.get("event") == "connections" and "connections" in frame:
                return {conn["id"]: conn["status"] for conn in frame["connections"]}
            assert skipped is not None, f"unexpected frame before the listing: {frame}"
            skipped.append(frame)


async def settles_to(
    admin: ClientConnection, expected: dict[str, str], skipped: list, within: float = 3.0
) -> dict[str, str]:
    """Poll the admin's listing until it is `expected` (clean-up is asynchronous); return the
    last one seen. Other frames that arrive meanwhile go to `skipped`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        seen = await listing(admin, skipped)
        if seen == expected or loop.time() > deadline:
            return seen
        await asyncio.sleep(0.1)
