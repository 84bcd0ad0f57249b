"""The one seam between protocol rules and how frames travel between connections.

Frames are encoded once here, whatever the number of recipients, and travel as ready text
through the process hubs (`hub.py`) over the channel layer. Swapping the layer or the fan-out
path means changing this module and the hub only.
"""

from __future__ import annotations

from . import protocol
from .hub import Hub, get_hub
from .registry import Entry


def project_group(public_id: str, role: str) -> str:
    """Group names: ASCII [A-Za-z0-9._-], under 100 characters; public ids are URL-safe."""
    return f"p.{public_id}.{role}"


def all_group(public_id: str) -> str:
    """Connections that receive broadcasts ("all")."""
    return project_group(public_id, "all")


def admins_group(public_id: str) -> str:
    return project_group(public_id, "admins")


def everyone_group(public_id: str) -> str:
    """Every live connection of the project, pending ones included (for control events)."""
    return project_group(public_id, "conns")


class Delivery:
    def __init__(self, hub: Hub | None = None) -> None:
        self.hub = hub or get_hub()

    async def broadcast(self, public_id: str, frame: dict) -> None:
        await self.hub.to_group(all_group(public_id), protocol.encode(frame))

    async def to_admins(self, public_id: str, frame: dict) -> None:
        await self.hub.to_group(admins_group(public_id), protocol.encode(frame))

    async def to_connection(self, entry: Entry, frame: dict) -> None:
        await self.hub.to_connection(entry.channel, entry.conn_id, protocol.encode(frame))

    async def left(self, public_id: str, conn_id: str) -> None:
        await self.to_admins(public_id, protocol.left_id_frame(conn_id))

    async def admit_to_broadcasts(self, public_id: str, entry: Entry) -> None:
        await self.hub.admit(entry.channel, all_group(public_id))

    async def approve(self, entry: Entry) -> None:
        await self.hub.approve(entry.channel, entry.conn_id)

    async def project_changed(self, public_id: str, change: str) -> None:
        await self.hub.project_changed(everyone_group(public_id), change)
