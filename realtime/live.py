"""What is live in a project right now, for synchronous code: dashboards and the Django admin."""

from __future__ import annotations

from asgiref.sync import async_to_sync

from . import stats
from .protocol import Status
from .registry import Entry, RedisRegistry, get_registry


def connections(public_id: str) -> list[Entry]:
    registry = get_registry()
    if isinstance(registry, RedisRegistry):
        entries = registry.entries_now(public_id)
    else:
        entries = async_to_sync(registry.entries)(public_id)
    return sorted(entries, key=lambda e: (e.connected_at, e.conn_id))


def counts(public_id: str) -> dict[str, int]:
    """Connections now, by status, and their total."""
    result = {str(status): 0 for status in Status}
    for entry in connections(public_id):
        result[str(entry.status)] += 1
    result["total"] = sum(result.values())
    return result


def messages(public_id: str) -> dict[str, int]:
    """Messages relayed in the last hour and day."""
    registry = get_registry()
    client = registry.sync_client() if isinstance(registry, RedisRegistry) else None
    return stats.totals(public_id, client)
