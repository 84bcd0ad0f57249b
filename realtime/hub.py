"""One channel-layer mailbox per server process, fanned out to its sockets in memory.

A broadcast to a project is one channel-layer message per server process (the group's members
are processes, not sockets), and each process hands the ready text to its own connections of
that project. A direct message goes to the recipient's process, addressed by connection id.
Both travel through the same mailbox, so what one sender sends reaches a recipient in order.

Connections never block the hub: each has an outbox that it drains itself (see the
consumer's `enqueue`), and a connection whose outbox passes its limit is closed as too slow.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import defaultdict
from typing import Protocol

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

# Message types in a hub's mailbox.
GROUP_TEXT = "hub.group"  # {"group", "text"}: to every local member of the group
DIRECT_TEXT = "hub.direct"  # {"conn", "text"}: to one local connection
APPROVED = "hub.approved"  # {"conn"}: that connection was approved
PROJECT = "hub.project"  # {"group", "change"}: the project changed (key, settings, gone)

# A group nobody here has needed for this long is left at the layer too.
IDLE_GROUP_GRACE = 30.0


class Member(Protocol):
    """What the hub needs of a connection (the consumer)."""

    conn_id: str | None

    def enqueue(self, message: dict, size: int) -> None: ...
    def approved(self) -> None: ...
    def project_changed(self, change: str) -> None: ...


class Hub:
    def __init__(self, layer) -> None:
        self.layer = layer
        self.channel: str | None = None
        self.members: dict[str, set[Member]] = defaultdict(set)
        self.connections: dict[str, Member] = {}
        self.layer_groups: set[str] = set()
        self._task: asyncio.Task | None = None
        self._starting = asyncio.Lock()

    async def start(self) -> str:
        async with self._starting:
            if self.channel is None:
                self.channel = await self.layer.new_channel("hub")
                self._task = asyncio.get_running_loop().create_task(self._run())
        return self.channel

    # --- Membership (per connection, never per message) -----------------------------------

    async def attach(self, member: Member, conn_id: str) -> str:
        """Make `conn_id` addressable here; returns this hub's channel for the registry."""
        channel = await self.start()
        self.connections[conn_id] = member
        return channel

    def detach(self, conn_id: str) -> None:
        self.connections.pop(conn_id, None)

    async def join(self, group: str, member: Member) -> None:
        self.members[group].add(member)
        await self._ensure_layer_group(group)

    def join_now(self, group: str, member: Member) -> None:
        """Join without waiting: the layer already counts this process in (see `approve`)."""
        self.members[group].add(member)
        if group not in self.layer_groups:
            asyncio.get_running_loop().create_task(self._ensure_layer_group(group))

    def leave(self, group: str, member: Member) -> None:
        members = self.members.get(group)
        if members is None:
            return
        members.discard(member)
        if not members:
            del self.members[group]
            asyncio.get_running_loop().call_later(
                IDLE_GROUP_GRACE, lambda: asyncio.ensure_future(self._drop_idle_group(group))
            )

    async def _ensure_layer_group(self, group: str) -> None:
        if group not in self.layer_groups:
            self.layer_groups.add(group)
            await self.layer.group_add(group, self.channel)
            from .registry import get_registry

            await get_registry().hub_joined(self.channel, group)

    async def _drop_idle_group(self, group: str) -> None:
        if group in self.members or group not in self.layer_groups:
            return
        self.layer_groups.discard(group)
        await self.layer.group_discard(group, self.channel)
        if group in self.members:  # someone joined meanwhile
            await self._ensure_layer_group(group)

    # --- Sending (through the layer, so that everything arrives in order) -----------------

    async def to_group(self, group: str, text: str) -> None:
        await self.layer.group_send(group, {"type": GROUP_TEXT, "group": group, "text": text})

    async def to_connection(self, channel: str, conn_id: str, text: str) -> None:
        await self.layer.send(channel, {"type": DIRECT_TEXT, "conn": conn_id, "text": text})

    async def admit(self, channel: str, group: str) -> None:
        """Put another process's hub in a group now, ahead of its connection's approval.

        A pub/sub layer subscribes only its own process (it raises RuntimeError for another
        process's channel): there the connection's hub joins when it handles the approval.
        """
        try:
            await self.layer.group_add(group, channel)
        except RuntimeError:
            logger.debug("%s joins %s when it handles the approval", channel, group)

    async def approve(self, channel: str, conn_id: str) -> None:
        await self.layer.send(channel, {"type": APPROVED, "conn": conn_id})

    async def project_changed(self, group: str, change: str) -> None:
        await self.layer.group_send(group, {"type": PROJECT, "group": group, "change": change})

    # --- The mailbox ----------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            message = await self.layer.receive(self.channel)
            try:
                self.handle(message)
            except Exception:
                logger.exception("hub could not handle %s", message.get("type"))

    def handle(self, message: dict) -> None:
        kind = message["type"]
        if kind == GROUP_TEXT:
            # One ASGI message for every recipient: servers only read it.
            text = message["text"]
            send, size = {"type": "websocket.send", "text": text}, len(text)
            for member in tuple(self.members.get(message["group"], ())):
                member.enqueue(send, size)
        elif kind == DIRECT_TEXT:
            member = self.connections.get(message["conn"])
            if member is not None:
                text = message["text"]
                member.enqueue({"type": "websocket.send", "text": text}, len(text))
        elif kind == APPROVED:
            member = self.connections.get(message["conn"])
            if member is not None:
                member.approved()
        elif kind == PROJECT:
            for member in tuple(self.members.get(message["group"], ())):
                member.project_changed(message["change"])


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    """This process's hub (one per event loop and channel layer)."""
    loop = asyncio.get_running_loop()
    layer = get_channel_layer()
    hub = _hubs.get(loop)
    if hub is None or hub.layer is not layer:
        hub = _hubs[loop] = Hub(layer)
    return hub
