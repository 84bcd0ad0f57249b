"""One channel-layer mailbox per server process, fanned out to its sockets in memory.

Each process's hub is in one channel-layer group per project it serves (`project_group`),
joined before its first connection of that project gets its id and left a while after its
last one closed. Which of its connections a project message reaches (everyone, the
broadcast audience, the admins) is decided here, in memory: a connection's status changes
never touch the layer, and no process ever adds another process's channel to a group, which
the Redis pub/sub layer could not do. What a connection sends reaches the connections of its
own process at once, without the layer; a direct message or an approval for a connection on
another process goes to that process's mailbox, addressed by connection id, and a project
message to every process in the project's group (each skips its own). Each recipient hears a
sender by one path only, so what one sender sends reaches it in order.

Connections never block the hub: each has an outbox that it drains itself (`realtime.outbox`
in the consumer), and a connection whose outbox passes its limit is closed as too slow.

The mailbox survives its backing service: if the layer's `receive` raises (Redis restarted),
the hub waits, re-joins its groups and goes on, and its connections read their project again
in case a change notice was lost meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from channels.layers import get_channel_layer

from . import metrics

logger = logging.getLogger(__name__)

# Message types in a hub's mailbox.
PROJECT_TEXT = "hub.text"  # {"project", "audience", "text", "origin"}: to that audience
DIRECT_TEXT = "hub.direct"  # {"conn", "text"}: to one local connection
APPROVED = "hub.approved"  # {"conn", "reply"?, "token"?}: that connection was approved
ANSWER = "hub.answer"  # {"token"}: the APPROVED or BARRIER with that token was handled
BARRIER = "hub.barrier"  # {"token"}: everything sent here before it has been handled
PROJECT = "hub.project"  # {"project", "change"}: the project changed (key, settings, gone)

# Audiences of a project's connections on this process.
EVERYONE = "everyone"  # every live connection, pending ones included (control events)
BROADCASTS = "all"  # connections that receive broadcasts ("all")
ADMINS = "admins"

# A project nobody here has needed for this long is left at the layer too.
IDLE_GROUP_GRACE = 30.0
# How long an approval waits for the connection's process to say it took effect.
APPROVAL_ACK_TIMEOUT = 5.0
# How long one read of a project's settings serves this process's other connections of the
# project at most; a change heard from the layer ends it at once, so this only bounds what a
# change made without a notice (a process with no layer to tell it) can cost.
SETTINGS_TTL = 10.0
# Waits between attempts while the layer cannot be read.
RECEIVE_BACKOFF = (0.05, 0.2, 0.5, 1.0)


def check_cancelled() -> None:
    """Raise CancelledError if the current task is being cancelled.

    Call it where `except Exception` catches: a client library (redis-py) may turn the
    cancellation it received into an error of its own, and a loop that swallowed it would
    never end (a server shutting down waits for it).
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Member(Protocol):
    """What the hub needs of a connection (the consumer)."""

    public_id: str
    entry: Any  # its registry entry while registered (`Delivery.find` reads it), else None

    def enqueue(self, message: dict, size: int) -> None: ...
    def approved(self) -> None: ...
    def project_changed(self, change: str) -> None: ...
    def server_lost(self) -> None: ...


def project_group(public_id: str) -> str:
    """Group names: ASCII [A-Za-z0-9._-], under 100 characters; public ids are URL-safe."""
    return f"p.{public_id}"


class LocalProject:
    """One project's connections on this process, by audience, and its settings as last read."""

    __slots__ = ("audiences", "joined", "member_audiences", "settings", "settings_until")

    def __init__(self) -> None:
        self.audiences: dict[str, set[Member]] = {EVERYONE: set(), BROADCASTS: set(), ADMINS: set()}
        self.member_audiences: dict[Member, frozenset[str]] = {}
        self.joined: asyncio.Future | None = None  # the layer group, once joined
        self.settings: asyncio.Task | None = None  # the read the connections here share
        self.settings_until = 0.0  # loop time when that read is too old to share

    def forget_settings(self) -> None:
        self.settings = None


class Hub:
    def __init__(self, layer) -> None:
        self.layer = layer
        self.channel: str | None = None
        self.projects: dict[str, LocalProject] = {}
        self.connections: dict[str, Member] = {}
        self.acks: dict[str, asyncio.Future] = {}
        self._task: asyncio.Task | None = None
        self._starting = asyncio.Lock()

    async def start(self) -> str:
        async with self._starting:
            if self.channel is None:
                self.channel = await self.layer.new_channel("hub")
                self._task = asyncio.get_running_loop().create_task(self._run())
        return self.channel

    # --- Membership (per connection, never per message) -----------------------------------

    async def attach(self, member: Member, conn_id: str, public_id: str) -> str:
        """Make `conn_id` addressable here and let it hear its project's changes.

        Returns once this process is in the project's layer group (so that anything sent to
        the project from now on reaches it), with this hub's channel for the registry.
        """
        channel = await self.start()
        local = self.projects.get(public_id)
        if local is None:
            local = self.projects[public_id] = LocalProject()
        self.connections[conn_id] = member
        self.set_audiences(member, public_id, frozenset({EVERYONE}))
        try:
            await self._join(public_id, local)
        except BaseException:
            self.detach(member, conn_id, public_id)
            raise
        return channel

    def detach(self, member: Member, conn_id: str, public_id: str) -> None:
        self.connections.pop(conn_id, None)
        self.set_audiences(member, public_id, frozenset())

    def set_audiences(self, member: Member, public_id: str, audiences: frozenset[str]) -> None:
        """Put a connection in exactly these audiences of its project (in memory only)."""
        local = self.projects.get(public_id)
        if local is None:
            return
        before = local.member_audiences.get(member, frozenset())
        for audience in before - audiences:
            local.audiences[audience].discard(member)
        for audience in audiences - before:
            local.audiences[audience].add(member)
        if audiences:
            local.member_audiences[member] = audiences
        else:
            local.member_audiences.pop(member, None)
            if not local.member_audiences:
                asyncio.get_running_loop().call_later(
                    IDLE_GROUP_GRACE, lambda: self._spawn(self._drop_idle(public_id, local))
                )

    async def _join(self, public_id: str, local: LocalProject) -> None:
        # Concurrent connects of one project wait for the same group_add: none of them gets
        # its id before this process is in the group.
        if local.joined is None:
            local.joined = asyncio.get_running_loop().create_future()
            try:
                with metrics.layer_call("group_add"):
                    await self.layer.group_add(project_group(public_id), self.channel)
            except BaseException as exc:
                joined, local.joined = local.joined, None
                joined.set_exception(exc)
                joined.exception()  # retrieved: waiters get it re-raised below
                raise
            local.joined.set_result(None)
        await asyncio.shield(local.joined)

    async def _drop_idle(self, public_id: str, local: LocalProject) -> None:
        if self.projects.get(public_id) is not local or local.member_audiences:
            return
        del self.projects[public_id]
        if local.joined is not None and local.joined.done() and not local.joined.exception():
            await self.layer.group_discard(project_group(public_id), self.channel)

    async def project_settings(self, public_id: str, load: Callable[[str], Awaitable[Any]]):
        """The project's settings as `load(public_id)` reads them, one read shared by this
        process's connections of the project until a change to it is heard (`PROJECT`), the
        layer recovers, or SETTINGS_TTL passes.

        Only shared once this process is in the project's group: from then on every change
        committed after a read reaches it. A connection that hears a change while it reads
        reads again (the consumer's `stale`), so an answer in flight is never kept past one.
        """
        local = self.projects.get(public_id)
        if local is None or local.joined is None or not local.joined.done():
            return await load(public_id)
        loop = asyncio.get_running_loop()
        read = local.settings
        if read is None or loop.time() >= local.settings_until:
            read = local.settings = loop.create_task(load(public_id))
            local.settings_until = loop.time() + SETTINGS_TTL
            read.add_done_callback(lambda done: self._failed_read(local, done))
        return await asyncio.shield(read)

    @staticmethod
    def _failed_read(local: LocalProject, read: asyncio.Task) -> None:
        # A read that failed is not shared: the next connection tries again.
        failed = read.cancelled() or read.exception() is not None  # (retrieves it)
        if failed and local.settings is read:
            local.forget_settings()

    def groups(self) -> list[str]:
        """The layer groups this process is in (for the registry to clean up after it)."""
        return [project_group(public_id) for public_id in self.projects]

    # --- Sending (to this process's connections at once, to the others through the layer) --

    async def to_project(self, public_id: str, audience: str, text: str) -> None:
        message = {
            "type": PROJECT_TEXT,
            "project": public_id,
            "audience": audience,
            "text": text,
            "origin": self.channel,
        }
        with metrics.layer_call("group_send"):
            await self.layer.group_send(project_group(public_id), message)
        # Then this process's own connections, without waiting for the layer's copy (which
        # this hub skips: `origin`). Only once the other processes' copy is on its way: if the
        # layer failed, nothing was relayed (the sender gets `unavailable`).
        self._to_audience(public_id, audience, text)

    async def to_connection(self, channel: str, conn_id: str, text: str) -> None:
        member = self._local(channel, conn_id)
        if member is not None:
            return self._send_text(member, text)
        with metrics.layer_call("send"):
            await self.layer.send(channel, {"type": DIRECT_TEXT, "conn": conn_id, "text": text})

    async def approve(self, channel: str, conn_id: str, wait: bool) -> None:
        """Tell a connection's process it was approved; with `wait`, return once it has
        taken effect there (the connection is then in the broadcasts)."""
        member = self._local(channel, conn_id)
        if member is not None:
            return self._call(member.approved)
        message = {"type": APPROVED, "conn": conn_id}
        if wait:
            await self.start()
            await self._round_trip(channel, message)
        else:
            with metrics.layer_call("send"):
                await self.layer.send(channel, message)

    def _local(self, channel: str, conn_id: str) -> Member | None:
        """The connection, if it lives on this process: then it is reached without the layer.

        Everything a connection here sends to connections here goes this way, and everything
        it sends to other processes goes through the layer, so one sender's frames still reach
        each recipient in the order sent (PROTOCOL.md §3).
        """
        if channel != self.channel:
            return None
        return self.connections.get(conn_id)

    async def barrier(self) -> None:
        """Return once this mailbox has handled everything this process sent before.

        A connection that becomes admin joins the admins' audience after this, so that
        frames sent before (its own `new_id` among them) do not reach it as an admin.
        """
        await self.start()
        await self._round_trip(self.channel, {"type": BARRIER})

    async def _round_trip(self, channel: str, message: dict) -> None:
        """Send `message` to `channel`, and wait until its hub answers (ANSWER)."""
        token = uuid.uuid4().hex
        done = self.acks[token] = asyncio.get_running_loop().create_future()
        try:
            with metrics.layer_call("send"):
                await self.layer.send(channel, {**message, "reply": self.channel, "token": token})
            await asyncio.wait_for(done, APPROVAL_ACK_TIMEOUT)
        except TimeoutError:
            logger.warning("%s to %s not answered in time", message["type"], channel)
        finally:
            self.acks.pop(token, None)

    async def project_changed(self, public_id: str, change: str) -> None:
        message = {"type": PROJECT, "project": public_id, "change": change}
        with metrics.layer_call("group_send"):
            await self.layer.group_send(project_group(public_id), message)

    # --- The mailbox ----------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                check_cancelled()
                metrics.layer_failure("receive")
                wait = RECEIVE_BACKOFF[min(failures, len(RECEIVE_BACKOFF) - 1)]
                if not failures:
                    logger.warning("hub mailbox unreadable (%s); retrying", exc)
                failures += 1
                await asyncio.sleep(wait)
                continue
            if failures:
                failures = 0
                logger.warning("hub mailbox readable again")
                # What was sent to it meanwhile may be lost (pub/sub keeps nothing).
                metrics.layer_drop("mailbox_reconnect")
                self._spawn(self.recover())
            self.handle(message)

    async def recover(self) -> None:
        """After the layer failed: be in every group again (the layer may have forgotten),
        and let connections read their project again (a change notice may be lost)."""
        for public_id, local in list(self.projects.items()):
            if local.joined is not None and local.joined.done():
                await self.layer.group_add(project_group(public_id), self.channel)
        # Once back in the groups: a read shared until now may predate a lost change, and
        # whoever read it is told below.
        for local in list(self.projects.values()):
            local.forget_settings()
            for member in tuple(local.audiences[EVERYONE]):
                self._call(member.project_changed, "settings")

    def handle(self, message: dict) -> None:
        kind = message.get("type")
        if kind == PROJECT_TEXT:
            if message.get("origin") != self.channel:  # its own were delivered when sent
                self._to_audience(message["project"], message["audience"], message["text"])
        elif kind == DIRECT_TEXT:
            member = self.connections.get(message["conn"])
            if member is not None:
                self._send_text(member, message["text"])
        elif kind == APPROVED:
            member = self.connections.get(message["conn"])
            if member is not None:
                self._call(member.approved)
            self._answer(message)
        elif kind == BARRIER:
            self._answer(message)
        elif kind == ANSWER:
            done = self.acks.get(message["token"])
            if done is not None and not done.done():
                done.set_result(None)
        elif kind == PROJECT:
            local = self.projects.get(message["project"])
            if local is not None:
                local.forget_settings()
            for member in tuple(local.audiences[EVERYONE]) if local else ():
                self._call(member.project_changed, message["change"])

    def _to_audience(self, public_id: str, audience: str, text: str) -> None:
        local = self.projects.get(public_id)
        if local is None:
            return
        # One ASGI message for every recipient: servers only read it.
        send, size = {"type": "websocket.send", "text": text}, len(text)
        for member in tuple(local.audiences.get(audience, ())):
            self._call(member.enqueue, send, size)

    def _send_text(self, member: Member, text: str) -> None:
        self._call(member.enqueue, {"type": "websocket.send", "text": text}, len(text))

    def _answer(self, message: dict) -> None:
        if message.get("reply"):
            ack = {"type": ANSWER, "token": message["token"]}
            self._spawn(self.layer.send(message["reply"], ack))

    def server_lost(self) -> None:
        """This process's shared state is gone (swept as dead, or Redis lost its data):
        close every connection with 1012, and start again on a new mailbox.

        The old mailbox may still be named in groups (another process may be discarding it
        from them right now); the new one joins each group afresh when a connection needs it.
        """
        for member in tuple(self.connections.values()):
            self._call(member.server_lost)
        old_channel, task = self.channel, self._task
        self.channel, self._task = None, None
        if task is not None:
            task.cancel()
        for public_id, local in self.projects.items():
            if local.joined is not None and local.joined.done():
                self._spawn(self.layer.group_discard(project_group(public_id), old_channel))
            local.joined = None
            local.forget_settings()

    @staticmethod
    def _call(function: Callable, *args) -> None:
        # One connection's failure never stops a message from reaching the others.
        try:
            function(*args)
        except Exception:
            logger.exception("hub could not hand a message to a connection")

    def _spawn(self, coroutine) -> None:
        asyncio.get_running_loop().create_task(_logged(coroutine))


async def _logged(coroutine) -> None:
    try:
        await coroutine
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        check_cancelled()
        logger.warning("hub background step failed: %s", exc)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    """This process's hub (one per event loop and channel layer)."""
    loop = asyncio.get_running_loop()
    layer = get_channel_layer()
    hub = _hubs.get(loop)
    if hub is None or hub.layer is not layer:
        hub = _hubs[loop] = Hub(layer)
    return hub


def running_hubs() -> list[Hub]:
    return list(_hubs.values())
