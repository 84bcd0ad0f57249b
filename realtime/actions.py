"""Relay actions shared by the WebSocket consumer and the HTTP API (PROTOCOL.md §3, §6, §8).

Each action works on whichever process the connections are, through the registry and the
hubs (`delivery`: the caller's, when it keeps one; this process's otherwise). Callers have
already checked what only they can check (the sender is an admin, the frame's shape) and send
their own replies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import protocol, stats
from .delivery import Delivery
from .protocol import Policy, Refusal, Status
from .registry import Entry, get_registry


async def approve(
    public_id: str,
    policy: Policy,
    target: Any,
    reply: Callable[[], None] | None = None,
    delivery: Delivery | None = None,
) -> Entry | None:
    """§6 for an admin: approve `target`. None when no such connection is in the project.

    `reply` (the caller's "success") is called at the moment §6 allows: under the restricted
    policy once the connection is in the broadcasts on its own process, otherwise at once,
    before the connection is told (which cancels its approval timeout).
    """
    entry = None
    if protocol.is_connection_id(target):
        entry = await get_registry().promote(public_id, target, Status.APPROVED)
    if entry is None:
        return None
    delivery = delivery or Delivery()
    if policy == Policy.RESTRICTED:
        await delivery.approve(entry, wait=True)
        if reply is not None:
            reply()
    else:
        if reply is not None:
            reply()
        await delivery.approve(entry, wait=False)
    return entry


async def send_message(
    public_id: str,
    policy: Policy,
    sender: str,
    sender_status: Status,
    to: str,
    data: Any,
    delivery: Delivery | None = None,
) -> Refusal | None:
    """§3: deliver {"from": sender, "to": to, "data": data} to everyone or to one connection.

    Returns the refusal (unknown_recipient, not_approved) or None when it was delivered.
    """
    frame = protocol.message_frame(sender, to, data)
    delivery = delivery or Delivery()
    if to == "all":
        await delivery.broadcast(public_id, frame)
    else:
        entry = None
        if protocol.is_connection_id(to):
            entry = await delivery.find(public_id, to)
        refused = protocol.can_address(to, sender_status, entry and entry.status, policy)
        if refused is not None:
            return refused
        await delivery.to_connection(entry, frame)
    stats.record(public_id)
    return None


async def list_connections(public_id: str) -> list[dict]:
    """§8: the project's live connections, oldest first."""
    entries = await get_registry().entries(public_id)
    entries.sort(key=lambda e: (e.connected_at, e.conn_id))
    return [e.public() for e in entries]
