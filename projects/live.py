"""What is live in a project right now, as the dashboard and the Django admin ask the relay.

The relay answers (`realtime.live`, `realtime.events`). It is imported when asked, never when
this module loads: `projects` does not import `realtime` at module level.
"""

from __future__ import annotations


def connections(public_id: str) -> list:
    """The project's live connections (registry entries), oldest first."""
    from realtime import live

    return live.connections(public_id)


def counts(public_id: str) -> dict[str, int]:
    """Connections now, by status, and their total."""
    from realtime import live

    return live.counts(public_id)


def messages(public_id: str) -> dict[str, int]:
    """Messages relayed in the last hour and day."""
    from realtime import live

    return live.messages(public_id)


def forget_webhook(public_id: str) -> None:
    """The relay reads the project's webhook endpoint again at its next event."""
    from realtime import events

    events.forget(public_id)
