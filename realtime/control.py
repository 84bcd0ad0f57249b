"""Telling a project's live connections, from synchronous code, that the project changed."""

import logging

from asgiref.sync import async_to_sync

from .delivery import Delivery

logger = logging.getLogger(__name__)

KEY_ROTATED = "key_rotated"  # admins of the old key are closed with 4003
GONE = "gone"  # disabled or deleted: everyone is closed with 4004
SETTINGS = "settings"  # settings changed: connections read them again


async def _tell(public_id: str, change: str) -> None:
    await Delivery().project_changed(public_id, change)


def project_changed(public_id: str, change: str) -> None:
    try:
        async_to_sync(_tell)(public_id, change)
    except Exception:
        # The change itself is saved; live connections catch up when they reconnect.
        logger.exception("could not tell live connections of %s about %s", public_id, change)
