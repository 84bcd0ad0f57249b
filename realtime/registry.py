"""Who is connected, shared by every server process of the service.

The registry answers "is this id connected in this project, with what status and on which
channel?", counts connections against a project's limit, lists them for admins, and keeps the
per-address admin-key failures. With REDIS_URL set it lives in Redis and each process keeps a
heartbeat; a process that dies stops beating, and the others forget its connections and tell
the admins (`left_id`). Without Redis it is a dict in this one process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
import weakref
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import redis.asyncio as aioredis
from django.conf import settings
from redis.commands.core import AsyncScript

from . import metrics, stats
from .protocol import ADMIN_FAILURE_WINDOW, Status

logger = logging.getLogger(__name__)

# One id per server process: registry entries name the process that holds the socket.
SERVER_ID = uuid.uuid4().hex
HEARTBEAT_EVERY = 5.0
HEARTBEAT_TTL = 15
POOL_SIZE = 64
POOL_WAIT = 20.0


@dataclass(frozen=True, slots=True)
class Entry:
    conn_id: str
    channel: str
    status: Status
    connected_at: str  # ISO 8601, UTC, with Z

    def public(self) -> dict:
        return {"id": self.conn_id, "status": str(self.status), "connected_at": self.connected_at}


def utc_now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Registry(Protocol):
    async def add(self, project: str, entry: Entry, limit: int) -> bool: ...
    async def remove(self, project: str, conn_id: str) -> None: ...
    async def get(self, project: str, conn_id: str) -> Entry | None: ...
    async def promote(self, project: str, conn_id: str, status: Status) -> Entry | None: ...
    async def entries(self, project: str) -> list[Entry]: ...
    async def admin_failures(self, project: str, address: str) -> int: ...
    async def add_admin_failure(self, project: str, address: str) -> None: ...
    async def hub_joined(self, channel: str, group: str) -> None: ...


def _promoted(current: Status, wanted: Status) -> Status:
    """Approval lifts only a pending connection; becoming admin lifts anyone."""
    if wanted == Status.ADMIN or current == Status.PENDING:
        return wanted
    return current


class MemoryRegistry:
    """The registry of a single process (the embedded default)."""

    def __init__(self) -> None:
        self._projects: dict[str, dict[str, Entry]] = defaultdict(dict)
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    async def add(self, project: str, entry: Entry, limit: int) -> bool:
        conns = self._projects[project]
        if len(conns) >= limit:
            return False
        conns[entry.conn_id] = entry
        return True

    async def remove(self, project: str, conn_id: str) -> None:
        conns = self._projects.get(project)
        if conns is not None:
            conns.pop(conn_id, None)
            if not conns:
                del self._projects[project]

    async def get(self, project: str, conn_id: str) -> Entry | None:
        return self._projects.get(project, {}).get(conn_id)

    async def promote(self, project: str, conn_id: str, status: Status) -> Entry | None:
        entry = await self.get(project, conn_id)
        if entry is None:
            return None
        entry = Entry(
            entry.conn_id, entry.channel, _promoted(entry.status, status), entry.connected_at
        )
        self._projects[project][conn_id] = entry
        return entry

    async def entries(self, project: str) -> list[Entry]:
        return list(self._projects.get(project, {}).values())

    def _window(self, project: str, address: str) -> deque[float]:
        times = self._failures[(project, address)]
        cutoff = time.monotonic() - ADMIN_FAILURE_WINDOW
        while times and times[0] <= cutoff:
            times.popleft()
        return times

    async def admin_failures(self, project: str, address: str) -> int:
        return len(self._window(project, address))

    async def hub_joined(self, channel: str, group: str) -> None:
        """One process: nothing outlives it, nothing to remember."""

    async def add_admin_failure(self, project: str, address: str) -> None:
        self._window(project, address).append(time.monotonic())


_ADD = """
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('SADD', KEYS[3], ARGV[5])
return 1
"""

_PROMOTE = """
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return false end
local e = cjson.decode(v)
if ARGV[2] == 'admin' or e[2] == 'pending' then
  e[2] = ARGV[2]
  v = cjson.encode(e)
  redis.call('HSET', KEYS[1], ARGV[1], v)
end
return v
"""


def _conns_key(project: str) -> str:
    return f"relay:p:{project}:conns"


def _server_key(server: str) -> str:
    return f"relay:server:{server}"


def _server_conns_key(server: str) -> str:
    return f"relay:server:{server}:conns"


def _server_groups_key(server: str) -> str:
    return f"relay:server:{server}:groups"


SERVERS_KEY = "relay:servers"


def _decode(conn_id: str, raw: bytes | str) -> Entry:
    channel, status, connected_at, _server = json.loads(raw)
    return Entry(conn_id, channel, Status(status), connected_at)


class RedisRegistry:
    """The registry shared by every server process through Redis."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = (
            weakref.WeakKeyDictionary()
        )
        # Scripts are called with each loop's client; bytes need no client to hash.
        self._add = AsyncScript(None, _ADD.encode())
        self._promote = AsyncScript(None, _PROMOTE.encode())
        self._lock = threading.Lock()
        self._heart: threading.Thread | None = None
        self._sync = None

    def _client(self) -> aioredis.Redis:
        # redis.asyncio clients belong to the event loop that made them.
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            # A burst of connections waits for a pooled connection instead of failing.
            pool = aioredis.BlockingConnectionPool.from_url(
                self.url, max_connections=POOL_SIZE, timeout=POOL_WAIT
            )
            client = self._clients[loop] = aioredis.Redis(connection_pool=pool)
        return client

    def _start_heartbeat(self) -> None:
        with self._lock:
            if self._heart is None or not self._heart.is_alive():
                self._heart = threading.Thread(
                    target=_heartbeat_loop, args=(self.url,), name="relay-heartbeat", daemon=True
                )
                self._heart.start()

    async def add(self, project: str, entry: Entry, limit: int) -> bool:
        self._start_heartbeat()
        client = self._client()
        value = json.dumps([entry.channel, str(entry.status), entry.connected_at, SERVER_ID])
        await client.set(_server_key(SERVER_ID), "1", ex=HEARTBEAT_TTL)
        added = await self._add(
            client=client,
            keys=[_conns_key(project), _server_conns_key(SERVER_ID), SERVERS_KEY],
            args=[entry.conn_id, value, limit, f"{project} {entry.conn_id}", SERVER_ID],
        )
        return bool(added)

    async def remove(self, project: str, conn_id: str) -> None:
        client = self._client()
        async with client.pipeline(transaction=True) as pipe:
            pipe.hdel(_conns_key(project), conn_id)
            pipe.srem(_server_conns_key(SERVER_ID), f"{project} {conn_id}")
            await pipe.execute()

    async def get(self, project: str, conn_id: str) -> Entry | None:
        raw = await self._client().hget(_conns_key(project), conn_id)
        return None if raw is None else _decode(conn_id, raw)

    async def promote(self, project: str, conn_id: str, status: Status) -> Entry | None:
        client = self._client()
        raw = await self._promote(
            client=client, keys=[_conns_key(project)], args=[conn_id, str(status)]
        )
        return None if raw is None else _decode(conn_id, raw)

    async def entries(self, project: str) -> list[Entry]:
        raw = await self._client().hgetall(_conns_key(project))
        return [_decode(k.decode(), v) for k, v in raw.items()]

    def entries_now(self, project: str) -> list[Entry]:
        """The same as `entries`, for synchronous code (dashboards, the Django admin)."""
        raw = self.sync_client().hgetall(_conns_key(project))
        return [_decode(k.decode(), v) for k, v in raw.items()]

    def sync_client(self):
        import redis

        if self._sync is None:
            self._sync = redis.Redis.from_url(self.url)
        return self._sync

    async def hub_joined(self, channel: str, group: str) -> None:
        """Remember the groups this process's hub joined, to leave them if it dies."""
        await self._client().sadd(_server_groups_key(SERVER_ID), f"{group} {channel}")

    async def admin_failures(self, project: str, address: str) -> int:
        client = self._client()
        key = f"relay:fail:{project}:{address}"
        async with client.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", time.time() - ADMIN_FAILURE_WINDOW)
            pipe.zcard(key)
            _, count = await pipe.execute()
        return count

    async def add_admin_failure(self, project: str, address: str) -> None:
        client = self._client()
        key = f"relay:fail:{project}:{address}"
        async with client.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {uuid.uuid4().hex: time.time()})
            pipe.expire(key, int(ADMIN_FAILURE_WINDOW) + 1)
            await pipe.execute()


def _heartbeat_loop(url: str) -> None:
    """Keep this process's heartbeat, flush its message counts, forget dead processes."""
    import redis

    client = redis.Redis.from_url(url)
    ticks = 0
    renewed = time.monotonic()
    while True:
        try:
            stats.flush(client)
            if ticks % int(HEARTBEAT_EVERY) == 0:
                client.set(_server_key(SERVER_ID), "1", ex=HEARTBEAT_TTL)
                renewed = time.monotonic()
                for raw in client.smembers(SERVERS_KEY):
                    server = raw.decode()
                    if server != SERVER_ID and not client.exists(_server_key(server)):
                        forget_server(client, server)
        except Exception:
            logger.exception("registry heartbeat failed; trying again")
        metrics.heartbeat(time.monotonic() - renewed)
        ticks += 1
        time.sleep(1)


def forget_server(client, server: str) -> list[tuple[str, str]]:
    """Drop a dead process's connections and groups, and tell each project's admins."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from .delivery import Delivery

    # Only one live process sweeps a dead one.
    if not client.set(f"relay:sweep:{server}", SERVER_ID, nx=True, ex=60):
        return []
    gone = []
    for raw in client.smembers(_server_conns_key(server)):
        project, conn_id = raw.decode().split(" ", 1)
        if client.hdel(_conns_key(project), conn_id):
            gone.append((project, conn_id))
    layer = get_channel_layer()
    for raw in client.smembers(_server_groups_key(server)):
        group, channel = raw.decode().split(" ", 1)
        async_to_sync(layer.group_discard)(group, channel)
    client.delete(_server_conns_key(server), _server_groups_key(server))
    client.srem(SERVERS_KEY, server)
    metrics.sweep(len(gone))

    async def tell_admins() -> None:
        delivery = Delivery()
        for project, conn_id in gone:
            await delivery.left(project, conn_id)

    async_to_sync(tell_admins)()
    if gone:
        logger.info("forgot %d connections of dead server %s", len(gone), server)
    return gone


_registry: Registry | None = None


def get_registry() -> Registry:
    global _registry
    if _registry is None:
        url = settings.REDIS_URL
        _registry = RedisRegistry(url) if url else MemoryRegistry()
    return _registry
