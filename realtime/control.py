"""Telling a project's live connections, from synchronous code, that the project changed.

`projects` sends `projects.signals.project_changed` once a change is committed; this module
listens (connected in `RealtimeConfig.ready`) and tells every server process through the
channel layer. A notice that cannot be sent is tried again; connections also read their
project again whenever their process's mailbox recovers from an outage.
"""

import logging
import time

from asgiref.sync import async_to_sync

from projects.signals import GONE, KEY_ROTATED, SETTINGS

from .delivery import Delivery

__all__ = ["GONE", "KEY_ROTATED", "SETTINGS", "on_project_changed", "project_changed"]

logger = logging.getLogger(__name__)
ATTEMPTS = 3
RETRY_AFTER = 0.5  # seconds, doubled after each failed attempt


async def _tell(public_id: str, change: str) -> None:
    await Delivery().project_changed(public_id, change)


def project_changed(public_id: str, change: str) -> None:
    wait = RETRY_AFTER
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async_to_sync(_tell)(public_id, change)
            return
        except Exception as exc:
            if attempt == ATTEMPTS:
                # The change itself is saved; live connections catch up when their
                # process's mailbox recovers, or when they reconnect.
                logger.error(
                    "could not tell live connections of %s about %s: %r", public_id, change, exc
                )
                return
            time.sleep(wait)
            wait *= 2


def on_project_changed(sender, public_id: str, change: str, **kwargs) -> None:
    project_changed(public_id, change)
