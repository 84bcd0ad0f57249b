"""Who is connected, shared by every server process of the service.

The registry answers "is this id connected in this project, with what status and on which
channel?", counts connections against a project's limit and lists them for admins. With
REDIS_URL set it lives in Redis, shared by every process (`liveness.py` keeps each process's
heartbeat and forgets the connections of dead ones); without Redis it is a dict in this one
process. The admin-key failures per address are `admin_limit.py`'s.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
import weakref
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import redis.asyncio as aioredis
from django.conf import settings
from redis.commands.core import AsyncScript

from .protocol import Status

logger = logging.getLogger(__name__)

# One id per server process: registry entries name the process that holds the socket.
SERVER_ID = uuid.uuid4().hex
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
    async def remove(self, project: str, conn_id: str) -> bool: ...
    async def get(self, project: str, conn_id: str) -> Entry | None: ...
    async def promote(self, project: str, conn_id: str, status: Status) -> Entry | None: ...
    async def entries(self, project: str) -> list[Entry]: ...


def _promoted(current: Status, wanted: Status) -> Status:
    """Approval lifts only a pending connection; becoming admin lifts anyone."""
    if wanted == Status.ADMIN or current == Status.PENDING:
        return wanted
    return current


class MemoryRegistry:
    """The registry of a single process (the embedded default)."""

    def __init__(self) -> None:
        self._projects: dict[str, dict[str, Entry]] = defaultdict(dict)

    async def add(self, project: str, entry: Entry, limit: int) -> bool:
        conns = self._projects[project]
        if len(conns) >= limit:
            return False
        conns[entry.conn_id] = entry
        return True

    async def remove(self, project: str, conn_id: str) -> bool:
        """Forget a connection; False when it was not (or no longer) registered."""
        conns = self._projects.get(project)
        if conns is None:
            return False
        removed = conns.pop(conn_id, None) is not None
        if not conns:
            del self._projects[project]
        return removed

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
        self._sync = None

    def client(self) -> aioredis.Redis:
        # redis.asyncio clients belong to the event loop that made them.
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            # A burst of connections waits for a pooled connection instead of failing.
            pool = aioredis.BlockingConnectionPool.from_url(
                self.url, max_connections=POOL_SIZE, timeout=POOL_WAIT, **settings.REDIS_RETRY
            )
            client = self._clients[loop] = aioredis.Redis(connection_pool=pool)
        return client

    async def add(self, project: str, entry: Entry, limit: int) -> bool:
        client = self.client()
        value = json.dumps([entry.channel, str(entry.status), entry.connected_at, SERVER_ID])
        added = await self._add(
            client=client,
            keys=[_conns_key(project), _server_conns_key(SERVER_ID), SERVERS_KEY],
            args=[entry.conn_id, value, limit, f"{project} {entry.conn_id}", SERVER_ID],
        )
        return bool(added)

    async def remove(self, project: str, conn_id: str) -> bool:
        """Forget a connection; False when it was not (or no longer) registered."""
        client = self.client()
        async with client.pipeline(transaction=True) as pipe:
            pipe.hdel(_conns_key(project), conn_id)
            pipe.srem(_server_conns_key(SERVER_ID), f"{project} {conn_id}")
            removed, _ = await pipe.execute()
        return bool(removed)

    async def get(self, project: str, conn_id: str) -> Entry | None:
        raw = await self.client().hget(_conns_key(project), conn_id)
        return None if raw is None else _decode(conn_id, raw)

    async def promote(self, project: str, conn_id: str, status: Status) -> Entry | None:
        client = self.client()
        raw = await self._promote(
            client=client, keys=[_conns_key(project)], args=[conn_id, str(status)]
        )
        return None if raw is None else _decode(conn_id, raw)

    async def entries(self, project: str) -> list[Entry]:
        raw = await self.client().hgetall(_conns_key(project))
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


_registry: Registry | None = None


def get_registry() -> Registry:
    global _registry
    if _registry is None:
        url = settings.REDIS_URL
        _registry = RedisRegistry(url) if url else MemoryRegistry()
    return _registry
