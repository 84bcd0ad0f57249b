"""The one seam between protocol rules and the channel layer.

Everything the relay sends between connections goes through `Delivery`: frames are encoded
once here, whatever the number of recipients, and travel as ready text. Swapping the layer or
the fan-out path means changing this module only.
"""

from __future__ import annotations

from channels.layers import get_channel_layer

from . import protocol

# Event types, each handled by the consumer method of the same name with "." -> "_".
TEXT = "relay.text"  # {"text": str}: send as is
APPROVED = "relay.approved"  # the connection was approved by an admin
PROJECT = "relay.project"  # {"change": "key_rotated" | "gone" | "settings"}


def project_group(public_id: str, role: str) -> str:
    """Group names: ASCII [A-Za-z0-9._-], under 100 characters; public ids are URL-safe."""
    return f"p.{public_id}.{role}"


def all_group(public_id: str) -> str:
    return project_group(public_id, "all")


def admins_group(public_id: str) -> str:
    return project_group(public_id, "admins")


def everyone_group(public_id: str) -> str:
    """Every live connection of the project, pending ones included (for control events)."""
    return project_group(public_id, "conns")


class Delivery:
    def __init__(self, layer=None) -> None:
        self.layer = layer or get_channel_layer()

    async def to_group(self, group: str, frame: dict) -> None:
        await self.layer.group_send(group, {"type": TEXT, "text": protocol.encode(frame)})

    async def to_channel(self, channel: str, frame: dict) -> None:
        await self.layer.send(channel, {"type": TEXT, "text": protocol.encode(frame)})

    async def broadcast(self, public_id: str, frame: dict) -> None:
        await self.to_group(all_group(public_id), frame)

    async def to_admins(self, public_id: str, frame: dict) -> None:
        await self.to_group(admins_group(public_id), frame)

    async def left(self, public_id: str, conn_id: str) -> None:
        await self.to_admins(public_id, protocol.left_id_frame(conn_id))

    async def approve(self, channel: str) -> None:
        await self.layer.send(channel, {"type": APPROVED})

    async def project_changed(self, public_id: str, change: str) -> None:
        await self.layer.group_send(everyone_group(public_id), {"type": PROJECT, "change": change})
