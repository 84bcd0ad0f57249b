"""What a project tells the rest of the service when its live connections must hear of it.

`project_changed` is sent once the change is committed, with `public_id` and `change` (one of
the names below); `realtime` listens and tells the project's live sockets. Projects never
import the relay: this signal is the seam.
"""

from django.dispatch import Signal

KEY_ROTATED = "key_rotated"  # admins of the old key are closed with 4003
GONE = "gone"  # disabled or deleted: everyone is closed with 4004
SETTINGS = "settings"  # settings changed: connections read them again

project_changed = Signal()
