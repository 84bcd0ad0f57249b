"""A seeded random session: 3 projects on 2 daphne processes sharing Redis, 10 000 frames.

About 30 connections, some admins, spread over both processes, send broadcasts, direct
messages to their own and to other projects' ids, approvals, `connections` requests, pings
and garbage, while connections open and close. Every frame anyone receives is checked: a
message comes from an id of the receiver's project and carries that project's tag; no id of
another project appears in anything a connection is sent (except the value it wrote itself,
echoed in its own error). Paced below the rate limit (a bucket of 100 refilling 50 a second)
so that nobody is rate-limited. At the end, what was sent to connections open throughout has
arrived exactly once, and the registry lists exactly the sockets still open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from realtime import live
from tests.realtime.server_helpers import (
    assert_no_traceback,
    become_admin,
    new_project,
    new_server,
    open_socket,
)

pytestmark = [pytest.mark.redis, pytest.mark.server]

SEED = 20261201
FRAMES = 10_000
RATE = 200  # frames a second in all, about 7 a second per connection
PROJECTS = 3
START_PER_PROJECT = 10
ADMINS_PER_PROJECT = 2
MOST_PER_PROJECT = 12
KNOWN_CODES = {
    "invalid_json",
    "invalid_message",
    "unknown_event",
    "unknown_recipient",
    "not_admin",
    "binary_not_supported",
    "message_too_large",
}


@dataclass
class Client:
    ws: ClientConnection
    conn_id: str
    project: int
    admin: bool = False
    closed_by_us: bool = False
    frames: list = field(default_factory=list)
    pings: int = 0
    reader: asyncio.Task | None = None
    close_code: int | None = None

    async def read(self) -> None:
        try:
            async for text in self.ws:
                self.frames.append(text)
        except ConnectionClosed:
            pass
        self.close_code = self.ws.close_code

    @property
    def open(self) -> bool:
        return not self.closed_by_us and self.close_code is None and not self.reader.done()


def tag(project: int, sender: str, n: int, **more) -> dict:
    return {"p": project, "s": sender, "n": n, **more}


def garbage(rng: random.Random, client: Client, n: int) -> str | bytes:
    """One hostile frame; anything it relays carries the sender's tag."""
    relayed = json.dumps(tag(client.project, client.conn_id, n))
    choices = [
        "hello",
        "",
        "{",
        "[]",
        '{"to":5,"data":1}',
        '{"to":"all"}',
        '{"to":"all","data":NaN}',
        '{"to":"all","data":1e999}',
        '{"to":"all","data":' + "[" * 40 + "]" * 40 + "}",
        '{"to":"system","event":"dance"}',
        '{"type":"hub.group","group":"x","text":"{}"}',
        b"\x00\x01",
        '{"to":"all","data":"' + "x" * 70_000 + '"}',
        f'{{"to":"all","data":{relayed},"type":"hub.project","group":"x","change":"gone"}}',
        f'{{"to":"all","data":{relayed},"from":"\\ud800","\\udfff":1}}',
        # Lone surrogates where an id or a key goes (PROTOCOL.md §7: wrong values, no more).
        '{"to":"\\ud800","data":1}',
        '{"to":"system","event":"approved","id":"\\ud800"}',
        '{"to":"system","event":"admin","key":"\\ud800"}',
    ]
    return rng.choice(choices)


class Session:
    def __init__(self, rng, servers, projects) -> None:
        self.rng = rng
        self.servers = servers
        self.projects = projects
        self.clients: list[Client] = []
        self.ids: list[set[str]] = [set() for _ in projects]  # every id a project ever had
        self.broadcasts: list[tuple[Client, int, set[str]]] = []
        self.directs: list[tuple[Client, int, Client]] = []
        self.sent = Counter()
        self.changes = Counter()
        self.admin_failures: Counter = Counter()
        self.opened = 0

    def live(self, project: int | None = None) -> list[Client]:
        return [c for c in self.clients if c.open and project in (None, c.project)]

    async def open(self, project: int, admin: bool = False) -> Client:
        server = self.servers[self.opened % len(self.servers)]
        self.opened += 1
        ws, conn_id = await open_socket(server, self.projects[project].public_id)
        self.ids[project].add(conn_id)
        if admin:
            await become_admin(ws, self.projects[project].admin_key)
        client = Client(ws, conn_id, project, admin)
        client.reader = asyncio.create_task(client.read())
        self.clients.append(client)
        return client

    async def close(self, client: Client) -> None:
        client.closed_by_us = True
        await client.ws.close()

    async def step(self, n: int) -> bool:
        """Open or close a connection, or send frame number `n`; True when a frame went."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.01:
            closable = [c for c in self.live() if not c.admin]
            if closable:
                await self.close(rng.choice(closable))
                self.changes["close"] += 1
            return False
        if roll < 0.02:
            project = rng.randrange(PROJECTS)
            if len(self.live(project)) < MOST_PER_PROJECT:
                await self.open(project)
                self.changes["open"] += 1
            return False
        for project in range(PROJECTS):
            # Connections the server closed (reported at the end) are replaced, so that the
            # session goes on and keeps checking the projects' isolation.
            if len(self.live(project)) < 3:
                await self.open(project)
                self.changes["replaced"] += 1
        sender = rng.choice(self.live())
        own = [c for c in self.live(sender.project) if c is not sender]
        others = [c for c in self.live() if c.project != sender.project]
        kind = rng.choices(
            ["all", "direct", "foreign", "approve", "connections", "ping", "garbage"],
            [30, 25, 8, 8, 5, 14, 10],
        )[0]
        if kind == "direct" and not own:
            kind = "all"
        self.sent[kind] += 1
        if kind == "all":
            receivers = {c.conn_id for c in self.live(sender.project)}
            self.broadcasts.append((sender, n, receivers))
            frame = {"to": "all", "data": tag(sender.project, sender.conn_id, n)}
        elif kind == "direct":
            recipient = rng.choice(own)
            self.directs.append((sender, n, recipient))
            frame = {"to": recipient.conn_id, "data": tag(sender.project, sender.conn_id, n)}
        elif kind == "foreign":
            target = rng.choice(others).conn_id
            frame = {"to": target, "data": tag(sender.project, sender.conn_id, n)}
        elif kind == "approve":
            pool = own + others
            target = rng.choice(pool).conn_id if pool else sender.conn_id
            frame = {"to": "system", "event": "approved", "id": target}
        elif kind == "connections":
            frame = {"to": "system", "event": "connections"}
        elif kind == "ping":
            sender.pings += 1
            return await self.send(sender, "ping")
        else:
            text = garbage(rng, sender, n)
            if '"event":"admin"' in str(text) and sender.admin:
                text = "hello"  # admins keep their status for the listing at the end
            if '"event":"admin"' in str(text):
                # Five failures close a connection (4003); stay below that.
                if self.admin_failures[sender.conn_id] >= 3:
                    text = "hello"
                self.admin_failures[sender.conn_id] += 1
            return await self.send(sender, text)
        return await self.send(sender, json.dumps(frame))

    async def send(self, sender: Client, text: str | bytes) -> bool:
        """Send; a connection the server closed meanwhile is reported at the end."""
        with contextlib.suppress(ConnectionClosed):
            await sender.ws.send(text)
        return True

    # --- Checks -------------------------------------------------------------------------------

    def problems(self) -> list[str]:
        """Everything wrong with what every connection received."""
        found = []
        for client in self.clients:
            own = self.ids[client.project]
            for text in client.frames:
                found += [
                    f"{client.conn_id[:8]}: {p}: {text[:200]}"
                    for p in self.check(client, own, text)
                ]
        return found

    def check(self, client: Client, own: set[str], text) -> list[str]:
        if not isinstance(text, str):
            return ["a binary frame"]

        def refuse(name):
            raise ValueError(name)

        try:
            frame = json.loads(text, parse_constant=refuse)
        except ValueError as exc:
            return [f"not strict JSON ({exc})"]
        if not isinstance(frame, dict):
            return ["not an object"]
        if frame == {"system": "pong"}:
            return []
        sender = frame.get("from")
        if sender != "system":
            if set(frame) != {"from", "to", "data"}:
                return ["a message with other keys"]
            if sender not in own:
                return ["a message from an id of another project"]
            data = frame["data"]
            if not isinstance(data, dict) or data.get("p") != client.project:
                return ["a message tagged with another project"]
            if data.get("s") != sender:
                return ["a message whose tag names another sender"]
            if frame["to"] not in ("all", client.conn_id):
                return ["a message addressed to someone else"]
            return []
        event = frame.get("event")
        if "new_id" in frame or "left_id" in frame:
            conn = frame.get("new_id", frame.get("left_id"))
            if not client.admin:
                return ["new_id/left_id to a connection that is not admin"]
            return [] if conn in own else ["new_id/left_id of another project's id"]
        if event == "error":
            if frame.get("code") == "rate_limited":
                return ["rate_limited although paced"]
            return [] if frame.get("code") in KNOWN_CODES else ["an unexpected error code"]
        if event == "connections":
            listed = {c["id"] for c in frame["connections"]}
            return [] if listed <= own else ["a listing with another project's ids"]
        if event == "approved" and "status" not in frame:
            return [] if frame["id"] == client.conn_id else ["an approval notice for someone else"]
        if event in ("approved", "admin"):
            return []  # replies echo what this connection sent
        return ["a frame PROTOCOL.md does not define"]

    def undelivered(self) -> list[str]:
        """Messages between connections open throughout that did not arrive exactly once."""
        stayed = {c.conn_id: c for c in self.clients if c.open}
        received: Counter = Counter()
        for client in stayed.values():
            for text in client.frames:
                frame = json.loads(text) if isinstance(text, str) else None
                if isinstance(frame, dict) and frame.get("from") not in (None, "system"):
                    data = frame.get("data")
                    n = data.get("n") if isinstance(data, dict) else None
                    received[(client.conn_id, frame["from"], n)] += 1
        missing = []
        for sender, n, receivers in self.broadcasts:
            if sender.conn_id in stayed:
                for receiver in receivers & stayed.keys():
                    if received[(receiver, sender.conn_id, n)] != 1:
                        missing.append(f"broadcast {n} to {receiver[:8]}")
        for sender, n, recipient in self.directs:
            both_stayed = sender.conn_id in stayed and recipient.conn_id in stayed
            if both_stayed and received[(recipient.conn_id, sender.conn_id, n)] != 1:
                missing.append(f"direct {n} to {recipient.conn_id[:8]}")
        return missing


async def admin_listing(admin: Client) -> set[str]:
    """The ids in a fresh `connections` answer (the reader task collects the frames)."""
    seen = len(admin.frames)
    await admin.ws.send(json.dumps({"to": "system", "event": "connections"}))
    async with asyncio.timeout(5):
        while True:
            while seen < len(admin.frames):
                frame = json.loads(admin.frames[seen])
                seen += 1
                if frame.get("event") == "connections":
                    return {c["id"] for c in frame["connections"]}
            await asyncio.sleep(0.05)


async def registry_ids(public_id: str) -> set[str]:
    return {entry.conn_id for entry in await sync_to_async(live.connections)(public_id)}


async def test_10000_random_frames_never_cross_projects(start_server, alice):
    projects = [await new_project(alice, name=f"Fuzz {n}") for n in range(PROJECTS)]
    servers = [await new_server(start_server), await new_server(start_server)]
    session = Session(random.Random(SEED), servers, projects)
    for project in range(PROJECTS):
        for n in range(START_PER_PROJECT):
            await session.open(project, admin=n < ADMINS_PER_PROJECT)
    try:
        started = time.monotonic()
        n = 0
        while n < FRAMES:
            await asyncio.sleep(max(0.0, started + n / RATE - time.monotonic()))
            if await session.step(n):
                n += 1
        # Quiet down: every live connection's last ping answered, then a moment for others.
        for client in session.live():
            client.pings += 1
            await session.send(client, "ping")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pongs = {c.conn_id: c.frames.count('{"system":"pong"}') for c in session.live()}
            if all(pongs[c.conn_id] >= c.pings for c in session.live()):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)

        failures = []
        unexpected = [
            f"{c.conn_id[:8]} closed with {c.close_code}"
            for c in session.clients
            if not c.closed_by_us and c.reader.done()
        ]
        if unexpected:
            failures.append(f"{len(unexpected)} closed by the server: {unexpected[:10]}")
        problems = session.problems()
        if problems:
            failures.append(f"{len(problems)} bad frames, first: {problems[:10]}")
        unanswered = [
            c.conn_id[:8] for c in session.live() if c.frames.count('{"system":"pong"}') != c.pings
        ]
        if unanswered:
            failures.append(f"pings not answered once each on {unanswered}")
        missing = session.undelivered()
        if missing:
            failures.append(f"{len(missing)} messages not delivered once, first: {missing[:10]}")

        # The registry holds exactly the sockets still open, project by project.
        for number, project in enumerate(projects):
            expected = {c.conn_id for c in session.live(number)}
            seen = await registry_ids(project.public_id)
            for _ in range(30):
                if seen == expected:
                    break
                await asyncio.sleep(0.2)
                seen = await registry_ids(project.public_id)
            if seen != expected:
                failures.append(
                    f"project {number}: registry has {len(seen - expected)} ids not open "
                    f"and lacks {len(expected - seen)} open ones"
                )
            admin = next((c for c in session.live(number) if c.admin), None)
            if admin is None:
                failures.append(f"project {number}: no admin left to ask")
            elif await admin_listing(admin) != expected:
                failures.append(f"project {number}: the admin's listing differs")
        assert failures == [], "\n".join(failures)
        assert sum(session.sent.values()) == FRAMES, session.sent
        assert session.changes["open"] > 10 and session.changes["close"] > 10, session.changes
    finally:
        for client in session.clients:
            if client.open:
                await session.close(client)
        for client in session.clients:
            client.reader.cancel()
    for server in servers:
        assert_no_traceback(server)
