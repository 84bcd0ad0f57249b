"""Which server processes are alive, with Redis: heartbeats, and sweeping the dead.

Each process renews a heartbeat key every second (`HEARTBEAT_TTL` seconds of life) from a
task on its event loop, so a process whose loop stalls stops beating. Every few seconds a
live process sweeps each process whose heartbeat expired: in one atomic step it forgets that
process's connections and marks it swept; then it drops that process's mailbox from the
layer groups and tells the admins of each project (`left_id`).

A process can come back from the dead (stopped, starved, or Redis restarted empty). Its beat
then finds its own sweep mark, or its heartbeat gone: its shared state is lost, so it closes
every socket with 1012 (clients reconnect at once) and starts again on a fresh mailbox.
Beat and sweep are each one Lua script, so a process is either swept or beating, never both.

The same task moves this process's message counts into Redis once a second (`stats.flush`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref

from redis.commands.core import AsyncScript

from . import metrics, stats
from .delivery import Delivery
from .hub import Hub, check_cancelled
from .registry import (
    SERVER_ID,
    SERVERS_KEY,
    RedisRegistry,
    _server_conns_key,
    _server_groups_key,
    _server_key,
    get_registry,
)

logger = logging.getLogger(__name__)

BEAT_EVERY = 1.0
HEARTBEAT_TTL = 15
SWEEP_EVERY = 5  # beats

_BEAT = """
local state = 'ok'
if redis.call('EXISTS', KEYS[2]) == 1 then
  state = 'swept'
  redis.call('DEL', KEYS[2])
elseif ARGV[3] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then
  state = 'lost'
end
redis.call('SET', KEYS[1], '1', 'EX', tonumber(ARGV[2]))
redis.call('SADD', KEYS[3], ARGV[1])
return state
"""

_SWEEP = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
if not redis.call('SET', KEYS[2], ARGV[2], 'NX', 'EX', 60) then return false end
local gone = {}
for _, member in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local sep = string.find(member, ' ', 1, true)
  local key = 'relay:p:' .. string.sub(member, 1, sep - 1) .. ':conns'
  if redis.call('HDEL', key, string.sub(member, sep + 1)) == 1 then
    table.insert(gone, member)
  end
end
local groups = redis.call('SMEMBERS', KEYS[5])
redis.call('DEL', KEYS[3], KEYS[5])
redis.call('SREM', KEYS[4], ARGV[1])
return {gone, groups}
"""


def _sweep_key(server: str) -> str:
    return f"relay:sweep:{server}"


class Liveness:
    """This process's heartbeat, and the sweeper of dead processes, on one event loop."""

    def __init__(self, hub: Hub, registry: RedisRegistry) -> None:
        self.hub = hub
        self.registry = registry
        self.beaten = False
        self.last_beat = 0.0
        self.recorded_groups: tuple[str | None, frozenset[str]] = (None, frozenset())
        self._beat = AsyncScript(None, _BEAT.encode())
        self._sweep = AsyncScript(None, _SWEEP.encode())
        self.started: asyncio.Future | None = None
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        await self.beat()
        self.task = asyncio.get_running_loop().create_task(self.run())

    async def beat(self) -> str:
        """Renew the heartbeat; "swept" or "lost" when this process's state was lost."""
        state = await self._beat(
            client=self.registry.client(),
            keys=[_server_key(SERVER_ID), _sweep_key(SERVER_ID), SERVERS_KEY],
            args=[SERVER_ID, HEARTBEAT_TTL, "1" if self.beaten else "0"],
        )
        state = state.decode() if isinstance(state, bytes) else state
        had_beaten, self.beaten = self.beaten, True
        self.last_beat = time.monotonic()
        # Before this hub's first beat it has registered nothing: nothing to lose.
        if state != "ok" and had_beaten:
            logger.warning("this process's shared state was %s: closing its sockets (1012)", state)
            self.recorded_groups = (None, frozenset())
            self.hub.server_lost()
        return state

    async def record_groups(self) -> None:
        """Keep Redis told of the layer groups this process is in, for whoever sweeps it."""
        current = (self.hub.channel, frozenset(self.hub.groups()))
        if current == self.recorded_groups or current[0] is None:
            return
        key = _server_groups_key(SERVER_ID)
        client = self.registry.client()
        async with client.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if current[1]:
                pipe.sadd(key, *(f"{group} {current[0]}" for group in current[1]))
            await pipe.execute()
        self.recorded_groups = current

    async def sweep_dead(self) -> list[tuple[str, str]]:
        """Forget every process whose heartbeat expired; tell their projects' admins."""
        gone: list[tuple[str, str]] = []
        for raw in await self.registry.client().smembers(SERVERS_KEY):
            server = raw.decode()
            if server == SERVER_ID:
                continue
            try:
                gone.extend(await self.sweep(server))
            except Exception as exc:
                check_cancelled()
                # One process that cannot be swept does not keep the others from it.
                logger.warning("could not sweep server %s (%r)", server, exc)
        return gone

    async def sweep(self, server: str) -> list[tuple[str, str]]:
        """Forget `server` if its heartbeat expired (and nobody swept it yet): its connections
        (returned as (public id, connection id)) and its mailbox's groups."""
        swept = await self._sweep(
            client=self.registry.client(),
            keys=[
                _server_key(server),
                _sweep_key(server),
                _server_conns_key(server),
                SERVERS_KEY,
                _server_groups_key(server),
            ],
            args=[server, SERVER_ID],
        )
        if not swept:
            return []
        connections, groups = swept
        for raw_group in groups:
            group, channel = raw_group.decode().split(" ", 1)
            # A channel name another kind of layer made (processes of one deployment share
            # one layer; a test database can hold both) has nothing to discard here.
            with contextlib.suppress(TypeError, ValueError):
                await self.hub.layer.group_discard(group, channel)
        lost = [tuple(member.decode().split(" ", 1)) for member in connections]
        delivery = Delivery(self.hub)
        for public_id, conn_id in lost:
            await delivery.left(public_id, conn_id)
        logger.info("forgot %d connections of dead server %s", len(lost), server)
        metrics.sweep(len(lost))
        return lost

    async def run(self) -> None:
        ticks = 0
        failing = False
        while True:
            await asyncio.sleep(BEAT_EVERY)
            ticks += 1
            metrics.heartbeat(time.monotonic() - self.last_beat)
            try:
                if await self.beat() == "ok" and failing:
                    # Redis is back with this process's state: what the layer lost meanwhile
                    # (pub/sub keeps nothing) is made good, as after a mailbox failure.
                    await self.hub.recover()
                failing = False
                await self.record_groups()
                if ticks % SWEEP_EVERY == 0:
                    await self.sweep_dead()
                await asyncio.to_thread(stats.flush, self.registry.sync_client())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                check_cancelled()
                failing = True
                logger.warning("liveness step failed (%r); trying again", exc)


_running: weakref.WeakKeyDictionary[Hub, Liveness] = weakref.WeakKeyDictionary()


async def watch(hub: Hub) -> None:
    """Start this hub's heartbeat (with Redis), once; returns after its first beat, so that
    no connection is registered for a process the others could take for dead."""
    registry = get_registry()
    if not isinstance(registry, RedisRegistry):
        return
    liveness = _running.get(hub)
    if liveness is None:
        liveness = _running[hub] = Liveness(hub, registry)
        liveness.started = asyncio.ensure_future(liveness.start())
    try:
        await asyncio.shield(liveness.started)
    except Exception:
        if _running.get(hub) is liveness:
            del _running[hub]  # the next connection tries again
        raise
