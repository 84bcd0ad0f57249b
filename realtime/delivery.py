"""The one seam between protocol rules and how frames travel between connections.

Frames are encoded once here, whatever the number of recipients, and travel as ready text
through the process hubs (`hub.py`) over the channel layer. Swapping the layer or the fan-out
path means changing this module and the hub only.
"""

from __future__ import annotations

from . import protocol
from .hub import ADMINS, BROADCASTS, Hub, get_hub
from .registry import Entry, get_registry


class Delivery:
    def __init__(self, hub: Hub | None = None) -> None:
        self.hub = hub or get_hub()

    async def broadcast(self, public_id: str, frame: dict) -> None:
        await self.hub.to_project(public_id, BROADCASTS, protocol.encode(frame))

    async def to_admins(self, public_id: str, frame: dict) -> None:
        await self.hub.to_project(public_id, ADMINS, protocol.encode(frame))

    async def find(self, public_id: str, conn_id: str) -> Entry | None:
        """The connection's registry entry; one on this process is known without a read."""
        member = self.hub.connections.get(conn_id)
        entry = None if member is None else member.entry
        if entry is not None and member.public_id == public_id:
            return entry
        return await get_registry().get(public_id, conn_id)

    async def to_connection(self, entry: Entry, frame: dict) -> None:
        await self.hub.to_connection(entry.channel, entry.conn_id, protocol.encode(frame))

    async def left(self, public_id: str, conn_id: str) -> None:
        await self.to_admins(public_id, protocol.left_id_frame(conn_id))

    async def approve(self, entry: Entry, wait: bool) -> None:
        """Tell the connection it was approved; with `wait`, return only once that has taken
        effect on its process (it is then in the broadcasts)."""
        await self.hub.approve(entry.channel, entry.conn_id, wait=wait)

    async def project_changed(self, public_id: str, change: str) -> None:
        await self.hub.project_changed(public_id, change)
