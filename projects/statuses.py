"""The names of a live connection's status and of a project's pending policy.

They belong to the project's settings and its dashboard as much as to the wire protocol;
`realtime.protocol` takes them from here, so `projects` needs no import of the relay.
"""

from enum import StrEnum


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    ADMIN = "admin"


class Policy(StrEnum):
    OPEN = "open"
    RESTRICTED = "restricted"
