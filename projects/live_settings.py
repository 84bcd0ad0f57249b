"""What a live connection reads of its project: a read model of the project's settings.

The relay loads it once at connect and again when the project changes (`signals.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.conf import settings

from .models import Project
from .statuses import Policy

# The shape of a public id in a socket or API path (PROTOCOL.md §1).
PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass(frozen=True, slots=True)
class ProjectSettings:
    """What a connection needs of its project, read once at connect (and on change)."""

    public_id: str
    admin_key: str
    policy: Policy
    approval_timeout: float
    allowed_origins: tuple[str, ...]
    max_connections: int
    max_message_bytes: int
    rate_burst: int
    rate_per_second: int


async def load_project(public_id: str) -> ProjectSettings | None:
    if not PUBLIC_ID.fullmatch(public_id):
        return None
    return await _load_project(public_id)


@database_sync_to_async
def _load_project(public_id: str) -> ProjectSettings | None:
    project = Project.objects.filter(public_id=public_id, is_active=True).first()
    if project is None:
        return None
    override = settings.RELAY["APPROVAL_TIMEOUT_OVERRIDE"]
    return ProjectSettings(
        public_id=project.public_id,
        admin_key=project.admin_key,
        policy=Policy(project.pending_policy),
        approval_timeout=float(override or project.approval_timeout),
        allowed_origins=tuple(project.allowed_origins or ()),
        max_connections=project.max_connections,
        max_message_bytes=project.max_message_bytes,
        rate_burst=project.rate_burst,
        rate_per_second=project.rate_per_second,
    )
