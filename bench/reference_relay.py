"""A reference relay: the hot path of shared/PROTOCOL.md in plain `websockets`, one process.

What a relay on this machine can do when nothing but the protocol stands in the way: the
benchmark compares the real app against it. It keeps the same rules that cost work per frame
(the id frame, new_id/left_id to admins, the admin key, approvals and their timeout, broadcast
to the project encoded once, direct messages, ping, the 100/50-per-second rate limit) and skips
the rest (origins, size limits, error details, restricted policy, the database).

    python bench/reference_relay.py --port 8765 --admin-key KEY   (serves any /ws/<id>/ path)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import re
import time
import uuid

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

PATH = re.compile(r"^/ws/([^/]+)/?$")
PONG = '{"system":"pong"}'


def encode(frame: object) -> str:
    return json.dumps(frame, separators=(",", ":"))


def system(**fields: object) -> str:
    return encode({"from": "system", **fields})


def error(code: str, text: str, **extra: object) -> str:
    return system(event="error", code=code, error=text, **extra)


class Conn:
    __slots__ = ("id", "project", "status", "timer", "tokens", "ts", "ws")

    def __init__(self, ws: ServerConnection, project: str) -> None:
        self.ws, self.project, self.id = ws, project, str(uuid.uuid4())
        self.status, self.timer = "pending", None
        self.tokens, self.ts = 100.0, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(100.0, self.tokens + (now - self.ts) * 50)
        self.ts = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Relay:
    def __init__(self, admin_key: str, approval_timeout: float) -> None:
        self.admin_key, self.approval_timeout = admin_key, approval_timeout
        self.projects: dict[str, dict[str, Conn]] = {}

    def to_admins(self, project: str, text: str) -> None:
        conns = self.projects.get(project, {}).values()
        broadcast([c.ws for c in conns if c.status == "admin"], text)

    async def expire(self, conn: Conn) -> None:
        await asyncio.sleep(self.approval_timeout)
        if conn.status == "pending":
            with contextlib.suppress(ConnectionClosed):
                await conn.ws.send(system(event="timeout", error="not approved in time"))
                await conn.ws.close(4001)

    async def handler(self, ws: ServerConnection) -> None:
        match = PATH.match(ws.request.path)
        if match is None:
            return await ws.close(4004)
        conn = Conn(ws, match.group(1))
        members = self.projects.setdefault(conn.project, {})
        members[conn.id] = conn
        try:
            await ws.send(system(id=conn.id))
            self.to_admins(conn.project, system(new_id=conn.id))
            conn.timer = asyncio.create_task(self.expire(conn))
            async for text in ws:
                await self.receive(conn, members, text)
        except ConnectionClosed:
            pass
        finally:
            if conn.timer is not None:
                conn.timer.cancel()
            members.pop(conn.id, None)
            self.to_admins(conn.project, system(left_id=conn.id))

    async def receive(self, conn: Conn, members: dict[str, Conn], text: str | bytes) -> None:
        ws = conn.ws
        if not isinstance(text, str):
            return await ws.send(error("binary_not_supported", "binary frames are not supported"))
        if not conn.take():
            return await ws.send(error("rate_limited", "too many frames"))
        if text == "ping" or text == '"ping"':
            return await ws.send(PONG)
        try:
            msg = json.loads(text)
        except ValueError:
            return await ws.send(error("invalid_json", "not JSON"))
        to = msg.get("to") if isinstance(msg, dict) else None
        if not isinstance(to, str):
            return await ws.send(error("invalid_message", '"to" must be a string'))
        if to == "system":
            return await self.request(conn, members, msg)
        if "data" not in msg:
            return await ws.send(error("invalid_message", '"data" is missing'))
        out = encode({"from": conn.id, "to": to, "data": msg["data"]})
        if to == "all":
            broadcast([c.ws for c in members.values()], out)  # encoded once
        elif (target := members.get(to)) is not None:
            broadcast([target.ws], out)
        else:
            await ws.send(error("unknown_recipient", "no such connection", to=to))

    async def request(self, conn: Conn, members: dict[str, Conn], msg: dict) -> None:
        event, ws = msg.get("event"), conn.ws
        if event == "admin":
            key = msg.get("key")
            if not isinstance(key, str):
                return await ws.send(error("invalid_message", '"key" must be a string'))
            if not hmac.compare_digest(key.encode(), self.admin_key.encode()):
                return await ws.send(system(event="admin", status="failed", error="invalid key"))
            conn.status = "admin"
            if conn.timer is not None:
                conn.timer.cancel()
            return await ws.send(system(event="admin", status="success"))
        if event == "approved":
            target_id = msg.get("id")
            reply = {"from": "system", "event": "approved", "id": target_id, "status": "success"}
            target = members.get(target_id) if isinstance(target_id, str) else None
            if conn.status != "admin" or target is None:
                reply.update(
                    status="failed", error="not admin" if conn.status != "admin" else "unknown id"
                )
                return await ws.send(encode(reply))
            if target.status == "pending":
                target.status = "approved"
                if target.timer is not None:
                    target.timer.cancel()
            await ws.send(encode(reply))
            broadcast([target.ws], system(event="approved", id=target.id))
            return None
        await ws.send(error("unknown_event", "unknown event"))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--admin-key", required=True)
    parser.add_argument("--approval-timeout", type=float, default=60.0)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop (default: asyncio)")
    return parser.parse_args()


async def serve_relay(args: argparse.Namespace) -> None:
    relay = Relay(args.admin_key, args.approval_timeout)
    # No compression and no server pings: the relay under test negotiates neither.
    async with serve(
        relay.handler, args.host, args.port, compression=None, ping_interval=None, max_size=2**20
    ) as server:
        await server.serve_forever()


def main() -> None:
    args = parse_args()
    runner = asyncio.run
    if args.uvloop:
        import uvloop

        runner = uvloop.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(serve_relay(args))


if __name__ == "__main__":
    main()
